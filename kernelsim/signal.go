package kernelsim

import (
	"golang.org/x/sys/unix"

	"vsysbed/tls"
)

// The guest's signal state is kept faithfully here; the host's real
// handlers and masks are never touched. Delivery to guest handlers comes
// with the signals issue: until then a signal the guest sends itself takes
// its default action.

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
	p.mu.Lock()
	old := p.sig.actions[sig]
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
		p.sig.actions[sig] = na
		p.mu.Unlock()
		switch na.handler {
		case sigDfl:
			tls.SetDisposition(sig, tls.DispositionDefault)
		case sigIgn:
			tls.SetDisposition(sig, tls.DispositionIgnore)
		default:
			tls.SetDisposition(sig, tls.DispositionHandler)
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
		t.sigmask = n &^ unblockable
	}
	return 0
}

func sysSigaltstack(t *Task, a *Args) int64 {
	ss, oss := a[0], a[1]
	if oss != 0 {
		var b [24]byte
		put64(b[0:], t.altstack.Sp)
		b[8] = byte(t.altstack.Flags)
		b[9] = byte(t.altstack.Flags >> 8)
		b[10] = byte(t.altstack.Flags >> 16)
		b[11] = byte(t.altstack.Flags >> 24)
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
		flags := int32(uint32(b[8]) | uint32(b[9])<<8 | uint32(b[10])<<16 | uint32(b[11])<<24)
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

func sysRtSigpending(t *Task, a *Args) int64 {
	if a[1] != 8 {
		return -int64(unix.EINVAL)
	}
	if err := writeU64(a[0], 0); err != nil {
		return errnoOf(err)
	}
	return 0
}

// defaultIgnored: signals whose default action is to do nothing.
func defaultIgnored(sig int) bool {
	switch unix.Signal(sig) {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH, unix.SIGCONT:
		return true
	}
	return false
}

// selfSignal applies a signal the guest sent to itself.
func (t *Task) selfSignal(sig int) int64 {
	if sig == 0 {
		return 0
	}
	if sig < 1 || sig > nsig {
		return -int64(unix.EINVAL)
	}
	t.P.mu.Lock()
	act := t.P.sig.actions[sig]
	t.P.mu.Unlock()
	if act.handler == sigIgn || (act.handler == sigDfl && defaultIgnored(sig)) {
		return 0
	}
	if act.handler != sigDfl {
		return t.notSupported("delivering " + unix.SignalName(unix.Signal(sig)) + " to a guest handler")
	}
	if t.sigmask&(1<<(sig-1)) != 0 {
		return t.notSupported("a blocked signal pending for the guest")
	}
	// Default action: the guest dies by the signal.
	cb := t.CB
	cb.Exit.Signal = int32(sig)
	cb.Exit.Done = 1
	if t.P.Events != nil {
		t.P.Events.Exit(0, unix.Signal(sig))
	}
	tls.DieBySignal(sig)
	return 0
}

func sysKill(t *Task, a *Args) int64 {
	target := int(int32(a[0]))
	if target == pid || target == 0 {
		return t.selfSignal(int(a[1]))
	}
	return passthrough(unix.SYS_KILL, a)
}

func sysTgkill(t *Task, a *Args) int64 {
	if int(int32(a[0])) == pid && int(int32(a[1])) == int(t.CB.Tid) {
		return t.selfSignal(int(a[2]))
	}
	return passthrough(unix.SYS_TGKILL, a)
}

func sysTkill(t *Task, a *Args) int64 {
	if int(int32(a[0])) == int(t.CB.Tid) {
		return t.selfSignal(int(a[1]))
	}
	return passthrough(unix.SYS_TKILL, a)
}
