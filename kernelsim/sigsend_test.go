package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// mainFakeTask is fakeTask's task as the process's main thread (tid =
// pid), and a second thread of it.
func mainFakeTask(t *testing.T) (*Task, *Task, *fakeMachine) {
	main, f := fakeTask(t, nil, [2]uint64{})
	main.CB.Tid = uint64(pid)
	other := main.P.NewTask(new(cblock.ControlBlock))
	other.CB.Tid = uint64(pid + 1)
	return main, other, f
}

func pendingOf(t *testing.T, task *Task, f *fakeMachine) uint64 {
	t.Helper()
	set := uint64(guestMem + 3000)
	if r := call(task, unix.SYS_RT_SIGPENDING, set, 8); r != 0 {
		t.Fatalf("rt_sigpending = %d", r)
	}
	return f.u64(set)
}

func TestRtSigpending(t *testing.T) {
	task, _, f := mainFakeTask(t)
	usr1 := bit(int(unix.SIGUSR1))
	task.sigmask = usr1 | bit(40)
	task.pending.add(int(unix.SIGUSR1), userInfo(int(unix.SIGUSR1), siUser))
	task.P.sig.pending.add(40, userInfo(40, siUser))
	task.pending.add(int(unix.SIGUSR2), userInfo(int(unix.SIGUSR2), siUser)) // not blocked: not in the set
	set := uint64(guestMem)
	f.putU64(set, ^uint64(0))
	if r := call(task, unix.SYS_RT_SIGPENDING, set, 8); r != 0 || f.u64(set) != usr1|bit(40) {
		t.Errorf("rt_sigpending = %d, set %#x; want the blocked ones of thread and process, %#x", r, f.u64(set), usr1|bit(40))
	}
	// Any size up to a sigset_t's: its first bytes.
	f.putU64(set, ^uint64(0))
	if r := call(task, unix.SYS_RT_SIGPENDING, set, 4); r != 0 || f.u64(set) != 0xffffffff_00000000|usr1 {
		t.Errorf("rt_sigpending of 4 bytes = %d, set %#x", r, f.u64(set))
	}
	for _, c := range []struct {
		addr, size uint64
		want       int64
	}{
		{0, 0, 0},
		{set, 16, neg(unix.EINVAL)},
		{0x10, 8, neg(unix.EFAULT)},
	} {
		if r := call(task, unix.SYS_RT_SIGPENDING, c.addr, c.size); r != c.want {
			t.Errorf("rt_sigpending(%#x, %d) = %d, want %d", c.addr, c.size, r, c.want)
		}
	}
	expectCalls(t, f)
}

func TestKillOfTheGuestItself(t *testing.T) {
	main, other, f := mainFakeTask(t)
	usr1 := int(unix.SIGUSR1)
	main.sigmask, other.sigmask = bit(usr1), bit(usr1)
	for _, c := range []struct {
		name string
		a    []uint64
		want int64
	}{
		{"signal 65", []uint64{uint64(pid), 65}, neg(unix.EINVAL)},
		{"signal -1", []uint64{uint64(pid), ^uint64(0)}, neg(unix.EINVAL)},
		{"signal 0", []uint64{uint64(pid), 0}, 0},
		{"SIGUSR1, blocked everywhere", []uint64{uint64(pid), uint64(usr1)}, 0},
	} {
		if r := call(main, unix.SYS_KILL, c.a...); r != c.want {
			t.Errorf("kill(%s) = %d, want %d", c.name, r, c.want)
		}
	}
	if p := main.P.sig.pending.mask; p != bit(usr1) {
		t.Errorf("process pending %#x, want SIGUSR1 alone", p)
	}
	if got := pendingOf(t, other, f); got != bit(usr1) {
		t.Errorf("another thread's rt_sigpending %#x: a process-directed signal is everyone's", got)
	}
	// Blocked everywhere, nothing is kicked.
	expectCalls(t, f)
	// Another process: the host kernel's.
	call(main, unix.SYS_KILL, 1, uint64(unix.SIGTERM))
	expectCalls(t, f, fakeCall{unix.SYS_KILL, Args{1, uint64(unix.SIGTERM)}})

	// A discarded signal (ignored, not blocked) is not queued; a
	// blocked one is, whatever its disposition.
	chld := int(unix.SIGCHLD)
	call(main, unix.SYS_KILL, uint64(pid), uint64(chld))
	if main.P.sig.pending.mask&bit(chld) != 0 {
		t.Error("SIGCHLD at its default (ignore) was queued")
	}
	main.sigmask |= bit(chld)
	other.sigmask |= bit(chld)
	call(main, unix.SYS_KILL, uint64(pid), uint64(chld))
	if main.P.sig.pending.mask&bit(chld) == 0 {
		t.Error("a blocked SIGCHLD was discarded")
	}
	// The thread that takes it is kicked, unless it is the sender: the
	// main thread blocks it, the other takes it.
	other.sigmask = 0
	main.sigmask |= bit(int(unix.SIGUSR2))
	call(main, unix.SYS_KILL, uint64(pid), uint64(unix.SIGUSR2))
	expectCalls(t, f, fakeCall{unix.SYS_TGKILL, Args{uint64(pid), uint64(pid + 1), uint64(cblock.KickSignal)}})
	if other.CB.SigPending != 1 {
		t.Error("the taker's control block does not say a signal is pending")
	}
	call(other, unix.SYS_KILL, uint64(pid), uint64(unix.SIGUSR2))
	expectCalls(t, f)
}

func TestTgkillAndTkill(t *testing.T) {
	main, other, f := mainFakeTask(t)
	tid := uint64(pid + 1)
	for _, c := range []struct {
		name string
		nr   int
		a    []uint64
		want int64
	}{
		{"tgkill signal 65", unix.SYS_TGKILL, []uint64{uint64(pid), tid, 65}, neg(unix.EINVAL)},
		{"tkill signal 65", unix.SYS_TKILL, []uint64{tid, 65}, neg(unix.EINVAL)},
		{"tgkill signal 0", unix.SYS_TGKILL, []uint64{uint64(pid), tid, 0}, 0},
	} {
		if r := call(main, c.nr, c.a...); r != c.want {
			t.Errorf("%s = %d, want %d", c.name, r, c.want)
		}
	}
	expectCalls(t, f)
	other.sigmask = bit(int(unix.SIGUSR1)) | bit(int(unix.SIGUSR2))
	call(main, unix.SYS_TGKILL, uint64(pid), tid, uint64(unix.SIGUSR1))
	call(other, unix.SYS_TKILL, tid, uint64(unix.SIGUSR2))
	if other.pending.mask != other.sigmask || main.pending.mask != 0 || main.P.sig.pending.mask != 0 {
		t.Errorf("thread pending %#x, main's %#x, process %#x: tgkill and tkill are the thread's", other.pending.mask, main.pending.mask, main.P.sig.pending.mask)
	}
	si := other.pending.take(int(unix.SIGUSR1))
	if code := int32(le32(si[8:])); code != siTkill || int(le32(si[16:])) != pid {
		t.Errorf("si_code %d, si_pid %d; want SI_TKILL from %d", code, le32(si[16:]), pid)
	}
	// The sender is not the target: the target is kicked (even blocked:
	// it looks and finds nothing to take).
	expectCalls(t, f, fakeCall{unix.SYS_TGKILL, Args{uint64(pid), tid, uint64(cblock.KickSignal)}})
	// Threads that are not the guest's are the host kernel's.
	call(main, unix.SYS_TGKILL, uint64(pid), 999999, uint64(unix.SIGUSR1))
	call(main, unix.SYS_TKILL, 999999, uint64(unix.SIGUSR1))
	call(main, unix.SYS_TGKILL, 1, 1, uint64(unix.SIGUSR1))
	expectCalls(t, f,
		fakeCall{unix.SYS_TGKILL, Args{uint64(pid), 999999, uint64(unix.SIGUSR1)}},
		fakeCall{unix.SYS_TKILL, Args{999999, uint64(unix.SIGUSR1)}},
		fakeCall{unix.SYS_TGKILL, Args{1, 1, uint64(unix.SIGUSR1)}})
}

// rt_sigqueueinfo and rt_tgsigqueueinfo: a process may forge a code >= 0
// or SI_TKILL only to itself — the caller's tid is the target (the main
// thread for rt_sigqueueinfo) — and the checks come in Linux's order.
func TestSigqueueinfo(t *testing.T) {
	main, other, f := mainFakeTask(t)
	usr1 := uint64(unix.SIGUSR1)
	main.sigmask, other.sigmask = bit(int(usr1)), bit(int(usr1))
	user, queue, tkill := uint64(guestMem), uint64(guestMem+128), uint64(guestMem+256)
	put32(f.mem[guestMem][user-guestMem+8:], siUser)
	put32(f.mem[guestMem][queue-guestMem+8:], uint32(0xffffffff)) // SI_QUEUE
	put32(f.mem[guestMem][queue-guestMem+24:], 42)                // si_value
	put32(f.mem[guestMem][tkill-guestMem+8:], uint32(siTkill&0xffffffff))
	tid := uint64(pid + 1)
	for _, c := range []struct {
		name string
		from *Task
		nr   int
		a    []uint64
		want unix.Errno
	}{
		{"code 0 to itself", main, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), usr1, user}, 0},
		{"SI_TKILL to itself", main, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), usr1, tkill}, 0},
		{"code 0 from another thread", other, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), usr1, user}, unix.EPERM},
		{"signal 0", other, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), 0, queue}, 0},
		{"signal 65", other, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), 65, queue}, unix.EINVAL},
		{"signal 65, info to nothing", other, unix.SYS_RT_SIGQUEUEINFO, []uint64{uint64(pid), 65, 0x10}, unix.EFAULT},
		{"tg: info to nothing", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), 999999, usr1, 0x10}, unix.EFAULT},
		{"tg: code 0 to a thread not ours", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), 999999, 65, user}, unix.EPERM},
		{"tg: SI_QUEUE to a thread not ours", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), 999999, 65, queue}, unix.ESRCH},
		{"tg: signal 65", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), tid, 65, queue}, unix.EINVAL},
		{"tg: tid 0", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), 0, usr1, queue}, unix.EINVAL},
		{"tg: code 0 to another thread", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), tid, usr1, user}, unix.EPERM},
		{"tg: code 0 to its own thread", other, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), tid, usr1, user}, 0},
		{"tg: SI_QUEUE to another thread", main, unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(pid), tid, 40, queue}, 0},
	} {
		if r := call(c.from, c.nr, c.a...); r != neg(c.want) {
			t.Errorf("%s: %s = %d, want %v", c.name, Name(c.nr), r, c.want)
		}
	}
	if main.P.sig.pending.mask != bit(int(usr1)) || other.pending.mask != bit(int(usr1))|bit(40) {
		t.Errorf("pending: process %#x, thread %#x", main.P.sig.pending.mask, other.pending.mask)
	}
	si := other.pending.take(40)
	if le32(si[0:]) != 40 || int32(le32(si[8:])) != -1 || le32(si[24:]) != 42 {
		t.Errorf("queued siginfo: signo %d code %d value %d; want the caller's, signo set", le32(si[0:]), int32(le32(si[8:])), le32(si[24:]))
	}
	f.calls = nil
	call(main, unix.SYS_RT_SIGQUEUEINFO, 1, usr1, queue)
	call(main, unix.SYS_RT_TGSIGQUEUEINFO, 1, 1, usr1, queue)
	expectCalls(t, f, fakeCall{unix.SYS_RT_SIGQUEUEINFO, Args{1, usr1, queue}}, fakeCall{unix.SYS_RT_TGSIGQUEUEINFO, Args{1, 1, usr1, queue}})
}

func TestRtSigtimedwait(t *testing.T) {
	task, _, f := mainFakeTask(t)
	set, info, ts := uint64(guestMem), uint64(guestMem+128), uint64(guestMem+512)
	usr1 := int(unix.SIGUSR1)
	f.putU64(set, bit(usr1))
	task.sigmask = bit(usr1)
	si := valued(usr1, 7)
	task.P.sig.pending.add(usr1, si)
	if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, set, info, 0, 8); r != int64(usr1) {
		t.Fatalf("rt_sigtimedwait with SIGUSR1 pending = %d", r)
	}
	if got := f.mem[guestMem][128:256]; string(got) != string(si[:]) {
		t.Errorf("siginfo written % x", got[:32])
	}
	if task.P.sig.pending.mask != 0 {
		t.Error("the signal is still pending")
	}
	f.putU64(ts+8, 1e9)
	for _, c := range []struct {
		name string
		a    []uint64
		want unix.Errno
	}{
		{"a set of 4 bytes", []uint64{set, 0, 0, 4}, unix.EINVAL},
		{"a set to nothing", []uint64{0x10, 0, 0, 8}, unix.EFAULT},
		{"a timeout to nothing", []uint64{set, 0, 0x10, 8}, unix.EFAULT},
		{"1e9 ns", []uint64{set, 0, ts, 8}, unix.EINVAL},
	} {
		if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, c.a...); r != neg(c.want) {
			t.Errorf("rt_sigtimedwait(%s) = %d, want %v", c.name, r, c.want)
		}
	}
	f.putU64(ts, ^uint64(0))
	f.putU64(ts+8, 0)
	if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, set, 0, ts, 8); r != neg(unix.EINVAL) {
		t.Errorf("a negative timeout = %d, want EINVAL", r)
	}
	// A caught signal outside the set interrupts the wait.
	task.P.sig.actions[unix.SIGUSR2] = sigaction{handler: 0x401000}
	task.pending.add(int(unix.SIGUSR2), userInfo(int(unix.SIGUSR2), siUser))
	if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, set, 0, 0, 8); r != neg(unix.EINTR) {
		t.Errorf("with a caught SIGUSR2 pending = %d, want EINTR", r)
	}
	// A signal of the set is taken even when it is not blocked, and a
	// real-time one with its value.
	task.sigmask = 0
	f.putU64(set, bit(40))
	task.pending.add(40, valued(40, 9))
	if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, set, info, 0, 8); r != 40 || le32(f.mem[guestMem][128+24:]) != 9 {
		t.Errorf("rt_sigtimedwait for 40 = %d, value %d", r, le32(f.mem[guestMem][128+24:]))
	}
	// The signal is taken before its siginfo is written.
	task.pending.add(40, valued(40, 9))
	if r := call(task, unix.SYS_RT_SIGTIMEDWAIT, set, 0x10, 0, 8); r != neg(unix.EFAULT) || task.pending.mask&bit(40) != 0 {
		t.Errorf("rt_sigtimedwait into nothing = %d, still pending %v; want EFAULT, taken", r, task.pending.mask&bit(40) != 0)
	}
	expectCalls(t, f)
}

func TestSigsuspendAndPause(t *testing.T) {
	task, _, f := mainFakeTask(t)
	set := uint64(guestMem)
	usr1, usr2 := int(unix.SIGUSR1), int(unix.SIGUSR2)
	if r := call(task, unix.SYS_RT_SIGSUSPEND, set, 4); r != neg(unix.EINVAL) {
		t.Errorf("rt_sigsuspend of 4 bytes = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_RT_SIGSUSPEND, 0x10, 8); r != neg(unix.EFAULT) {
		t.Errorf("rt_sigsuspend of nothing = %d, want EFAULT", r)
	}
	// SIGUSR1 (caught) pends, blocked; the temporary mask lets it through.
	task.P.sig.actions[usr1] = sigaction{handler: 0x401000}
	task.sigmask = bit(usr1)
	task.pending.add(usr1, userInfo(usr1, siUser))
	f.putU64(set, bit(usr2)|unblockable)
	if r := call(task, unix.SYS_RT_SIGSUSPEND, set, 8); r != neg(unix.EINTR) {
		t.Errorf("rt_sigsuspend = %d, want EINTR", r)
	}
	if task.sigmask != bit(usr2) || !task.hasSavedMask || task.savedMask != bit(usr1) {
		t.Errorf("mask %#x, saved %v %#x: the temporary mask (SIGKILL, SIGSTOP dropped) until the handler's frame saves the old one", task.sigmask, task.hasSavedMask, task.savedMask)
	}
	if r := call(task, unix.SYS_PAUSE); r != neg(unix.EINTR) {
		t.Errorf("pause with SIGUSR1 pending = %d, want EINTR", r)
	}
	expectCalls(t, f)
}

// A signal queued for the process that every thread blocks wakes the
// threads whose rt_sigtimedwait waits for it (as Linux's sigtimedwait
// takes its set out of the mask), by the relay's record or by a send;
// no kick (nothing to interrupt), and no other waiter.
func TestProcessSignalWakesItsSigwaiters(t *testing.T) {
	main, other, f := mainFakeTask(t)
	usr1, usr2 := int(unix.SIGUSR1), int(unix.SIGUSR2)
	main.sigmask, other.sigmask = bit(usr1)|bit(usr2), bit(usr1)|bit(usr2)
	other.sigwaitSet = bit(usr1)
	main.sigwaitSet = bit(usr2)
	woken := func(w *Task) bool {
		select {
		case <-w.wake:
			return true
		default:
			return false
		}
	}
	main.P.send(nil, nil, usr1, userInfo(usr1, siUser))
	if !woken(other) || woken(main) {
		t.Error("a send: the waiter for the signal was not woken, or the other was")
	}
	main.CB.HostInfo[usr1-1] = userInfo(usr1, siQueue)
	main.CB.HostSig = bit(usr1)
	main.P.mu.Lock()
	main.absorbHostSignals()
	main.P.mu.Unlock()
	if !woken(other) || woken(main) {
		t.Error("the relay's record: the waiter for the signal was not woken, or the other was")
	}
	expectCalls(t, f)
}
