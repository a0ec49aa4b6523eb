package kernelsim

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Calls with a temporary signal mask: pselect6, ppoll, epoll_pwait and
// epoll_pwait2 make their mask argument the thread's mask for the call's
// duration, atomically — a signal the temporary mask lets through
// interrupts the call even if it became pending just before (make's
// jobserver waits for SIGCHLD this way). The guest's signals are
// kernelsim's, so the host call alone cannot see them: kernelsim blocks the
// relayed host signals on the thread, looks at the guest's pending set
// under the temporary mask, and only then issues the call with a host mask
// that lets through what the guest's temporary mask lets through (a host
// signal that arrived in between interrupts it at once). When a signal is
// delivered, the handler's frame keeps the original mask, as for
// rt_sigsuspend.

// pwaitMaskArg: the argument holding the mask pointer, and its size's.
var pwaitMaskArg = map[int][2]int{
	unix.SYS_PPOLL:        {3, 4},
	unix.SYS_EPOLL_PWAIT:  {4, 5},
	unix.SYS_EPOLL_PWAIT2: {4, 5},
}

// hostKept are the host's signals no guest mask may block on a guest
// thread: the trap, the faults, the kick and Go's own.
var hostKept = bit(int(unix.SIGSYS)) | bit(int(unix.SIGSEGV)) | bit(int(unix.SIGBUS)) |
	bit(int(unix.SIGFPE)) | bit(int(unix.SIGILL)) | bit(int(unix.SIGTRAP)) | bit(int(unix.SIGPIPE)) |
	bit(cblock.KickSignal) | bit(int(unix.SIGURG)) | bit(int(unix.SIGPROF))

// glibc's SIGSETXID (33) is the host libc's: always blocked in guest code.
const hostSetxid = 1 << (33 - 1)

func sysPwait(t *Task, a *Args) int64 {
	nr := int(t.CB.Nr)
	switch nr {
	case unix.SYS_PPOLL:
		if r, ok := pollHostFDs(a); ok {
			return r // it does not wait: no temporary mask
		}
	case unix.SYS_PSELECT6:
		if e := clearHostFDBits(a); e != 0 {
			return e
		}
	}
	temp, ok, errno := pwaitMask(nr, a)
	if errno != 0 {
		return errno
	}
	if !ok {
		return passthrough(nr, a)
	}
	temp &^= unblockable
	start := time.Now()
	for {
		ret, interrupted := t.pwaitOnce(nr, a, temp, start)
		if !interrupted {
			return ret
		}
		if t.deliverableUnder(temp) {
			// The handler runs with the temporary mask; its frame keeps
			// the original one (frame.go), which rt_sigreturn restores.
			t.savedMask, t.hasSavedMask = t.sigmask, true
			t.sigmask = temp
			return -int64(unix.EINTR)
		}
		// Interrupted for nothing the guest sees: on with what is left.
	}
}

// pwaitMask reads the temporary mask of call nr; ok=false: none given.
func pwaitMask(nr int, a *Args) (mask uint64, ok bool, errno int64) {
	var ptr, size uint64
	if nr == unix.SYS_PSELECT6 {
		if a[5] == 0 {
			return 0, false, 0
		}
		var b [16]byte // struct { const sigset_t *ss; size_t ss_len; }
		if err := readGuest(a[5], b[:]); err != nil {
			return 0, false, errnoOf(err)
		}
		ptr, size = le64(b[0:]), le64(b[8:])
	} else {
		arg := pwaitMaskArg[nr]
		ptr, size = a[arg[0]], a[arg[1]]
	}
	if ptr == 0 {
		return 0, false, 0
	}
	if size != 8 {
		return 0, false, -int64(unix.EINVAL)
	}
	m, err := readU64(ptr)
	if err != nil {
		return 0, false, errnoOf(err)
	}
	return m, true, 0
}

// deliverableUnder: a signal pending for t would be delivered (run a
// handler, or end or stop the process: not just be discarded) with mask as
// its mask.
func (t *Task) deliverableUnder(mask uint64) bool {
	p := t.P
	p.mu.Lock()
	defer p.mu.Unlock()
	t.absorbHostSignals()
	ready := (t.pending.mask | p.sig.pending.mask) &^ mask
	for sig := 1; ready != 0 && sig <= nsig; sig++ {
		if ready&bit(sig) != 0 {
			ready &^= bit(sig)
			if !p.ignored(sig) {
				return true
			}
		}
	}
	return false
}

// pwaitOnce issues the call once under the guest's temporary mask;
// interrupted: it ended with EINTR, or did not start because a signal was
// already deliverable.
func (t *Task) pwaitOnce(nr int, a *Args, temp uint64, start time.Time) (int64, bool) {
	runtime.LockOSThread() // the host mask is this thread's
	defer runtime.UnlockOSThread()
	old, e := t.P.plat.ThreadMask(unix.SIG_BLOCK, ^uint64(0)&^hostKept)
	if e != 0 {
		return -int64(e), false
	}
	// Back as it was, but for the real-time signals: one the relay holds
	// back until it is taken may have been taken meanwhile (an unblocked
	// one with its record still there only goes back into the queue).
	defer t.P.plat.ThreadMask(unix.SIG_SETMASK, old&^rtSignals)
	// For the call's duration the temporary mask is the thread's: a
	// process-directed signal a Go thread took is queued for this thread
	// and kicks it.
	t.P.mu.Lock()
	orig := t.sigmask
	t.sigmask = temp
	t.P.mu.Unlock()
	defer func() {
		p := t.P
		p.mu.Lock()
		t.sigmask = orig
		// What the temporary mask held back (a process-directed signal
		// no thread could take) is this thread's to deliver now.
		if (t.pending.mask|p.sig.pending.mask)&^orig != 0 {
			atomic.StoreUint32(&t.CB.SigPending, 1)
		}
		p.mu.Unlock()
	}()
	if t.deliverableUnder(temp) {
		return -int64(unix.EINTR), true
	}
	// The call has the addresses only: pinned, so that they are on the
	// heap and stay put (an unpinned new() here does not escape, and a
	// stack that grows before the call would move it).
	var pin runtime.Pinner
	defer pin.Unpin()
	host := new(uint64)
	pin.Pin(host)
	*host = temp&^hostKept | hostSetxid
	b := *a
	elapsed := time.Since(start)
	switch nr {
	case unix.SYS_PSELECT6:
		arg := new([2]uint64)
		pin.Pin(arg)
		arg[0], arg[1] = uint64(uintptr(unsafe.Pointer(host))), 8
		b[5] = uint64(uintptr(unsafe.Pointer(arg)))
	case unix.SYS_EPOLL_PWAIT:
		b[3] = msLeft(b[3], elapsed)
		b[4] = uint64(uintptr(unsafe.Pointer(host)))
	case unix.SYS_EPOLL_PWAIT2:
		if b[3] != 0 {
			req, err := readTimespec(b[3])
			if err != nil {
				return errnoOf(err), false
			}
			left := new(unix.Timespec)
			pin.Pin(left)
			*left = timespecLeft(req, elapsed)
			b[3] = uint64(uintptr(unsafe.Pointer(left)))
		}
		b[4] = uint64(uintptr(unsafe.Pointer(host)))
	default: // ppoll: the kernel writes what is left into its timeout
		b[3] = uint64(uintptr(unsafe.Pointer(host)))
	}
	r := passthrough(nr, &b)
	return r, r == -int64(unix.EINTR)
}

func isPwait(nr int) bool {
	_, ok := pwaitMaskArg[nr]
	return ok || nr == unix.SYS_PSELECT6
}
