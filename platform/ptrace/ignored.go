package ptrace

// An ignored signal never interrupts a call, natively: the kernel drops a
// signal whose disposition is SIG_IGN (or SIG_DFL with a default action of
// "ignore": SIGCHLD, SIGURG, SIGWINCH, SIGCONT) when it is sent, unless it
// is blocked. A traced process is the exception (kernel/signal.c
// sig_ignored: "Tracers may want to know about even ignored signal"): the
// signal is queued, wakes the thread, and is dropped only at its
// signal-delivery stop. A call the kernel restarts (ERESTART*) then goes
// on unseen, but the calls Linux never restarts return EINTR at once —
// epoll_wait woken by a child's SIGCHLD, or by a SIGUSR1 the guest
// ignores. For those the tracer re-issues the call at the delivery stop
// of an ignored signal, with what is left of its timeout, so the guest
// sees what a native run sees.

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// eintrTimeout is how a call that returns EINTR without restart takes its
// timeout.
type eintrTimeout int

const (
	timeoutNone     eintrTimeout = iota // no timeout: waits until woken
	timeoutMsArg                        // milliseconds in an argument (-1: forever)
	timeoutTimespec                     // a relative struct timespec pointer (NULL: forever)
)

// eintrCalls are the calls Linux never restarts after a signal (signal(7):
// "never restarted"), with the argument that holds their timeout.
var eintrCalls = map[uint64]struct {
	kind eintrTimeout
	arg  int // index of the timeout argument (0: rdi)
	mask int // index of a sigset argument the call makes the thread's mask, 0: none
}{
	unix.SYS_EPOLL_WAIT:      {timeoutMsArg, 3, 0},
	unix.SYS_EPOLL_PWAIT:     {timeoutMsArg, 3, 4},
	unix.SYS_EPOLL_PWAIT2:    {timeoutTimespec, 3, 4},
	unix.SYS_RT_SIGTIMEDWAIT: {timeoutTimespec, 2, 0},
	unix.SYS_SEMOP:           {timeoutNone, 0, 0},
	unix.SYS_SEMTIMEDOP:      {timeoutTimespec, 3, 0},
	unix.SYS_IO_GETEVENTS:    {timeoutTimespec, 4, 0},
}

// eintrCall is a call of eintrCalls that came back with EINTR, whose
// signal-delivery stop is still to come.
type eintrCall struct {
	nr       uint64
	exit     unix.PtraceRegs // at its exit stop: the EINTR the guest sees
	rip, rsp uint64          // where it stopped at its seccomp stop
	// reissued: the registers now re-issue the call (an ignored signal's
	// delivery stop came first); a handled signal's puts exit back.
	reissued bool
}

// argReg is a pointer to argument i of a call in regs.
func argReg(regs *unix.PtraceRegs, i int) *uint64 {
	return [...]*uint64{&regs.Rdi, &regs.Rsi, &regs.Rdx, &regs.R10, &regs.R8, &regs.R9}[i]
}

// noteEINTR is the exit stop of th's call nr with -EINTR in regs (the
// registers the guest resumes with).
func (th *tracedThread) noteEINTR(regs *unix.PtraceRegs, bypassRip, bypassRsp uint64) {
	if _, ok := eintrCalls[th.nr]; !ok {
		return
	}
	rip, rsp := regs.Rip, regs.Rsp
	if bypassRip != 0 {
		rip, rsp = bypassRip, bypassRsp
	}
	th.eintr = &eintrCall{nr: th.nr, exit: *regs, rip: rip, rsp: rsp}
}

// eintrSignal is the delivery stop of sig for th, whose last call returned
// EINTR: an ignored signal re-issues the call (and is dropped: deliver
// false), any other puts the EINTR back, for the handler or the default
// action to see.
func (r *tracer) eintrSignal(th *tracedThread, sig unix.Signal) (deliver bool, err error) {
	ec := th.eintr
	if !droppedAtSend(th.tid, sig) {
		th.eintr = nil
		if th.maskHeld {
			// The handler's frame saves the thread's own mask, for its
			// rt_sigreturn to put back, as it saves the mask Linux would
			// restore after the call (its handler runs with the thread's
			// mask, not the call's: the one difference left).
			th.maskHeld = false
			if err := setSigmask(th.tid, th.outerMask); err != nil {
				return true, ignoreGone(err)
			}
		}
		if ec.reissued {
			// The EINTR is the guest's after all: an error again.
			if cb := r.shards[th.tid]; cb != nil {
				cb.Errors[ec.nr]++
			}
			regs := ec.exit
			return true, ignoreGone(unix.PtraceSetRegs(th.tid, &regs))
		}
		return true, nil
	}
	if ec.reissued {
		return false, nil // a second ignored one: already re-issued
	}
	regs := ec.exit
	regs.Rip, regs.Rsp = ec.rip-syscallInsnLen, ec.rsp
	regs.Rax = ec.nr
	spec := eintrCalls[ec.nr]
	left := time.Until(th.callDeadline)
	if left < 0 {
		left = 0
	}
	switch {
	case spec.kind == timeoutMsArg && int32(*argReg(&regs, spec.arg)) >= 0:
		ms := (left + time.Millisecond - 1) / time.Millisecond
		*argReg(&regs, spec.arg) = uint64(ms)
	case spec.kind == timeoutTimespec && *argReg(&regs, spec.arg) != 0:
		// The call reads a timespec of its own, below the red zone: the
		// guest's may be const, and nothing of the guest's lives there.
		addr := (min(regs.Rsp, ec.exit.Rsp) - 128 - 16) &^ 15
		var ts [16]byte
		binary.LittleEndian.PutUint64(ts[0:], uint64(left/time.Second))
		binary.LittleEndian.PutUint64(ts[8:], uint64(left%time.Second))
		if err := writeMem(th.tid, addr, ts[:]); err != nil {
			return true, nil // leave the EINTR as the kernel made it
		}
		*argReg(&regs, spec.arg) = addr
	}
	if spec.mask != 0 && *argReg(&regs, spec.mask) != 0 && th.outerKnown {
		// Past this stop the kernel would put the thread's own mask back
		// before the call is issued again, and deliver at once a signal
		// the call's mask blocks, which natively waits for the call's
		// end. So the call's mask stays (PTRACE_SETSIGMASK also cancels
		// the restore), and the thread's own comes back at the re-issued
		// call's exit (maskAtExit).
		var set [8]byte
		if readMem(th.tid, *argReg(&regs, spec.mask), set[:]) != nil {
			return true, nil
		}
		if err := setSigmask(th.tid, binary.LittleEndian.Uint64(set[:])); err != nil {
			return true, ignoreGone(err)
		}
		th.maskHeld = true
	}
	if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
		return true, ignoreGone(err)
	}
	ec.reissued = true
	// The same call again: not counted again, and its EINTR was no error.
	th.restart = restartPoint{rip: ec.rip, rsp: ec.rsp, nr: ec.nr}
	th.reissue = true
	if cb := r.shards[th.tid]; cb != nil && cb.Errors[ec.nr] > 0 {
		cb.Errors[ec.nr]--
	}
	return false, nil
}

// defaultIgnored are the signals whose default action is to ignore them
// (sig_kernel_ignore): SIGCONT, SIGCHLD, SIGWINCH, SIGURG.
const defaultIgnored = 1<<(unix.SIGCONT-1) | 1<<(unix.SIGCHLD-1) | 1<<(unix.SIGWINCH-1) | 1<<(unix.SIGURG-1)

// droppedAtSend says whether Linux would have dropped sig at once for an
// untraced process: its disposition, read from the kernel (SigIgn, SigCgt
// of /proc/TID/status), is SIG_IGN, or SIG_DFL for a signal ignored by
// default. (It was not blocked, or it would not be delivered now.)
func droppedAtSend(tid int, sig unix.Signal) bool {
	if sig < 1 || sig > 64 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return false
	}
	var ign, cgt uint64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "SigIgn":
			ign, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		case "SigCgt":
			cgt, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	bit := uint64(1) << (sig - 1)
	return ign&bit != 0 || (cgt&bit == 0 && defaultIgnored&bit != 0)
}

// callDeadline is when the timeout of call nr (one of eintrCalls), issued
// now with regs, ends; far in the future for none.
func callDeadline(tid int, nr uint64, regs *unix.PtraceRegs) time.Time {
	now := time.Now()
	forever := now.Add(100 * 365 * 24 * time.Hour)
	spec := eintrCalls[nr]
	v := *argReg(regs, spec.arg)
	switch spec.kind {
	case timeoutMsArg:
		if ms := int32(v); ms >= 0 {
			return now.Add(time.Duration(ms) * time.Millisecond)
		}
	case timeoutTimespec:
		var ts [16]byte
		if v != 0 && readMem(tid, v, ts[:]) == nil {
			sec, nsec := int64(binary.LittleEndian.Uint64(ts[0:])), int64(binary.LittleEndian.Uint64(ts[8:]))
			if sec >= 0 && sec < 1<<32 {
				return now.Add(time.Duration(sec)*time.Second + time.Duration(nsec))
			}
		}
	}
	return forever
}

// noteCallMask is the seccomp stop of a first issue of call nr: for a call
// of eintrCalls that takes a mask, the thread's own mask now, which the
// kernel restores after it (and the tracer, should it re-issue it).
func (th *tracedThread) noteCallMask(nr uint64, regs *unix.PtraceRegs) {
	th.outerKnown = false
	spec, ok := eintrCalls[nr]
	if !ok || spec.mask == 0 || *argReg(regs, spec.mask) == 0 {
		return
	}
	m, err := getSigmask(th.tid)
	th.outerMask, th.outerKnown = m, err == nil
}

// maskAtExit is the exit stop of a call re-issued under the call's mask:
// it returned (the kernel put the call's mask back), so the thread's own
// mask is set again; after another EINTR the delivery stop decides.
func (th *tracedThread) maskAtExit(rax uint64) error {
	if !th.maskHeld || rax == negErrno(unix.EINTR) {
		return nil
	}
	th.maskHeld = false
	return ignoreGone(setSigmask(th.tid, th.outerMask))
}

// getSigmask and setSigmask are PTRACE_GETSIGMASK and PTRACE_SETSIGMASK.
func getSigmask(tid int) (uint64, error) {
	var m uint64
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGMASK, uintptr(tid), 8, uintptr(unsafe.Pointer(&m)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return m, nil
}

func setSigmask(tid int, m uint64) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETSIGMASK, uintptr(tid), 8, uintptr(unsafe.Pointer(&m)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
