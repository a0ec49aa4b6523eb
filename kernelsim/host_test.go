package kernelsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tracing"
)

// A stop signal's default action is the host's (Platform.Stop); once the
// host says the process was continued, the stops pending then are
// discarded, as Linux's SIGCONT does; SIGSTOP returns at once (kill(2)).
func TestDefaultStopIsTheHosts(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	p := task.P
	ttin := int(unix.SIGTTIN)
	p.sig.pending.add(ttin, userInfo(ttin, siUser))
	task.defaultAction(int(unix.SIGSTOP))
	expectLog(t, plat, "Stop 19")
	if p.sig.pending.mask&bit(ttin) == 0 {
		t.Error("a stop that did not wait for SIGCONT discarded the pending stops")
	}
	plat.continued = true
	task.defaultAction(int(unix.SIGTSTP))
	expectLog(t, plat, "Stop 20")
	if p.sig.pending.mask&bit(ttin) != 0 {
		t.Error("continued, and the stop pending since is still there")
	}
	// An ignored stop signal is not acted on.
	p.sig.actions[ttin] = sigaction{handler: sigIgn}
	task.defaultAction(ttin)
	expectLog(t, plat)
}

// leftGuest runs f, which ends the task's process through a Host that
// returns (a fake, or a vfork child's), and reports whether it unwound
// as a thread that leaves the guest does.
func leftGuest(t *testing.T, f func()) (left bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(vforkLeft); !ok {
				panic(r)
			}
			left = true
		}
	}()
	f()
	return false
}

// The exit is recorded in the thread's control block and the event log,
// and the process's OnExit functions run, before the host ends the process.
func TestExitAndDeathAreRecordedBeforeTheHostEnds(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	ran := 0
	task.P.OnExit(func() { ran++ })
	if !leftGuest(t, func() { task.exitProcess(0x1ff) }) {
		t.Error("exitProcess returned")
	}
	expectLog(t, plat, "Exit 255")
	if e := task.CB.Exit; e.Done != 1 || e.Code != 0xff || e.Signal != 0 || ran != 1 {
		t.Errorf("exit record %+v, OnExit ran %d times", e, ran)
	}
	task.CB.Exit = cblock.Exit{}
	task.P.OnExit(func() { ran++ })
	leftGuest(t, func() { task.dieBy(int(unix.SIGTERM)) })
	expectLog(t, plat, "Die 15")
	if e := task.CB.Exit; e.Done != 1 || e.Signal != int32(unix.SIGTERM) || ran != 2 {
		t.Errorf("death record %+v, OnExit ran %d times", e, ran)
	}
}

// vforkTask is a vfork child (pid 5555) of parent, on a block of its own,
// as runVforkChild makes it, with a fake host process whose group is 77.
func vforkTask(t *testing.T, parent *Task) (*Task, *fakeVforkHost) {
	t.Helper()
	h := &fakeVforkHost{pgid: 77}
	p := parent.P
	vc := &vforkChild{pid: 5555, host: h, limits: p.limitsCopy(), persona: p.personaOf()}
	vc.actions = p.sig.actions
	cb := new(cblock.ControlBlock)
	cb.Tid = 5555
	return p.newVforkTask(parent, cb, vc), h
}

// A vfork child is a process of its own on its parent's thread: its
// identity calls answer for it and its host process carries out what it
// does to itself; the parent's queue, dispositions and personality are
// not its.
func TestVforkChildIsAProcessOfItsOwn(t *testing.T) {
	parent, f := fakeTask(t, nil, [2]uint64{})
	p := parent.P
	child, h := vforkTask(t, parent)
	for _, c := range []struct {
		name string
		nr   int
		a    []uint64
		want int64
	}{
		{"getpid", unix.SYS_GETPID, nil, 5555},
		{"gettid", unix.SYS_GETTID, nil, 5555},
		{"getppid", unix.SYS_GETPPID, nil, int64(pid)},
		{"getpgrp", unix.SYS_GETPGRP, nil, 77},
		{"getpgid(0)", unix.SYS_GETPGID, []uint64{0}, 77},
		{"getpgid(itself)", unix.SYS_GETPGID, []uint64{5555}, 77},
		{"getsid(0)", unix.SYS_GETSID, []uint64{0}, 4242},
		{"setsid", unix.SYS_SETSID, nil, 4242},
		{"setpgid(0, 0)", unix.SYS_SETPGID, []uint64{0, 0}, 0},
		{"fork", unix.SYS_FORK, nil, neg(unix.EAGAIN)},
		{"vfork", unix.SYS_VFORK, nil, neg(unix.EAGAIN)},
		{"clone", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, neg(unix.EAGAIN)},
		{"wait4", unix.SYS_WAIT4, []uint64{^uint64(0)}, neg(unix.ECHILD)},
	} {
		if r := call(child, c.nr, c.a...); r != c.want {
			t.Errorf("%s = %d, want %d", c.name, r, c.want)
		}
	}
	if want := "[Setsid Setpgid 5555]"; fmtList(h.log) != want {
		t.Errorf("the child's host process was asked %v, want %s", h.log, want)
	}
	h.log = nil
	expectCalls(t, f)
	// kill(0): its own group, which its setpgid made 5555.
	call(child, unix.SYS_KILL, 0, uint64(unix.SIGTERM))
	expectCalls(t, f, fakeCall{unix.SYS_KILL, Args{uint64(uint32(0xffffea4d)), uint64(unix.SIGTERM)}})

	// The parent's pending SIGUSR1 is not the child's; its dispositions
	// and personality are a copy.
	usr1 := int(unix.SIGUSR1)
	p.sig.pending.add(usr1, userInfo(usr1, siUser))
	child.sigmask = bit(usr1)
	set := uint64(guestMem)
	if r := call(child, unix.SYS_RT_SIGPENDING, set, 8); r != 0 || f.u64(set) != 0 {
		t.Errorf("the child's sigpending = %d, set %#x, want none", r, f.u64(set))
	}
	parent.sigmask = bit(usr1)
	if call(parent, unix.SYS_RT_SIGPENDING, set, 8); f.u64(set) != bit(usr1) {
		t.Errorf("the parent's sigpending set %#x", f.u64(set))
	}
	child.actions[usr1] = sigaction{handler: sigIgn}
	if p.sig.actions[usr1].handler == sigIgn {
		t.Error("the child's disposition is the parent's")
	}
	call(child, unix.SYS_PERSONALITY, 0x0040000)
	if p.personaOf() == 0x0040000 || *child.persona != 0x0040000 {
		t.Errorf("personality: parent %#x, child %#x", p.personaOf(), *child.persona)
	}
	if len(platformOf(parent).log) != 0 {
		t.Errorf("the child's calls reached the parent's host: %v", platformOf(parent).log)
	}
}

// Its exit, death and stop are its host process's: nothing is recorded in
// the parent's block (the child's host process records its own), and the
// thread leaves the guest, no longer one of the parent's vfork children.
func TestVforkChildEndsThroughItsHost(t *testing.T) {
	parent, _ := fakeTask(t, nil, [2]uint64{})
	p := parent.P
	plat := platformOf(parent)
	for _, c := range []struct {
		name string
		end  func(child *Task)
		want string
	}{
		{"exit_group", func(child *Task) { call(child, unix.SYS_EXIT_GROUP, 0x103) }, "Exit 3"},
		{"exitProcess", func(child *Task) { child.exitProcess(4) }, "Exit 4"},
		{"a fatal signal", func(child *Task) { child.dieBy(int(unix.SIGSEGV)) }, "Die 11"},
	} {
		child, h := vforkTask(t, parent)
		leftGuest(t, func() { c.end(child) })
		if fmtList(h.log) != "["+c.want+"]" {
			t.Errorf("%s: the child's host process was asked %v, want %s", c.name, h.log, c.want)
		}
		if child.CB.Exit.Done != 0 || parent.CB.Exit.Done != 0 {
			t.Errorf("%s: the exit was recorded on the parent's host (%+v)", c.name, child.CB.Exit)
		}
		if child.CB.Flags&cblock.FlagLeave == 0 || p.vforkTasks[child.CB] != nil {
			t.Errorf("%s: the child's thread stays in the guest", c.name)
		}
	}
	child, h := vforkTask(t, parent)
	child.defaultAction(int(unix.SIGTSTP))
	if fmtList(h.log) != "[Stop 20]" {
		t.Errorf("a stop asked %v of the child's host process", h.log)
	}
	expectLog(t, plat)
}

// Its execve, past the checks, hands the guest's state over to its host
// process (the platform adds the thread's fds, cwd and umask).
func TestVforkChildExecHandsOver(t *testing.T) {
	parent, _ := fakeTask(t, nil, [2]uint64{})
	child, h := vforkTask(t, parent)
	child.sigmask = bit(int(unix.SIGUSR2))
	child.actions[unix.SIGHUP] = sigaction{handler: sigIgn}
	child.actions[unix.SIGINT] = sigaction{handler: 0x401000} // caught: exec resets it
	if r := child.guest.exec(child, "/bin/true", "true", []string{"true"}, []string{"A=1"}); r != 0 {
		t.Fatalf("the vfork child's exec = %d", r)
	}
	st := h.exec
	if st == nil || st.Path != "/bin/true" || st.Comm != "true" || fmtList(st.Argv) != "[true]" || fmtList(st.Envp) != "[A=1]" {
		t.Fatalf("exec state %+v", st)
	}
	if st.Mask != bit(int(unix.SIGUSR2)) || st.Ignored != bit(int(unix.SIGHUP)) {
		t.Errorf("mask %#x, ignored %#x", st.Mask, st.Ignored)
	}
	if child.CB.Flags&cblock.FlagLeave == 0 {
		t.Error("the child's thread stays in the guest after its exec")
	}
}

// A traced execve of a vfork child has its record written before the
// request leaves for the host process, whose new image writes its own
// records from its first instruction on: the execve's line comes first,
// as natively.
func TestVforkChildExecTracedBeforeHandOver(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "trace")
	if err := tracing.WriteConfig(dir, tracing.Config{Output: out, Format: "text", Set: []int{unix.SYS_EXECVE}}); err != nil {
		t.Fatal(err)
	}
	tr, err := tracing.Load(dir, 100, Name)
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := fakeTask(t, nil, [2]uint64{})
	parent.P.trace = tr
	child, h := vforkTask(t, parent)
	var atSend string
	h.sending = func() {
		b, _ := os.ReadFile(out)
		atSend = string(b)
	}
	child.traced = tr.Enter(5555, 5555, unix.SYS_EXECVE, [6]uint64{}, "trap", 0, machine)
	if r := child.guest.exec(child, "/bin/true", "true", []string{"true"}, nil); r != 0 {
		t.Fatalf("the vfork child's exec = %d", r)
	}
	if !strings.Contains(atSend, "execve(") || !strings.Contains(atSend, "= 0") {
		t.Errorf("when the request left, the trace held %q, want the execve's line with = 0", atSend)
	}
	if child.traced != nil {
		t.Error("the record stays in progress after it was written")
	}
}

// When the child's host process is gone (killed), the thread that runs it
// is told to leave: marked, kicked, and its next kernel entry leaves.
func TestVforkChildWhoseHostIsGoneLeaves(t *testing.T) {
	parent, f := fakeTask(t, nil, [2]uint64{})
	child, h := vforkTask(t, parent)
	h.gone = make(chan struct{})
	close(h.gone)
	parent.P.watchVforkChild(child, child.guest.(*vforkChild))
	if !child.exiting || child.CB.SigPending == 0 {
		t.Fatal("the child's thread was not told its host process is gone")
	}
	expectCalls(t, f, fakeCall{unix.SYS_TGKILL, Args{uint64(pid), 5555, uint64(cblock.KickSignal)}})
	parent.P.Dispatch(child.CB) // its block is found among the vfork children's
	if child.CB.Flags&cblock.FlagLeave == 0 || parent.P.vforkTasks[child.CB] != nil {
		t.Error("the child's thread did not leave")
	}
	// A watcher that wakes after the thread left touches nothing.
	parent.P.watchVforkChild(child, child.guest.(*vforkChild))
	expectCalls(t, f)
}

// The relayed signals' records are taken with the relayed signals held off
// the host thread (Platform.ThreadMask), and a real-time signal the relay
// kept blocked is let through again.
func TestAbsorbHoldsTheRelayOff(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	rt := 40
	plat.mask = bit(rt) | bit(int(unix.SIGUSR1))
	task.CB.HostInfo[rt-1][0] = byte(rt)
	task.CB.HostSig = bit(rt)
	sig, _, ok := task.dequeue(^uint64(0))
	if !ok || sig != rt {
		t.Fatalf("dequeue = %d %v, want %d", sig, ok, rt)
	}
	all := ^uint64(0) &^ hostKept
	expectLog(t, plat, "ThreadMask 0 "+hex(all), "ThreadMask 2 "+hex(bit(int(unix.SIGUSR1))))
	// Nothing recorded: no mask change at all.
	task.dequeue(^uint64(0))
	expectLog(t, plat)
}

// A call with a temporary mask blocks the relayed signals on the host
// thread around it and gives back the old mask but the real-time signals;
// when the mask cannot be changed, the call is not made.
func TestPwaitHostMask(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	mask := uint64(guestMem)
	f.putU64(mask, 0)
	plat.mask = bit(int(unix.SIGUSR1)) | bit(40)
	task.CB.Nr = unix.SYS_PPOLL
	if r := call(task, unix.SYS_PPOLL, 0, 0, 0, mask, 8); r != 0 {
		t.Fatalf("ppoll = %d", r)
	}
	all := ^uint64(0) &^ hostKept
	expectLog(t, plat, "ThreadMask 0 "+hex(all), "ThreadMask 2 "+hex(bit(int(unix.SIGUSR1))))
	f.calls = nil
	plat.maskErr = unix.EINVAL
	if r := call(task, unix.SYS_PPOLL, 0, 0, 0, mask, 8); r != neg(unix.EINVAL) {
		t.Errorf("ppoll with no host mask = %d, want EINVAL", r)
	}
	expectCalls(t, f)
}

// mmap without an address, mremap's move and shmat at 0 place the guest's
// memory through the platform (Platform.Reserve), which may fail.
func TestMmapPlacedByThePlatform(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	plat.reserve = func(length uintptr) (uintptr, unix.Errno) { return 0x5000_0000, 0 }
	anon := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
	if r := call(task, unix.SYS_MMAP, 0, 0x3000, unix.PROT_READ, anon, ^uint64(0), 0); r != 0x5000_0000 {
		t.Fatalf("mmap = %#x", r)
	}
	expectLog(t, plat, "Reserve 0x3000")
	expectCalls(t, f)
	if !task.P.vmas.covers(0x5000_0000, 0x5000_3000) {
		t.Error("the reserved range is not the guest's")
	}
	plat.reserve = func(uintptr) (uintptr, unix.Errno) { return 0, unix.ENOMEM }
	if r := call(task, unix.SYS_MMAP, 0, 0x1000, unix.PROT_READ, anon, ^uint64(0), 0); r != neg(unix.ENOMEM) {
		t.Errorf("mmap with no room = %d, want ENOMEM", r)
	}
	expectLog(t, plat, "Reserve 0x1000")
	if task.P.vmas.covers(0, 0x1000) {
		t.Error("a failed mmap added a range")
	}
	// MAP_FIXED is the kernel's: no reservation.
	task.P.vmas.add(0x6000_0000, 0x6000_1000)
	call(task, unix.SYS_MMAP, 0x6000_0000, 0x1000, unix.PROT_READ, anon|unix.MAP_FIXED, ^uint64(0), 0)
	expectLog(t, plat)
}

// The guest's /proc answers are files the platform makes (ProcFile), with
// the open's close-on-exec; when it cannot, the open fails with its errno.
func TestProcAnswersAreThePlatformsFiles(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	hostOpens(t, f)
	plat := platformOf(task)
	task.P.Argv = []string{"prog", "-x"}
	path := uint64(guestMem)
	f.WriteMem(path, append([]byte("/proc/self/cmdline"), 0))
	fd := call(task, unix.SYS_OPEN, path, unix.O_RDONLY)
	if got := readFD(t, fd); got != "prog\x00-x\x00" || fmtList(plat.files) != "[prog\x00-x\x00]" {
		t.Errorf("read %q; the platform made %q", got, plat.files)
	}
	plat.procErr = unix.EMFILE
	if r := call(task, unix.SYS_OPEN, path, unix.O_RDONLY); r != neg(unix.EMFILE) {
		t.Errorf("open with no fd left = %d, want EMFILE", r)
	}
}

// A vfork child's /proc/self/{fd,fdinfo,cwd} (by any of its names) are its
// thread's own (VforkHost.FilesView): /proc/self is the thread group
// leader's, the parent's; a host fd there is not the guest's.
func TestVforkChildsProcSelfFDIsItsThreads(t *testing.T) {
	parent, f := fakeTask(t, nil, [2]uint64{})
	child, _ := vforkTask(t, parent)
	var opened []string
	// A path in the fake guest memory, or one kernelsim made (Go memory).
	str := func(p uint64) string {
		if s, err := readString(p, 4096); err == nil {
			return s
		}
		return unix.BytePtrToString((*byte)(guestPtr(p)))
	}
	f.ret = func(nr int, a Args) int64 {
		switch nr {
		case unix.SYS_OPENAT, unix.SYS_READLINKAT:
			opened = append(opened, str(a[1]))
		case unix.SYS_OPEN, unix.SYS_READLINK:
			opened = append(opened, str(a[0]))
		}
		return 3
	}
	path := uint64(guestMem)
	at := uint64(unix.AT_FDCWD & 0xffffffff)
	for _, c := range []struct {
		name string
		nr   int
		want string
	}{
		{"/proc/self/fd/3", unix.SYS_OPENAT, "/fake/thread/fd/3"},
		{"/proc/5555/fdinfo/0", unix.SYS_OPEN, "/fake/thread/fdinfo/0"},
		{"/proc/self/task/5555/cwd", unix.SYS_READLINKAT, "/fake/thread/cwd"},
		{"/proc/5555/cwd", unix.SYS_READLINK, "/fake/thread/cwd"},
	} {
		opened = nil
		f.WriteMem(path, append([]byte(c.name), 0))
		var r int64
		switch c.nr {
		case unix.SYS_OPENAT, unix.SYS_READLINKAT:
			r = call(child, c.nr, at, path, guestMem+512, 64)
		default:
			r = call(child, c.nr, path, guestMem+512, 64)
		}
		if r != 3 || fmtList(opened) != "["+c.want+"]" {
			t.Errorf("%s: %d, the host was asked for %q, want %s", c.name, r, opened, c.want)
		}
	}
	f.WriteMem(path, append([]byte("/proc/self/fd/1000"), 0))
	if r := call(child, unix.SYS_OPEN, path, unix.O_RDONLY); r != errNoEntry {
		t.Errorf("open of a host fd's entry = %d, want ENOENT", r)
	}
	// The parent's own /proc/self/fd is its process's.
	opened = nil
	f.WriteMem(path, append([]byte("/proc/self/fd/3"), 0))
	call(parent, unix.SYS_READLINK, path, guestMem+512, 64)
	for _, o := range opened {
		if o == "/fake/thread/fd/3" {
			t.Error("the parent's /proc/self/fd was sent to its thread's")
		}
	}
}

// A signalfd's pipe is the platform's (TokenPipe): its byte is put in when
// a signal of its mask comes to pend and taken out when none does, once
// each; a signalfd closed over gives its pipe back.
func TestSignalfdTokenIsThePlatforms(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	p := task.P
	mask := uint64(guestMem)
	usr1, usr2 := int(unix.SIGUSR1), int(unix.SIGUSR2)
	f.putU64(mask, bit(usr1))
	r := call(task, unix.SYS_SIGNALFD4, ^uint64(0), mask, 8, unix.O_NONBLOCK)
	if r < 0 {
		t.Fatalf("signalfd4 = %d", r)
	}
	defer unix.Close(int(r))
	expectLog(t, plat, "TokenPipe")
	task.sigmask = bit(usr1) | bit(usr2)
	p.send(task, nil, usr2, userInfo(usr2, siUser))
	expectLog(t, plat) // not its mask
	p.send(task, nil, usr1, userInfo(usr1, siUser))
	p.send(task, task, usr1, userInfo(usr1, siTkill))
	expectLog(t, plat, "Put")
	task.dequeue(bit(usr1))
	expectLog(t, plat)
	task.dequeue(bit(usr1))
	expectLog(t, plat, "Take")
	p.closeSignalfd(int(r))
	expectLog(t, plat, "Close")
}

// A POSIX timer's signal the guest blocks stays blocked on the host thread
// (timerHeld): the mask given back through the platform keeps it, until
// the guest unblocks it.
func TestTimerSignalStaysHeldOnTheHostThread(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	rt := 40
	task.sigmask = bit(rt)
	task.CB.HostInfo[rt-1][0] = byte(rt)
	code := siTimer
	task.CB.HostInfo[rt-1][8] = byte(code)
	task.CB.HostInfo[rt-1][9], task.CB.HostInfo[rt-1][10], task.CB.HostInfo[rt-1][11] = 0xff, 0xff, 0xff
	task.CB.HostSig = bit(rt)
	task.P.mu.Lock()
	task.absorbHostSignals()
	task.P.mu.Unlock()
	all := ^uint64(0) &^ hostKept
	expectLog(t, plat, "ThreadMask 0 "+hex(all), "ThreadMask 2 "+hex(bit(rt)))
	if task.timerHeld != bit(rt) || task.P.sig.pending.mask&bit(rt) == 0 {
		t.Errorf("held %#x, pending %#x: want the timer's signal held and pending", task.timerHeld, task.P.sig.pending.mask)
	}
}
