package kernelsim

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The answers below are native Linux's (x86-64, a C probe of each call),
// except where a comment says the call is vsysbed's own policy.

func neg(e unix.Errno) int64 { return -int64(e) }

func TestArchPrctl(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	out := uint64(guestMem)
	for _, c := range []struct {
		name      string
		code, arg uint64
		want      int64
	}{
		{"SET_FS", archSetFS, 0x7f00_0000_1000, 0},
		{"SET_FS at TASK_SIZE_MAX", archSetFS, 1<<47 - 4096, neg(unix.EPERM)},
		{"SET_FS past the user half", archSetFS, 1 << 47, neg(unix.EPERM)},
		{"GET_FS to nothing", archGetFS, 0x10, neg(unix.EFAULT)},
		{"GET_GS to nothing", archGetGS, 0x10, neg(unix.EFAULT)},
		{"an unknown code", 0x1099, 0, neg(unix.EINVAL)},
		// vsysbed's: GS points at the control block.
		{"SET_GS", archSetGS, 0x1000, neg(unix.EPERM)},
	} {
		if r := call(task, unix.SYS_ARCH_PRCTL, c.code, c.arg); r != c.want {
			t.Errorf("arch_prctl(%s) = %d, want %d", c.name, r, c.want)
		}
	}
	if task.CB.GuestFS != 0x7f00_0000_1000 {
		t.Errorf("FS base %#x after the refused ones", task.CB.GuestFS)
	}
	if r := call(task, unix.SYS_ARCH_PRCTL, archGetFS, out); r != 0 || f.u64(out) != 0x7f00_0000_1000 {
		t.Errorf("GET_FS = %d, %#x", r, f.u64(out))
	}
	f.putU64(out, 1)
	if r := call(task, unix.SYS_ARCH_PRCTL, archGetGS, out); r != 0 || f.u64(out) != 0 {
		t.Errorf("GET_GS = %d, %#x; want the user's GS base, 0", r, f.u64(out))
	}
	expectCalls(t, f)
}

func TestTidAddressAndRobustList(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	task.CB.Tid = uint64(pid)
	if r := call(task, unix.SYS_SET_TID_ADDRESS, 0x1234); r != int64(pid) || task.tidAddress != 0x1234 {
		t.Errorf("set_tid_address = %d (want the tid %d), address %#x", r, pid, task.tidAddress)
	}
	if r := call(task, unix.SYS_SET_ROBUST_LIST, 0x5000, 23); r != neg(unix.EINVAL) {
		t.Errorf("set_robust_list of 23 bytes = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_SET_ROBUST_LIST, 0x5000, 24); r != 0 {
		t.Errorf("set_robust_list = %d", r)
	}
	head, size := uint64(guestMem), uint64(guestMem+8)
	for _, tid := range []uint64{0, uint64(pid)} {
		f.putU64(head, 0)
		if r := call(task, unix.SYS_GET_ROBUST_LIST, tid, head, size); r != 0 || f.u64(head) != 0x5000 || f.u64(size) != 24 {
			t.Errorf("get_robust_list(%d) = %d, head %#x, len %d", tid, r, f.u64(head), f.u64(size))
		}
	}
	if r := call(task, unix.SYS_GET_ROBUST_LIST, 0, 0x10, size); r != neg(unix.EFAULT) {
		t.Errorf("get_robust_list to nothing = %d, want EFAULT", r)
	}
	expectCalls(t, f)
	// Another thread's list is the host kernel's to answer.
	call(task, unix.SYS_GET_ROBUST_LIST, 4242, head, size)
	expectCalls(t, f, fakeCall{unix.SYS_GET_ROBUST_LIST, Args{4242, head, size}})
}

// clone and clone3 refuse what copy_process and copy_clone_args_from_user
// refuse before anything is created.
func TestCloneArgumentChecks(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	ca := uint64(guestMem)
	f.mem[guestMem+pageSize] = make([]byte, pageSize) // room for a struct larger than the kernel's
	set := func(off int, v uint64) { f.putU64(ca+uint64(off), v) }
	reset := func() { clear(f.mem[guestMem]); clear(f.mem[guestMem+pageSize]) }
	for _, c := range []struct {
		name  string
		setup func()
		size  uint64
		want  unix.Errno
	}{
		{"larger than a page", func() {}, pageSize + 1, unix.E2BIG},
		{"smaller than version 0", func() {}, 63, unix.EINVAL},
		{"non-zero beyond the known struct", func() { f.WriteMem(ca+100, []byte{1}) }, 101, unix.E2BIG},
		{"CLONE_THREAD with an exit signal", func() {
			set(0, unix.CLONE_THREAD|unix.CLONE_SIGHAND|unix.CLONE_VM)
			set(32, uint64(unix.SIGCHLD))
		}, 88, unix.EINVAL},
		{"exit signal 65", func() { set(32, 65) }, 88, unix.EINVAL},
		{"a stack without a size", func() { set(40, 0x1000) }, 88, unix.EINVAL},
		{"a size without a stack", func() { set(48, 0x1000) }, 88, unix.EINVAL},
		{"set_tid_size without set_tid", func() { set(72, 1) }, 88, unix.EINVAL},
		{"CLONE_SIGHAND with CLONE_CLEAR_SIGHAND", func() { set(0, unix.CLONE_SIGHAND|unix.CLONE_VM|cloneClearSighand) }, 88, unix.EINVAL},
		{"CLONE_DETACHED", func() { set(0, cloneDetached) }, 88, unix.EINVAL},
		{"an unknown flag", func() { set(0, 1<<40) }, 88, unix.EINVAL},
		{"CLONE_THREAD without CLONE_SIGHAND", func() { set(0, unix.CLONE_THREAD) }, 88, unix.EINVAL},
	} {
		reset()
		c.setup()
		if r := call(task, unix.SYS_CLONE3, ca, c.size); r != neg(c.want) {
			t.Errorf("clone3 %s = %d, want %v", c.name, r, c.want)
		}
	}
	if r := call(task, unix.SYS_CLONE3, 0x10, 88); r != neg(unix.EFAULT) {
		t.Errorf("clone3 of nothing = %d, want EFAULT", r)
	}
	for _, flags := range []uint64{unix.CLONE_THREAD, unix.CLONE_SIGHAND, unix.CLONE_NEWNS | unix.CLONE_FS, unix.CLONE_NEWUSER | unix.CLONE_FS} {
		if r := call(task, unix.SYS_CLONE, flags); r != neg(unix.EINVAL) {
			t.Errorf("clone(%#x) = %d, want EINVAL", flags, r)
		}
	}
	expectCalls(t, f)
}

func TestPrctlGuestFlags(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	for _, c := range []struct {
		name string
		a    []uint64
		want int64
	}{
		{"GET_NO_NEW_PRIVS", []uint64{prGetNoNewPrivs}, 0},
		{"SET_NO_NEW_PRIVS 2", []uint64{prSetNoNewPrivs, 2}, neg(unix.EINVAL)},
		{"SET_NO_NEW_PRIVS with arg3", []uint64{prSetNoNewPrivs, 1, 1}, neg(unix.EINVAL)},
		{"GET_NO_NEW_PRIVS with arg2", []uint64{prGetNoNewPrivs, 1}, neg(unix.EINVAL)},
		{"GET_DUMPABLE", []uint64{prGetDumpable}, 1},
		{"SET_DUMPABLE 2", []uint64{prSetDumpable, 2}, neg(unix.EINVAL)},
		{"SET_DUMPABLE 0", []uint64{prSetDumpable, 0}, 0},
		{"GET_DUMPABLE after", []uint64{prGetDumpable}, 0},
		{"SET_NO_NEW_PRIVS", []uint64{prSetNoNewPrivs, 1}, 0},
		{"GET_NO_NEW_PRIVS after", []uint64{prGetNoNewPrivs}, 1},
		// The guest has no filter of its own.
		{"GET_SECCOMP", []uint64{prGetSeccomp}, 0},
		// vsysbed's: the host's confinement is not the guest's to change.
		{"SET_SECCOMP", []uint64{prSetSeccomp, 1}, neg(unix.EINVAL)},
		{"SET_SYSCALL_USER_DISPATCH", []uint64{prSetSyscallUserDsp, 1}, neg(unix.EINVAL)},
		{"SET_MM", []uint64{prSetMM, 1}, neg(unix.EPERM)},
	} {
		if r := call(task, unix.SYS_PRCTL, c.a...); r != c.want {
			t.Errorf("prctl(%s) = %d, want %d", c.name, r, c.want)
		}
	}
	if task.P.confinement.NoNewPrivs != "1" || !task.P.confinement.Undumpable {
		t.Errorf("confinement %+v: the guest's flags are not its status's", task.P.confinement)
	}
	expectCalls(t, f)
	call(task, unix.SYS_PRCTL, unix.PR_SET_NAME, guestMem)
	expectCalls(t, f, fakeCall{unix.SYS_PRCTL, Args{unix.PR_SET_NAME, guestMem}})
}

func TestProcessVMWritevRefusesTheHost(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	if r := call(task, unix.SYS_PROCESS_VM_WRITEV, uint64(pid), guestMem, 1, guestMem, 1, 0); r != neg(unix.EPERM) {
		t.Errorf("process_vm_writev of our own pid = %d, want EPERM (vsysbed's: the host shares the address space)", r)
	}
	expectCalls(t, f)
	// Not a process of the tree: the kernel's to answer.
	call(task, unix.SYS_PROCESS_VM_WRITEV, 1, guestMem, 1, guestMem, 1, 0)
	expectCalls(t, f, fakeCall{unix.SYS_PROCESS_VM_WRITEV, Args{1, guestMem, 1, guestMem, 1, 0}})
}

func TestReadlinkOfExeIsTheGuestImage(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	realFiles(f) // each spelling is resolved by the real /proc
	task.P.Exe = "/usr/bin/guest"
	path, buf := uint64(guestMem), uint64(guestMem+512)
	for _, name := range []string{"/proc/self/exe", "/proc/thread-self/exe", "/proc/" + itoa(pid) + "/exe", "/proc//self/./exe"} {
		f.WriteMem(path, append([]byte(name), 0))
		clear(f.mem[guestMem][512:])
		if r := call(task, unix.SYS_READLINK, path, buf, 64); r != int64(len(task.P.Exe)) {
			t.Errorf("readlink(%q) = %d, want %d", name, r, len(task.P.Exe))
		}
		if got := string(f.mem[guestMem][512 : 512+len(task.P.Exe)+1]); got != task.P.Exe+"\x00" {
			t.Errorf("readlink(%q) wrote %q (no NUL is added)", name, got)
		}
	}
	f.WriteMem(path, []byte("/proc/self/exe\x00"))
	if r := call(task, unix.SYS_READLINKAT, uint64(unix.AT_FDCWD&0xffffffff), path, buf, 4); r != 4 || string(f.mem[guestMem][512:516]) != "/usr" {
		t.Errorf("readlinkat into 4 bytes = %d, %q: truncated silently", r, f.mem[guestMem][512:516])
	}
	if r := call(task, unix.SYS_READLINK, path, buf, 0); r != neg(unix.EINVAL) {
		t.Errorf("readlink into 0 bytes = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_READLINK, path, 0x10, 64); r != neg(unix.EFAULT) {
		t.Errorf("readlink into nothing = %d, want EFAULT", r)
	}
	if r := call(task, unix.SYS_READLINK, 0x10, buf, 64); r != neg(unix.EFAULT) {
		t.Errorf("readlink of a path to nothing = %d, want EFAULT", r)
	}
	// A host fd's link does not exist for the guest.
	f.WriteMem(path, []byte("/proc/self/fd/1001\x00"))
	if r := call(task, unix.SYS_READLINK, path, buf, 64); r != neg(unix.ENOENT) {
		t.Errorf("readlink of a host fd's link = %d, want ENOENT", r)
	}
	expectCalls(t, f)
	f.WriteMem(path, []byte("/etc/alternatives\x00"))
	call(task, unix.SYS_READLINK, path, buf, 64)
	expectCalls(t, f, fakeCall{unix.SYS_READLINK, Args{path, buf, 64}})
}

func TestDupGuardsTheHostsFDs(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	// An fd the host holds in its range, in the fake's fd table.
	held := 1005
	f.fds = map[int]int{0: 0, 1: 0, 2: 0, held: unix.FD_CLOEXEC}
	for _, c := range []struct {
		name string
		nr   int
		a    []uint64
		want unix.Errno
	}{
		{"dup2 from a host fd", unix.SYS_DUP2, []uint64{1001, 5}, unix.EBADF},
		{"dup2 onto a host fd", unix.SYS_DUP2, []uint64{1, uint64(held)}, unix.EBADF},
		{"dup3 onto itself", unix.SYS_DUP3, []uint64{1, 1, 0}, unix.EINVAL},
		{"dup3 with a flag other than O_CLOEXEC", unix.SYS_DUP3, []uint64{1, 5, 1}, unix.EINVAL},
		{"dup3 from a host fd", unix.SYS_DUP3, []uint64{1001, 5, 0}, unix.EBADF},
		{"dup3 onto a host fd", unix.SYS_DUP3, []uint64{1, uint64(held), unix.O_CLOEXEC}, unix.EBADF},
	} {
		if r := call(task, c.nr, c.a...); r != neg(c.want) {
			t.Errorf("%s = %d, want %v", c.name, r, c.want)
		}
	}
	// Whether the host holds the target is asked of the fd table.
	getfd := fakeCall{unix.SYS_FCNTL, Args{uint64(held), unix.F_GETFD}}
	expectCalls(t, f, getfd, getfd)
	// A free number in the host's range may become the guest's.
	call(task, unix.SYS_DUP2, 1, 1010)
	call(task, unix.SYS_DUP3, 1, 7, unix.O_CLOEXEC)
	expectCalls(t, f, fakeCall{unix.SYS_FCNTL, Args{1010, unix.F_GETFD}}, fakeCall{unix.SYS_DUP2, Args{1, 1010}}, fakeCall{unix.SYS_DUP3, Args{1, 7, unix.O_CLOEXEC}})
}

func TestCloseRangeStopsBelowTheHostsFDs(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	if r := call(task, unix.SYS_CLOSE_RANGE, 5, 4, 0); r != neg(unix.EINVAL) {
		t.Errorf("close_range(5, 4) = %d, want EINVAL", r)
	}
	expectCalls(t, f)
	if r := call(task, unix.SYS_CLOSE_RANGE, 3, 0xffffffff, closeRangeCloexec); r != 0 {
		t.Errorf("close_range(3, ~0) = %d", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_CLOSE_RANGE, Args{3, 999, closeRangeCloexec}})
	if r := call(task, unix.SYS_CLOSE_RANGE, 1000, 2000, 0); r != 0 {
		t.Errorf("close_range over the host's fds alone = %d, want 0", r)
	}
	expectCalls(t, f)
	f.ret = func(int, Args) int64 { return neg(unix.EINVAL) }
	if r := call(task, unix.SYS_CLOSE_RANGE, 3, 10, 1<<5); r != neg(unix.EINVAL) {
		t.Errorf("close_range with a bad flag = %d, want the kernel's EINVAL", r)
	}
}

func TestGetdents64HidesTheHostsFDs(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	// fd 9 is open on this process's fd directory, as the fake's link says.
	const dir = 9
	f.HostFiles.(*fakeFiles).links["/proc/thread-self/fd/9"] = "/proc/" + itoa(pid) + "/fd"
	join := dirents
	reads := [][]byte{join(".", "..", "0", "1000", "7", "1001"), join("1002"), nil}
	f.ret = func(nr int, a Args) int64 {
		b := reads[0]
		reads = reads[1:]
		f.WriteMem(a[1], b)
		return int64(len(b))
	}
	buf := uint64(guestMem)
	fd := uint64(dir)
	if r := call(task, unix.SYS_GETDENTS64, fd, buf, 1024); r != int64(len(join(".", "..", "0", "7"))) {
		t.Fatalf("getdents64 = %d", r)
	}
	if got := f.mem[guestMem][:len(join(".", "..", "0", "7"))]; string(got) != string(join(".", "..", "0", "7")) {
		t.Errorf("listing %q", got)
	}
	// A buffer of host fds alone reads on; the end of the directory is 0.
	if r := call(task, unix.SYS_GETDENTS64, fd, buf, 1024); r != 0 {
		t.Errorf("getdents64 of the host's fds alone = %d, want 0 (the end)", r)
	}
	if len(f.calls) != 3 {
		t.Errorf("host calls %v, want 3 reads", f.calls)
	}
}

func TestExitOfOneThread(t *testing.T) {
	main, f := fakeTask(t, nil, [2]uint64{})
	p := main.P
	other := p.NewTask(new(cblock.ControlBlock))
	other.tidAddress = 0x7000_0100
	if r := call(other, unix.SYS_EXIT, 3); r != 0 {
		t.Fatalf("exit = %d", r)
	}
	if p.live != 1 || p.tasks[other.CB] != nil {
		t.Errorf("live %d, task still listed %v", p.live, p.tasks[other.CB] != nil)
	}
	if other.CB.Flags&cblock.FlagLeave == 0 || other.clearTID != 0x7000_0100 {
		t.Errorf("flags %#x, clearTID %#x: the thread must leave and clear its tid word", other.CB.Flags, other.clearTID)
	}
	expectCalls(t, f)
}

// A process-directed signal the relay recorded on a thread after its
// exit's last look at its signals (sysExit's retarget), in the instant
// before vsysbed_run blocks the relayed signals again, is the process's
// once the thread has left (Task.left): queued for it, the thread that
// takes it kicked, before the block goes back to the pool for another
// thread. The host thread's mask is left as vsysbed_run gave it back.
func TestAThreadThatLeftHandsOnWhatTheRelayRecorded(t *testing.T) {
	main, f := fakeTask(t, nil, [2]uint64{})
	p := main.P
	plat := platformOf(main)
	main.CB.Tid = 5555
	other := p.NewTask(new(cblock.ControlBlock))
	if r := call(other, unix.SYS_EXIT, 0); r != 0 {
		t.Fatalf("exit = %d", r)
	}
	expectCalls(t, f)
	usr1 := int(unix.SIGUSR1)
	si := userInfo(usr1, siUser)
	put32(si[16:], 424242) // the sender: another process's kill()
	other.CB.HostInfo[usr1-1] = si
	rt := 40 // a sigqueue's, which the relay keeps blocked once recorded
	other.CB.HostInfo[rt-1] = userInfo(rt, siQueue)
	other.CB.HostSig = bit(usr1) | bit(rt)
	goMask := bit(usr1) | bit(rt)
	plat.mask = goMask
	other.left()
	if p.sig.pending.mask&(bit(usr1)|bit(rt)) != bit(usr1)|bit(rt) {
		t.Fatalf("pending %#x: the signals the relay recorded on the thread that left were lost", p.sig.pending.mask)
	}
	if got := p.sig.pending.take(usr1); le32(got[16:]) != 424242 {
		t.Errorf("queued with sender %d, want 424242", le32(got[16:]))
	}
	kickMain := fakeCall{unix.SYS_TGKILL, Args{uint64(pid), 5555, uint64(cblock.KickSignal)}}
	expectCalls(t, f, kickMain, kickMain) // one for each
	if plat.mask != goMask {
		t.Errorf("host mask %#x after the thread left, want %#x (Go's, the relayed signals blocked)", plat.mask, goMask)
	}
	if other.CB.HostSig != 0 {
		t.Errorf("the block still holds %#x for its next thread", other.CB.HostSig)
	}
}

// dirents is a getdents64 buffer of the names.
func dirents(names ...string) []byte {
	var b []byte
	for _, name := range names {
		reclen := (19 + len(name) + 1 + 7) &^ 7
		e := make([]byte, reclen)
		e[16], e[17] = byte(reclen), byte(reclen>>8)
		copy(e[19:], name)
		b = append(b, e...)
	}
	return b
}

// The guest's listings of /proc/self/task and /proc/self/map_files name
// its own threads and mappings only, as a native process's do.
func TestGetdents64OfTaskAndMapFiles(t *testing.T) {
	main, _, f := mainFakeTask(t)
	realFiles(f) // the directories are real, their listings the fake's
	main.P.vmas.add(0x10000, 0x20000)
	for _, c := range []struct {
		dir  string
		in   []string
		want []string
	}{
		{"/proc/self/task", []string{".", "..", itoa(pid), itoa(pid + 1), "999999"}, []string{".", "..", itoa(pid), itoa(pid + 1)}},
		{"/proc/self/map_files", []string{".", "..", "10000-20000", "555555554000-555555556000"}, []string{".", "..", "10000-20000"}},
	} {
		dir, err := os.Open(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		in := dirents(c.in...)
		f.ret = func(nr int, a Args) int64 { f.WriteMem(a[1], in); return int64(len(in)) }
		want := dirents(c.want...)
		if r := call(main, unix.SYS_GETDENTS64, uint64(dir.Fd()), guestMem, 1024); r != int64(len(want)) || string(f.mem[guestMem][:r]) != string(want) {
			t.Errorf("listing of %s: %d bytes, want %d (%q)", c.dir, r, len(want), c.want)
		}
		dir.Close()
	}
}
