package kernelsim

import (
	"fmt"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests run handlers over fds against the fake machine alone (its
// fd table, its files): every fd the handler asks about, closes or lists
// is the fake's, so a call that went to the host directly would miss the
// fake's table and answer differently.

// openFDs is the fake fd table's numbers, sorted.
func openFDs(f *fakeMachine) []int {
	var fds []int
	for fd := range f.fds {
		fds = append(fds, fd)
	}
	sort.Ints(fds)
	return fds
}

// close_range over the host's range closes the guest's fds there, found
// in the calling thread's fd directory, and never the host's.
func TestCloseRangeClosesTheGuestsHighFDsOnly(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	e := useFakeEntry(t)
	e.SetHostFDBase(1000)
	e.MarkGuestFD(1500, true)
	f.fds = map[int]int{0: 0, 1: 0, 3: 0, 1000: 0, 1004: 0, 1500: 0}
	files := f.HostFiles.(*fakeFiles)
	files.dirs["/proc/thread-self/fd"] = []string{"0", "1", "1000", "1004", "1500", "3"}
	if r := call(task, unix.SYS_CLOSE_RANGE, 3, 2000, 0); r != 0 {
		t.Fatalf("close_range(3, 2000) = %d", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_CLOSE_RANGE, Args{3, 999}}, fakeCall{unix.SYS_CLOSE, Args{1500}})
	if got := fmt.Sprint(openFDs(f)); got != "[0 1 3 1000 1004]" {
		t.Errorf("open after close_range: %s, want the host's 1000 and 1004 kept", got)
	}
	if !e.IsHostFD(1500) {
		t.Errorf("1500 is still the guest's after its close")
	}

	// CLOSE_RANGE_CLOEXEC marks the guest's, and leaves the host's alone.
	f.fds[1200] = 0
	e.MarkGuestFD(1200, true)
	files.dirs["/proc/thread-self/fd"] = []string{"1000", "1004", "1200"}
	if r := call(task, unix.SYS_CLOSE_RANGE, 1000, 1300, closeRangeCloexec); r != 0 {
		t.Fatalf("close_range(CLOEXEC) = %d", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_FCNTL, Args{1200, unix.F_SETFD, unix.FD_CLOEXEC}})
	if f.fds[1200] != unix.FD_CLOEXEC || f.fds[1000] != 0 || f.fds[1004] != 0 {
		t.Errorf("fd flags %v: only 1200 is close-on-exec", f.fds)
	}
}

// execve closes the guest's close-on-exec fds, listed in /proc/self/fd and
// asked of the fd table one by one; a host fd is never asked, even one
// marked close-on-exec (all of the host's are).
func TestExecCloseOnExecThroughTheFDTable(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	e := useFakeEntry(t)
	e.SetHostFDBase(1000)
	f.fds = map[int]int{0: 0, 4: unix.FD_CLOEXEC, 5: 0, 1001: unix.FD_CLOEXEC}
	f.HostFiles.(*fakeFiles).dirs["/proc/self/fd"] = []string{"0", "1001", "4", "5"}
	task.P.closeOnExec()
	getfd := func(fd uint64) fakeCall { return fakeCall{unix.SYS_FCNTL, Args{fd, unix.F_GETFD}} }
	expectCalls(t, f, getfd(0), getfd(4), fakeCall{unix.SYS_CLOSE, Args{4}}, getfd(5))
	if got := fmt.Sprint(openFDs(f)); got != "[0 5 1001]" {
		t.Errorf("open after exec: %s, want 4 closed alone", got)
	}
}

// An open that reached a /proc file by another name (a symlink elsewhere)
// is recognised by fstat of the fd it returned and named by its link in
// /proc/thread-self/fd: the guest gets its view, and the fd is closed.
func TestOpenedFDOnProcIsNamedByItsLink(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	plat := platformOf(task)
	task.P.Argv = []string{"prog", "-x"}
	files := f.HostFiles.(*fakeFiles)
	const opened = 5
	f.fds = map[int]int{0: 0, 1: 0, 2: 0, opened: 0}
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_OPENAT2 {
			return opened
		}
		return 0
	}
	files.stats[fdKey(opened)] = unix.Stat_t{Dev: procDevice(), Mode: unix.S_IFREG | 0o444}
	files.links["/proc/thread-self/fd/5"] = "/proc/" + itoa(pid) + "/cmdline"
	path := uint64(guestMem)
	f.WriteMem(path, []byte("/tmp/elsewhere\x00"))
	files.asked = nil
	r := call(task, unix.SYS_OPEN, path, unix.O_RDONLY)
	if r < 0 || r == opened {
		t.Fatalf("open = %d, want the platform's file", r)
	}
	unix.Close(int(r)) // the fake platform's memfd is real
	if fmtList(plat.files) != "[prog\x00-x\x00]" {
		t.Errorf("the platform made %q, want the guest's cmdline", plat.files)
	}
	if _, open := f.fds[opened]; open {
		t.Errorf("the fd the kernel opened is still open")
	}
	if got := fmt.Sprint(files.asked); got != "[stat fd:5 readlink /proc/thread-self/fd/5]" {
		t.Errorf("asked %s", got)
	}

	// Not on procfs (fstat says so): the guest's fd as it came.
	f.fds[opened] = 0
	files.stats[fdKey(opened)] = unix.Stat_t{Dev: procDevice() + 1, Mode: unix.S_IFREG}
	if r := call(task, unix.SYS_OPEN, path, unix.O_RDONLY); r != opened {
		t.Errorf("open of an ordinary file = %d, want %d", r, opened)
	}
}

// readlink of a /proc/self/fd/N that names a host fd is ENOENT, however
// the path reaches it: a path relative to a dirfd on /proc/self/fd is
// resolved by an O_PATH open whose link and fstat say what it is; an
// O_PATH fd of the link itself (readlinkat(fd, "")) by its own link.
func TestReadlinkOfAHostFDsLinkThroughTheMachine(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	e := useFakeEntry(t)
	e.SetHostFDBase(1000)
	files := f.HostFiles.(*fakeFiles)
	self := "/proc/" + itoa(pid) + "/fd"
	path, buf := uint64(guestMem), uint64(guestMem+512)
	const dir = 8 // the guest's fd of its /proc/self/fd
	files.links["/proc/thread-self/fd/8"] = self
	link := func(fd int, name string) {
		files.opens[fdKey(dir)+"/"+name] = fd
		files.links["/proc/thread-self/fd/"+itoa(fd)] = self + "/" + name
		files.stats[fdKey(fd)] = unix.Stat_t{Dev: procDevice(), Mode: unix.S_IFLNK | 0o500}
	}
	link(21, "1001")
	link(22, "7")
	files.asked = nil
	f.WriteMem(path, []byte("1001\x00"))
	if r := call(task, unix.SYS_READLINKAT, dir, path, buf, 64); r != neg(unix.ENOENT) {
		t.Errorf("readlinkat(/proc/self/fd, 1001) of a host fd = %d, want ENOENT", r)
	}
	expectCalls(t, f) // nothing passed through
	if got := fmt.Sprint(files.asked); got != "[readlink /proc/thread-self/fd/8 open fd:8/1001 readlink /proc/thread-self/fd/21 stat fd:21 close fd:21]" {
		t.Errorf("asked %s", got)
	}

	// A guest fd's link by the same way passes through.
	f.WriteMem(path, []byte("7\x00"))
	call(task, unix.SYS_READLINKAT, dir, path, buf, 64)
	expectCalls(t, f, fakeCall{unix.SYS_READLINKAT, Args{dir, path, buf, 64}})

	// readlinkat(fd, "") of an O_PATH fd of the host fd's link.
	files.links["/proc/thread-self/fd/9"] = self + "/1002"
	f.WriteMem(path, []byte("\x00"))
	if r := call(task, unix.SYS_READLINKAT, 9, path, buf, 64); r != neg(unix.ENOENT) {
		t.Errorf("readlinkat(fd, \"\") of a host fd's link = %d, want ENOENT", r)
	}
	expectCalls(t, f)
}

// A new process's fd table size is the highest fd its /proc/self/fd
// lists below the host's base, or a guest fd above it; a fork child's the
// highest it installed.
func TestFDHighIsReadFromTheFDTable(t *testing.T) {
	f := &fakeMachine{HostFiles: newFakeFiles()}
	old := machine
	machine = f
	t.Cleanup(func() { machine = old })
	e := useFakeEntry(t)
	e.SetHostFDBase(1000)
	e.MarkGuestFD(1500, false)
	f.HostFiles.(*fakeFiles).dirs["/proc/self/fd"] = []string{"0", "1", "1000", "1001", "2", "9"}
	applyFDArgs(1000, nil)
	if got := e.FDHigh(); got != 9 {
		t.Errorf("fd high %d, want 9 (the host's 1000 and 1001 left out)", got)
	}
	e.MarkGuestFD(1500, true)
	f.HostFiles.(*fakeFiles).dirs["/proc/self/fd"] = []string{"0", "1000", "1500"}
	applyFDArgs(1000, nil)
	if got := e.FDHigh(); got != 1500 {
		t.Errorf("fd high %d, want the guest's 1500", got)
	}
	// A fork child's, from the fds it installed: the listing is not read.
	e = useFakeEntry(t)
	e.SetHostFDBase(1000)
	applyFDArgs(1000, []int{0, 1, 5})
	if got := e.FDHigh(); got != 5 {
		t.Errorf("fd high %d from the installed 0, 1, 5; want 5, not the listing's 1500", got)
	}
}

// The /proc readers read the host's file through the Machine: the guest's
// maps are the fake's lines clipped to its ranges, its status the fake's
// with the guest's fields, and a file the machine cannot read is its errno.
func TestProcReadersReadTheMachinesFiles(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	task.CB.Tid = uint64(pid)
	files := f.HostFiles.(*fakeFiles)
	files.files["/proc/self/maps"] = []byte("00010000-00020000 r-xp 00000000 fe:00 42 /guest\n" +
		"00400000-00500000 r-xp 00000000 fe:00 7 /vsysbed\n")
	c, ok, errno := task.P.mapsContent("maps", "/proc/self/maps")
	if !ok || errno != 0 || string(c) != "00010000-00020000 r-xp 00000000 fe:00 42 /guest\n" {
		t.Errorf("maps = %q, %v, %d; want the guest's line alone", c, ok, errno)
	}
	if _, ok, errno := task.P.mapsContent("maps", "/proc/self/task/1/maps"); !ok || errno != neg(unix.ENOENT) {
		t.Errorf("maps of a file the machine has not = %v, %d; want ENOENT", ok, errno)
	}
	files.files["/proc/self/status"] = []byte("Name:\tguest\nThreads:\t9\nSigBlk:\tffffffffffffffff\n")
	task.sigmask = bit(int(unix.SIGUSR1))
	c, ok, errno = task.procStatusContent("/proc/self/status")
	if !ok || errno != 0 || string(c) != "Name:\tguest\nThreads:\t1\nSigBlk:\t0000000000000200\n" {
		t.Errorf("status = %q, %v, %d", c, ok, errno)
	}
}

// A fork child puts each passed fd at its guest number (a high one only
// where the host holds nothing), closes what it was passed, and closes the
// rest below the host's base between the guest's numbers.
func TestInstallFDsThroughTheFDTable(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	e := useFakeEntry(t)
	f.calls = nil
	f.fds = map[int]int{300: 0, 301: 0, 302: 0, 303: 0, 1500: unix.FD_CLOEXEC}
	st := &ForkState{FDs: []ForkFD{{Num: 0}, {Num: 1, Cloexec: true}, {Num: 1500}, {Num: 1600, Cloexec: true}}}
	guest := installFDs(st, []int{300, 301, 302, 303}, 1000)
	if got := fmt.Sprint(guest); got != "[0 1 1600]" {
		t.Errorf("installFDs returned %s, want the guest's [0 1 1600]", got)
	}
	expectCalls(t, f,
		fakeCall{unix.SYS_DUP3, Args{300, 0, 0}},
		fakeCall{unix.SYS_DUP3, Args{301, 1, unix.O_CLOEXEC}},
		fakeCall{unix.SYS_FCNTL, Args{1500, unix.F_GETFD}}, // the host's: left alone
		fakeCall{unix.SYS_FCNTL, Args{1600, unix.F_GETFD}},
		fakeCall{unix.SYS_DUP3, Args{303, 1600, unix.O_CLOEXEC}},
		fakeCall{unix.SYS_CLOSE, Args{300}}, fakeCall{unix.SYS_CLOSE, Args{301}},
		fakeCall{unix.SYS_CLOSE, Args{302}}, fakeCall{unix.SYS_CLOSE, Args{303}},
		fakeCall{unix.SYS_CLOSE_RANGE, Args{2, 999}})
	if got := fmt.Sprint(openFDs(f)); got != "[0 1 1500 1600]" {
		t.Errorf("open after installFDs: %s", got)
	}
	if e.IsHostFD(1600) || !e.IsHostFD(1500) {
		t.Errorf("1600 is the guest's, 1500 the host's: %v, %v", !e.IsHostFD(1600), e.IsHostFD(1500))
	}
}

// fork's snapshot lists the guest's fds (the host's left out) and dups
// each above the host's base, and reopens the guest's file mappings (by
// map_files) from the maps the machine gives: the host's lines are not
// the guest's, an anonymous one needs no file.
func TestSnapshotThroughTheMachine(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}, {0x30000, 0x31000}}, [2]uint64{})
	p := task.P
	e := useFakeEntry(t)
	e.SetHostFDBase(1000)
	files := f.HostFiles.(*fakeFiles)
	f.fds = map[int]int{0: 0, 1: unix.FD_CLOEXEC, 5: 0, 1001: unix.FD_CLOEXEC, 40: 0}
	files.dirs["/proc/self/fd"] = []string{"0", "1", "1001", "5"}
	files.files["/proc/self/maps"] = []byte("00010000-00020000 r-xp 00000000 fe:00 42 /lib/guest.so\n" +
		"00030000-00031000 rw-p 00000000 00:00 0\n" +
		"00400000-00500000 r-xp 00000000 fe:00 7 /vsysbed\n")
	files.opens["/proc/self/map_files/10000-20000"] = 40
	files.asked = nil
	st := &ForkState{}
	passed, err := p.snapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(st.FDs); got != "[{0 false} {1 true} {5 false}]" {
		t.Errorf("guest fds %s", got)
	}
	if got := fmt.Sprint(passed); got != "[1200 1201 1202 1203]" {
		t.Errorf("passed %s: the guest's three fds and the library, above the host's base", got)
	}
	if len(st.Regions) != 2 || st.Regions[0].FD != 3 || st.Regions[0].Path != "/lib/guest.so" || st.Regions[1].FD != -1 || st.NumFiles != 1 {
		t.Errorf("regions %+v, %d files", st.Regions, st.NumFiles)
	}
	if got := fmt.Sprint(files.asked); got != "[list /proc/self/fd read /proc/self/maps open /proc/self/map_files/10000-20000 close fd:40]" {
		t.Errorf("asked %s", got)
	}
}

// A wait for any child sees only spares when every thread's children file
// (the fake machine's /proc/PID/task/TID/children) lists spares alone.
func TestOnlySparesReadsEveryThreadsChildren(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	files := f.HostFiles.(*fakeFiles)
	task := "/proc/" + itoa(pid) + "/task/"
	files.dirs[task[:len(task)-1]] = []string{"10", "11"}
	files.files[task+"10/children"] = []byte("500 ")
	files.files[task+"11/children"] = []byte("")
	StartSpare()(500)
	t.Cleanup(func() { DropSpare(500) })
	if !onlySpares() {
		t.Error("a spare alone is a child of the guest's")
	}
	files.files[task+"11/children"] = []byte("600 ")
	if onlySpares() {
		t.Error("child 600 of thread 11 is not seen")
	}
}

// The guest's task count for RLIMIT_NPROC is the user's tasks in the fake
// machine's /proc, less vsysbed's own processes (the same binary as ours)
// and other users'.
func TestCountTasksReadsTheMachinesProc(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	files := f.HostFiles.(*fakeFiles)
	files.dirs["/proc"] = []string{"100", "200", "300", "self"}
	status := func(uid, threads int) []byte {
		return []byte(fmt.Sprintf("Name:\tx\nUid:\t%d\t%d\t%d\t%d\nThreads:\t%d\n", uid, uid, uid, uid, threads))
	}
	files.files["/proc/100/status"] = status(1000, 3)
	files.files["/proc/200/status"] = status(1000, 5)
	files.files["/proc/300/status"] = status(0, 9)
	files.stats["/proc/self/exe"] = unix.Stat_t{Dev: 1, Ino: 42}
	files.stats["/proc/100/exe"] = unix.Stat_t{Dev: 1, Ino: 7}
	files.stats["/proc/200/exe"] = unix.Stat_t{Dev: 1, Ino: 42} // vsysbed
	if total, guest := countTasks(1000, t.TempDir()); total != 8 || guest != 3 {
		t.Errorf("countTasks = %d total, %d the guest's; want 8, 3", total, guest)
	}
}
