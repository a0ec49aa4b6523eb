package kernelsim

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The guest's signal state lives here; the host's real handlers and masks
// are never touched (ARCHITECTURE.md, "Signals"). Signals reach the guest from the guest
// itself (kill, tgkill, raise...), from the host (signals to the vsysbed
// process, timers, SIGPIPE: see deliver.go) and from faults in guest code;
// they are queued per process or per thread and delivered on the way back
// to the guest by building a real x86-64 rt_sigframe (frame.go).

const nsig = 64

// altstack is stack_t.
type altstack struct {
	Sp    uint64
	Flags int32
	Size  uint64
}

const (
	ssDisable   = 2
	minSigStkSz = 2048
)

// sigaction is struct kernel_sigaction as rt_sigaction passes it.
type sigaction struct {
	handler, flags, restorer, mask uint64
}

type signalState struct {
	actions [nsig + 1]sigaction
	pending pendingSet // process-directed
}

const (
	sigDfl = 0
	sigIgn = 1
)

const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

func sysRtSigaction(t *Task, a *Args) int64 {
	sig, act, oact, size := int(a[0]), a[1], a[2], a[3]
	if size != 8 {
		return -int64(unix.EINVAL)
	}
	if sig < 1 || sig > nsig {
		return -int64(unix.EINVAL)
	}
	p := t.P
	actions := t.actions
	p.mu.Lock()
	old := actions[sig]
	p.mu.Unlock()
	var buf [32]byte
	if act != 0 {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			return -int64(unix.EINVAL)
		}
		if err := readGuest(act, buf[:]); err != nil {
			return errnoOf(err)
		}
	}
	if oact != 0 {
		var ob [32]byte
		put64(ob[0:], old.handler)
		put64(ob[8:], old.flags)
		put64(ob[16:], old.restorer)
		put64(ob[24:], old.mask)
		if err := writeGuest(oact, ob[:]); err != nil {
			return errnoOf(err)
		}
	}
	if act != 0 {
		p.mu.Lock()
		na := sigaction{le64(buf[0:]), le64(buf[8:]), le64(buf[16:]), le64(buf[24:]) &^ unblockable}
		actions[sig] = na
		// The host's own handlers follow its process's dispositions,
		// not a vfork child's (its copy, on a thread of its parent's).
		hosts := actions == &p.sig.actions
		if hosts && sig == int(unix.SIGCHLD) {
			p.syncChildReaping()
		}
		p.mu.Unlock()
		if !hosts {
			return 0
		}
		switch na.handler {
		case sigDfl:
			entry.SetDisposition(sig, cblock.DispositionDefault)
		case sigIgn:
			entry.SetDisposition(sig, cblock.DispositionIgnore)
		default:
			entry.SetDisposition(sig, cblock.DispositionHandler)
		}
	}
	return 0
}

func sysRtSigprocmask(t *Task, a *Args) int64 {
	how, set, oset, size := a[0], a[1], a[2], a[3]
	if size != 8 {
		return -int64(unix.EINVAL)
	}
	old := t.sigmask
	var n uint64
	if set != 0 {
		v, err := readU64(set)
		if err != nil {
			return errnoOf(err)
		}
		switch how {
		case unix.SIG_BLOCK:
			n = old | v
		case unix.SIG_UNBLOCK:
			n = old &^ v
		case unix.SIG_SETMASK:
			n = v
		default:
			return -int64(unix.EINVAL)
		}
	}
	if oset != 0 {
		if err := writeU64(oset, old); err != nil {
			return errnoOf(err)
		}
	}
	if set != 0 {
		t.setMask(n)
	}
	return 0
}

// InheritSignals starts a process the way execve leaves it: the signals
// in ignored (bit sig-1) stay ignored — exec resets only caught ones —
// and t, its first thread, keeps the mask it had. The first guest of a
// run gets the state vsysbed's caller gave vsysbed (tls.StartSignals in
// the supervisor); a vfork child's execve gets its own.
func (p *Process) InheritSignals(t *Task, ignored, mask uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for sig := 1; sig <= nsig; sig++ {
		if ignored&bit(sig) == 0 || bit(sig)&unblockable != 0 {
			continue // SIGKILL and SIGSTOP cannot be ignored
		}
		p.sig.actions[sig] = sigaction{handler: sigIgn}
		entry.SetDisposition(sig, cblock.DispositionIgnore)
	}
	t.sigmask = mask &^ unblockable
	p.syncChildReaping()
}

// syncChildReaping gives the host's SIGCHLD the SA_NOCLDWAIT that the
// guest's SIGCHLD action means (Entry.SetChildAutoReap). p.mu is held.
func (p *Process) syncChildReaping() {
	a := p.sig.actions[unix.SIGCHLD]
	on := a.handler == sigIgn || (a.handler != sigDfl && a.flags&saNocldwait != 0)
	if on == p.childAutoReap {
		return
	}
	if err := entry.SetChildAutoReap(on); err == nil {
		p.childAutoReap = on
	}
}

// setMask changes the thread's mask; signals it unblocks are delivered on
// the way back to the guest.
func (t *Task) setMask(m uint64) {
	p := t.P
	p.mu.Lock()
	t.sigmask = m &^ unblockable
	if t.timerHeld&^t.sigmask != 0 {
		t.absorbHostSignals() // takes and lets through the held timer signals it unblocks
	}
	if (t.pending.mask|p.sig.pending.mask)&^t.sigmask != 0 {
		atomic.StoreUint32(&t.CB.SigPending, 1)
	}
	p.mu.Unlock()
}

// guestSP is the guest's stack pointer at the current call.
func (t *Task) guestSP() uint64 {
	if t.CB.Kind == cblock.KindBypass {
		return t.CB.GuestSP + 8 // as the caller saw it, before the call
	}
	return t.CB.Trap.Rsp
}

func sysSigaltstack(t *Task, a *Args) int64 {
	ss, oss := a[0], a[1]
	sp := t.guestSP()
	if oss != 0 {
		var b [24]byte
		put64(b[0:], t.altstack.Sp)
		put32(b[8:], uint32(t.ssFlags(sp)))
		put64(b[16:], t.altstack.Size)
		if err := writeGuest(oss, b[:]); err != nil {
			return errnoOf(err)
		}
	}
	if ss != 0 {
		var b [24]byte
		if err := readGuest(ss, b[:]); err != nil {
			return errnoOf(err)
		}
		if t.onAltstack(sp) {
			return -int64(unix.EPERM) // Linux refuses to change the stack in use
		}
		flags := int32(le32(b[8:]))
		size := le64(b[16:])
		switch {
		case uint32(flags)&^(ssDisable|1<<31) != 0:
			return -int64(unix.EINVAL)
		case flags&ssDisable != 0:
			t.altstack = altstack{Flags: ssDisable}
		default:
			if size < minSigStkSz {
				return -int64(unix.ENOMEM)
			}
			t.altstack = altstack{Sp: le64(b[0:]), Flags: flags, Size: size}
		}
	}
	return 0
}

// sysRtSigpending writes the first sigsetsize bytes of the set, as Linux
// does for any size up to a sigset_t's.
func sysRtSigpending(t *Task, a *Args) int64 {
	if a[1] > 8 {
		return -int64(unix.EINVAL)
	}
	t.P.mu.Lock()
	// A vfork child is a process of its own: the parent's queue is not
	// its (its own starts empty).
	set := (t.pending.mask | t.shared.mask) & t.sigmask
	t.P.mu.Unlock()
	var b [8]byte
	put64(b[:], set)
	if err := writeGuest(a[0], b[:a[1]]); err != nil {
		return errnoOf(err)
	}
	return 0
}

func sysKill(t *Task, a *Args) int64 {
	target, sig := int(int32(a[0])), int(a[1])
	if target != pid && target > 0 {
		return passthrough(unix.SYS_KILL, a)
	}
	if sig < 0 || sig > nsig {
		return -int64(unix.EINVAL)
	}
	if target != pid {
		return t.killMany(target, sig)
	}
	if sig != 0 {
		t.P.send(t, nil, sig, userInfo(sig, siUser))
	}
	return 0
}

// threadSignal sends sig to the guest thread tid, or passes the call
// through when tid is not one of ours.
func (t *Task) threadSignal(tid, sig int, nr int, a *Args) int64 {
	target := t.P.taskByTid(tid)
	if target == nil {
		return passthrough(nr, a)
	}
	if sig < 0 || sig > nsig {
		return -int64(unix.EINVAL)
	}
	if sig != 0 {
		t.P.send(t, target, sig, userInfo(sig, siTkill))
	}
	return 0
}

func sysTgkill(t *Task, a *Args) int64 {
	if int(int32(a[0])) != pid {
		return passthrough(unix.SYS_TGKILL, a)
	}
	return t.threadSignal(int(int32(a[1])), int(a[2]), unix.SYS_TGKILL, a)
}

func sysTkill(t *Task, a *Args) int64 {
	return t.threadSignal(int(int32(a[0])), int(a[1]), unix.SYS_TKILL, a)
}

// sysRtSigqueueinfo: the caller's siginfo, with the codes Linux lets a
// process forge (negative ones, other than SI_TKILL) — any code when it
// signals itself, which for a process is from its main thread (Linux
// compares the target with the caller's tid).
func sysRtSigqueueinfo(t *Task, a *Args) int64 {
	if int(int32(a[0])) != pid {
		return passthrough(unix.SYS_RT_SIGQUEUEINFO, a)
	}
	sig := int(int32(a[1]))
	si, errno := userSiginfo(sig, a[2], int(t.CB.Tid) == pid)
	switch {
	case errno != 0:
		return -int64(errno)
	case sig < 0 || sig > nsig:
		return -int64(unix.EINVAL)
	case sig != 0:
		t.P.send(t, nil, sig, si)
	}
	return 0
}

// sysRtTgsigqueueinfo checks in do_rt_tgsigqueueinfo's order: the copy,
// the tid, the code, the thread, the signal.
func sysRtTgsigqueueinfo(t *Task, a *Args) int64 {
	if int(int32(a[0])) != pid {
		return passthrough(unix.SYS_RT_TGSIGQUEUEINFO, a)
	}
	tid, sig := int(int32(a[1])), int(int32(a[2]))
	if tid <= 0 {
		if err := readGuest(a[3], make([]byte, len(siginfo{}))); err != nil {
			return -int64(unix.EFAULT)
		}
		return -int64(unix.EINVAL)
	}
	si, errno := userSiginfo(sig, a[3], tid == int(t.CB.Tid))
	if errno != 0 {
		return -int64(errno)
	}
	target := t.P.taskByTid(tid)
	switch {
	case target == nil:
		return -int64(unix.ESRCH)
	case sig < 0 || sig > nsig:
		return -int64(unix.EINVAL)
	case sig != 0:
		t.P.send(t, target, sig, si)
	}
	return 0
}

// userSiginfo reads the caller's siginfo (EFAULT) and refuses a code only
// the kernel, kill or tgkill may use (>= 0, or SI_TKILL) unless the caller
// signals itself (EPERM); the signal number is the caller's to check.
func userSiginfo(sig int, addr uint64, self bool) (siginfo, unix.Errno) {
	var si siginfo
	if err := readGuest(addr, si[:]); err != nil {
		return si, unix.EFAULT
	}
	if code := int32(le32(si[8:])); (code >= 0 || code == siTkill) && !self {
		return si, unix.EPERM
	}
	put32(si[0:], uint32(sig))
	return si, 0
}
