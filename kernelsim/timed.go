package kernelsim

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Timed calls: a host signal that interrupts one on a guest thread for
// nothing the guest sees (a signal it ignores or blocks, a relayed one
// another thread takes, the kick) must not end it early, and Linux never
// restarts these after a handler runs (ERESTARTNOHAND, RESTARTBLOCK): so
// kernelsim restarts them itself with what is left of their timeout,
// counted from when the call began (tls's CallStart, noted by the fast
// route in C and by dispatch for the kernel route).
var timedCalls = []int{
	unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_POLL, unix.SYS_PPOLL,
	unix.SYS_SELECT, unix.SYS_PSELECT6, unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT,
	unix.SYS_EPOLL_PWAIT2, unix.SYS_SEMTIMEDOP, unix.SYS_IO_GETEVENTS,
}

var isTimed = func() map[int]bool {
	m := map[int]bool{}
	for _, nr := range timedCalls {
		m[nr] = true
	}
	return m
}()

func applyTimed() {
	for _, nr := range timedCalls {
		entry.SetTimed(nr)
	}
}

// monoNow is CLOCK_MONOTONIC in ns, the clock of CallStart.
func monoNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

const timerAbstime = 1 // TIMER_ABSTIME

// noteCallStart notes, for timed call nr on the kernel route, what the C
// entry's note_start notes on the fast route: when it began and, for a
// relative sleep, its request.
func noteCallStart(cb *cblock.ControlBlock, nr int, a *Args) {
	cb.CallStart = monoNow()
	cb.CallReqOK = 0
	var req uint64
	switch {
	case nr == unix.SYS_NANOSLEEP:
		req = a[0]
	case nr == unix.SYS_CLOCK_NANOSLEEP && a[1]&timerAbstime == 0:
		req = a[2]
	}
	if req == 0 {
		return
	}
	if ts, err := readTimespec(req); err == nil {
		cb.CallReq = [2]int64{ts.Sec, ts.Nsec}
		cb.CallReqOK = 1
	}
}

// callReq is the request noted at the start of the call cb is in, or nil.
func callReq(cb *cblock.ControlBlock) *unix.Timespec {
	if cb.CallReqOK == 0 {
		return nil
	}
	return &unix.Timespec{Sec: cb.CallReq[0], Nsec: cb.CallReq[1]}
}

// restartTimed re-issues timed call nr, begun at start (CLOCK_MONOTONIC
// ns); req is a relative sleep's request as it was then (nil: not read);
// timed=false: nr is not a timed call.
func (t *Task) restartTimed(nr int, a *Args, start uint64, req *unix.Timespec) (ret int64, timed bool) {
	if !isTimed[nr] {
		return 0, false
	}
	elapsed := time.Duration(0)
	if now := monoNow(); start != 0 && now > start {
		elapsed = time.Duration(now - start)
	}
	b := *a
	switch nr {
	case unix.SYS_SELECT, unix.SYS_PSELECT6, unix.SYS_PPOLL:
		// The kernel wrote what is left back into the timeout itself.
		return passthrough(nr, &b), true
	case unix.SYS_NANOSLEEP:
		return t.sleepRest(nr, &b, 0, req, elapsed), true
	case unix.SYS_CLOCK_NANOSLEEP:
		if b[1]&timerAbstime != 0 {
			return passthrough(nr, &b), true
		}
		return t.sleepRest(nr, &b, 2, req, elapsed), true
	case unix.SYS_POLL:
		b[2] = msLeft(b[2], elapsed)
		return passthrough(nr, &b), true
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT:
		b[3] = msLeft(b[3], elapsed)
		return passthrough(nr, &b), true
	case unix.SYS_EPOLL_PWAIT2, unix.SYS_SEMTIMEDOP:
		return relativeRest(nr, &b, 3, elapsed), true
	case unix.SYS_IO_GETEVENTS:
		return relativeRest(nr, &b, 4, elapsed), true
	}
	return 0, false
}

// relativeRest re-issues call nr whose argument i is a relative timeout
// the kernel leaves as it was (a struct timespec, NULL: none), with what is
// left of it.
func relativeRest(nr int, b *Args, i int, elapsed time.Duration) int64 {
	if b[i] == 0 {
		return passthrough(nr, b)
	}
	req, err := readTimespec(b[i])
	if err != nil {
		return errnoOf(err)
	}
	var pin runtime.Pinner // the call has the address only: on the heap, put
	defer pin.Unpin()
	left := new(unix.Timespec)
	pin.Pin(left)
	*left = timespecLeft(req, elapsed)
	b[i] = uint64(uintptr(unsafe.Pointer(left)))
	return passthrough(nr, b)
}

// msLeft is a poll or epoll_wait timeout (int ms; negative: none) less
// elapsed, rounded up, never below 0.
func msLeft(timeout uint64, elapsed time.Duration) uint64 {
	ms := int64(int32(timeout))
	if ms < 0 {
		return timeout
	}
	left := ms - int64(elapsed/time.Millisecond)
	if left < 0 {
		left = 0
	}
	return uint64(left)
}

func timespecLeft(req unix.Timespec, elapsed time.Duration) unix.Timespec {
	d := time.Duration(req.Sec)*time.Second + time.Duration(req.Nsec) - elapsed
	if d < 0 {
		d = 0
	}
	return unix.NsecToTimespec(int64(d))
}

func readTimespec(addr uint64) (unix.Timespec, error) {
	var b [16]byte
	if err := readGuest(addr, b[:]); err != nil {
		return unix.Timespec{}, err
	}
	return unix.Timespec{Sec: int64(le64(b[0:])), Nsec: int64(le64(b[8:]))}, nil
}

// sleepRest sleeps what is left of the request at argument reqArg: the
// request as it was when the call began (req) less the time elapsed since.
// Not the rem the kernel wrote (the next argument): it wrote it when the
// call was first interrupted, which a stop also does (SIGSTOP interrupts
// the sleep, and Linux restarts it after the SIGCONT from its absolute end,
// so a stop never lengthens it), and glibc's and musl's sleep() pass one
// timespec as both request and rem. Without req, the request argument
// less elapsed when rem is another timespec, else the rem. A signal that
// ends the rest writes rem.
func (t *Task) sleepRest(nr int, b *Args, reqArg int, req *unix.Timespec, elapsed time.Duration) int64 {
	var rest unix.Timespec
	switch rem := b[reqArg+1]; {
	case req != nil:
		rest = timespecLeft(*req, elapsed)
	case rem != 0 && rem == b[reqArg]:
		r, err := readTimespec(rem)
		if err != nil {
			return errnoOf(err)
		}
		rest = r
	default:
		r, err := readTimespec(b[reqArg])
		if err != nil {
			return errnoOf(err)
		}
		rest = timespecLeft(r, elapsed)
	}
	if rest.Sec == 0 && rest.Nsec == 0 {
		return 0
	}
	var pin runtime.Pinner // the call has the address only: on the heap, put
	defer pin.Unpin()
	left := new(unix.Timespec)
	pin.Pin(left)
	*left = rest
	b[reqArg] = uint64(uintptr(unsafe.Pointer(left)))
	return passthrough(nr, b)
}
