package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

func valued(sig int, v uint32) siginfo {
	si := userInfo(sig, -1) // SI_QUEUE
	put32(si[24:], v)       // si_value
	return si
}

func TestPendingSetCoalescesStandardAndQueuesRealtime(t *testing.T) {
	var ps pendingSet
	ps.add(int(unix.SIGUSR1), valued(int(unix.SIGUSR1), 1))
	ps.add(int(unix.SIGUSR1), valued(int(unix.SIGUSR1), 2))
	rt := 34
	for v := uint32(1); v <= 3; v++ {
		ps.add(rt, valued(rt, v))
	}
	if ps.mask != bit(int(unix.SIGUSR1))|bit(rt) {
		t.Fatalf("mask %#x", ps.mask)
	}
	if si := ps.take(int(unix.SIGUSR1)); le32(si[24:]) != 1 || ps.mask&bit(int(unix.SIGUSR1)) != 0 {
		t.Errorf("SIGUSR1: value %d (want the first, 1), still pending %v", le32(si[24:]), ps.mask&bit(int(unix.SIGUSR1)) != 0)
	}
	for v := uint32(1); v <= 3; v++ {
		if si := ps.take(rt); le32(si[24:]) != v {
			t.Errorf("real-time signal %d: value %d, want %d (in the order sent)", v, le32(si[24:]), v)
		}
	}
	if ps.mask != 0 {
		t.Errorf("left pending: %#x", ps.mask)
	}
	ps.add(rt, valued(rt, 9))
	ps.add(rt, valued(rt, 9))
	ps.drop(rt)
	if ps.mask != 0 || len(ps.infos[rt]) != 0 {
		t.Error("drop left a real-time signal queued")
	}
}

func TestLowestTakesSynchronousSignalsFirst(t *testing.T) {
	for _, c := range []struct {
		mask uint64
		want int
	}{
		{0, 0},
		{bit(int(unix.SIGUSR1)) | bit(int(unix.SIGTERM)), int(unix.SIGUSR1)},
		{bit(int(unix.SIGHUP)) | bit(int(unix.SIGSEGV)), int(unix.SIGSEGV)},
		{bit(int(unix.SIGINT)) | bit(int(unix.SIGSYS)), int(unix.SIGSYS)},
		{bit(64) | bit(34), 34},
	} {
		if got := lowest(c.mask); got != c.want {
			t.Errorf("lowest(%#x) = %d, want %d", c.mask, got, c.want)
		}
	}
}

func TestDispositionsDecideWhatIsDiscarded(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	p := task.P
	for sig, want := range map[unix.Signal]bool{
		unix.SIGCHLD: true, unix.SIGURG: true, unix.SIGWINCH: true, unix.SIGCONT: true,
		unix.SIGTERM: false, unix.SIGUSR1: false, unix.SIGTSTP: false,
	} {
		if got := p.discards(int(sig), task); got != want {
			t.Errorf("%v at its default action: discarded %v, want %v", sig, got, want)
		}
	}
	p.sig.actions[unix.SIGUSR1] = sigaction{handler: sigIgn}
	if !p.discards(int(unix.SIGUSR1), task) {
		t.Error("an ignored SIGUSR1 is kept")
	}
	// Blocked, it stays: the disposition may change before the unblock.
	task.sigmask = bit(int(unix.SIGUSR1))
	if p.discards(int(unix.SIGUSR1), task) {
		t.Error("an ignored but blocked SIGUSR1 is discarded")
	}
}

func TestJobControlSignalsCancelEachOther(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	p := task.P
	p.sig.pending.add(int(unix.SIGTSTP), userInfo(int(unix.SIGTSTP), siUser))
	task.pending.add(int(unix.SIGTTIN), userInfo(int(unix.SIGTTIN), siUser))
	p.flushOpposed(int(unix.SIGCONT))
	if p.sig.pending.mask != 0 || task.pending.mask != 0 {
		t.Errorf("a SIGCONT left stops pending: process %#x, thread %#x", p.sig.pending.mask, task.pending.mask)
	}
	p.sig.pending.add(int(unix.SIGCONT), userInfo(int(unix.SIGCONT), siUser))
	p.flushOpposed(int(unix.SIGTSTP))
	if p.sig.pending.mask != 0 {
		t.Errorf("a stop left SIGCONT pending: %#x", p.sig.pending.mask)
	}
}

func TestPickThreadPrefersTheMainThread(t *testing.T) {
	main, _ := fakeTask(t, nil, [2]uint64{})
	p := main.P
	main.CB.Tid = uint64(pid)
	a := p.NewTask(new(cblock.ControlBlock))
	a.CB.Tid = uint64(pid + 20)
	b := p.NewTask(new(cblock.ControlBlock))
	b.CB.Tid = uint64(pid + 10)
	usr1 := int(unix.SIGUSR1)
	if got := p.pickThread(usr1, a); got != main {
		t.Errorf("picked tid %d, want the main thread", got.CB.Tid)
	}
	main.sigmask = bit(usr1)
	if got := p.pickThread(usr1, a); got != a {
		t.Errorf("main blocks it: picked tid %d, want the sender", got.CB.Tid)
	}
	if got := p.pickThread(usr1, nil); got != b {
		t.Errorf("from outside: picked tid %d, want the lowest tid that takes it", got.CB.Tid)
	}
	a.sigmask, b.sigmask = bit(usr1), bit(usr1)
	if got := p.pickThread(usr1, nil); got != nil {
		t.Errorf("blocked everywhere: picked tid %d", got.CB.Tid)
	}
}
