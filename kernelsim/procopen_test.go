package kernelsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hostOpens answers the fake's openat2 as the kernel would with
// RESOLVE_NO_MAGICLINKS: ELOOP through a magic link (a path whose last
// component, followed, is a /proc link), else a real open, read-only, of
// the path in guest memory.
func hostOpens(t *testing.T, f *fakeMachine) {
	t.Helper()
	realFiles(f) // what kernelsim asks of an opened fd is about a real one
	f.ret = func(nr int, a Args) int64 {
		if nr != unix.SYS_OPENAT2 && nr != unix.SYS_OPEN && nr != unix.SYS_OPENAT {
			return 0
		}
		pa := a[1]
		if nr == unix.SYS_OPEN {
			pa = a[0]
		}
		path, err := readString(pa, 4096)
		if err != nil {
			return neg(unix.EFAULT)
		}
		if nr == unix.SYS_OPENAT2 && (strings.Contains(path, "/fd/") || strings.HasSuffix(path, "/exe")) {
			return neg(unix.ELOOP)
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return int64(fd)
	}
}

func readFD(t *testing.T, r int64) string {
	t.Helper()
	if r < 0 {
		t.Fatalf("open = %d", r)
	}
	defer unix.Close(int(r))
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", r))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// This process's /proc files answer for the guest, in any spelling.
func TestOpenOfTheProcessesProcFiles(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	hostOpens(t, f)
	p := task.P
	p.Argv = []string{"prog", "-x"}
	p.Envp = []string{"A=1", "B="}
	p.Auxv = []uint64{6, 4096, 0, 0}
	exe := filepath.Join(t.TempDir(), "guest")
	if err := os.WriteFile(exe, []byte("the guest's image"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.Exe = exe
	path := uint64(guestMem)
	open := func(name string, flags uint64) int64 {
		f.WriteMem(path, append([]byte(name), 0))
		return call(task, unix.SYS_OPENAT, uint64(unix.AT_FDCWD&0xffffffff), path, flags)
	}
	self := "/proc/" + itoa(pid)
	for _, c := range []struct{ name, want string }{
		{"/proc/self/cmdline", "prog\x00-x\x00"},
		{self + "/cmdline", "prog\x00-x\x00"},
		{"/proc/self/task/../environ", "A=1\x00B=\x00"},
		{"/proc/self/auxv", "\x06\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00", 16)},
		{"/proc/self/exe", "the guest's image"},
	} {
		if got := readFD(t, open(c.name, unix.O_RDONLY)); got != c.want {
			t.Errorf("%s reads %q, want %q", c.name, got, c.want)
		}
	}
	// O_CLOEXEC is the fd's.
	r := open("/proc/self/cmdline", unix.O_RDONLY|unix.O_CLOEXEC)
	if fl, _ := unix.FcntlInt(uintptr(r), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("O_CLOEXEC lost")
	}
	unix.Close(int(r))
	// A host fd's link is not there, as a closed fd's.
	if err := unix.Dup2(2, 1003); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(1003)
	if r := open("/proc/self/fd/1003", unix.O_RDONLY); r != neg(unix.ENOENT) {
		t.Errorf("open of a host fd's link = %d, want ENOENT", r)
	}
	// vsysbed's: the memory the host shares is not the guest's to write.
	if r := open("/proc/self/mem", unix.O_RDWR); r != neg(unix.EACCES) {
		t.Errorf("open of mem for writing = %d, want EACCES", r)
	}
	// Anything else is the kernel's.
	if got := readFD(t, open("/proc/self/comm", unix.O_RDONLY)); got == "" {
		t.Error("comm is empty")
	}
	f.calls = nil
	if r := open("/nonexistent/x", unix.O_RDONLY); r != neg(unix.ENOENT) {
		t.Errorf("open of nothing = %d", r)
	}
}

func TestOpenat2(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	hostOpens(t, f)
	task.P.Argv = []string{"prog"}
	path, how := uint64(guestMem), uint64(guestMem+512)
	f.WriteMem(path, []byte("/proc/self/cmdline\x00"))
	if r := call(task, unix.SYS_OPENAT2, uint64(unix.AT_FDCWD&0xffffffff), path, how, 24); readFD(t, r) != "prog\x00" {
		t.Error("openat2 of cmdline is not the guest's")
	}
	if r := call(task, unix.SYS_OPENAT2, uint64(unix.AT_FDCWD&0xffffffff), path, 0x10, 24); r != neg(unix.EFAULT) {
		t.Errorf("openat2 with open_how to nothing = %d, want EFAULT", r)
	}
	f.calls = nil
	call(task, unix.SYS_OPENAT2, uint64(unix.AT_FDCWD&0xffffffff), path, how, 16)
	expectCalls(t, f, fakeCall{unix.SYS_OPENAT2, Args{uint64(unix.AT_FDCWD & 0xffffffff), path, how, 16}})
}

// stat of /proc/self/exe follows the link: to the guest's image, not
// vsysbed's binary; lstat and AT_SYMLINK_NOFOLLOW see the link itself.
func TestStatOfExeIsTheGuestImage(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	realFiles(f) // a real image, and vsysbed's binary is this test's
	exe := filepath.Join(t.TempDir(), "guest")
	os.WriteFile(exe, []byte("x"), 0o755)
	task.P.Exe = exe
	var guest, host unix.Stat_t
	unix.Stat(exe, &guest)
	unix.Stat("/proc/self/exe", &host)
	path, buf := uint64(guestMem), uint64(guestMem+1024)
	f.WriteMem(path, []byte("/proc/self/exe\x00"))
	f.ret = func(nr int, a Args) int64 { // the kernel found vsysbed's binary
		switch nr {
		case unix.SYS_STATX:
			put32(f.mem[guestMem][1024+136:], unix.Major(host.Dev))
			put32(f.mem[guestMem][1024+140:], unix.Minor(host.Dev))
			f.putU64(buf+32, host.Ino)
		default:
			f.putU64(buf, host.Dev)
			f.putU64(buf+8, host.Ino)
		}
		return 0
	}
	if r := call(task, unix.SYS_STAT, path, buf); r != 0 || f.u64(buf+8) != guest.Ino {
		t.Errorf("stat = %d, ino %d; want the guest's %d", r, f.u64(buf+8), guest.Ino)
	}
	if r := call(task, unix.SYS_NEWFSTATAT, uint64(unix.AT_FDCWD&0xffffffff), path, buf, unix.AT_SYMLINK_NOFOLLOW); r != 0 || f.u64(buf+8) != host.Ino {
		t.Errorf("newfstatat(AT_SYMLINK_NOFOLLOW) = %d, ino %d: the link itself is the kernel's answer", r, f.u64(buf+8))
	}
	if r := call(task, unix.SYS_NEWFSTATAT, uint64(unix.AT_FDCWD&0xffffffff), path, buf, 0); r != 0 || f.u64(buf+8) != guest.Ino {
		t.Errorf("newfstatat = %d, ino %d", r, f.u64(buf+8))
	}
	if r := call(task, unix.SYS_STATX, uint64(unix.AT_FDCWD&0xffffffff), path, 0, unix.STATX_BASIC_STATS, buf); r != 0 || f.u64(buf+32) != guest.Ino {
		t.Errorf("statx = %d, ino %d", r, f.u64(buf+32))
	}
	// vsysbed's binary reached another way is itself.
	f.WriteMem(path, []byte("/proc/1/exe\x00"))
	if r := call(task, unix.SYS_STAT, path, buf); r != 0 || f.u64(buf+8) != host.Ino {
		t.Errorf("stat of another process's exe = %d, ino %d", r, f.u64(buf+8))
	}
}

// status and stat show the guest's threads and signal state, the
// confinement vsysbed started under; a host thread's files are not there.
func TestStatusAndStatAreTheGuests(t *testing.T) {
	main, other, f := mainFakeTask(t)
	hostOpens(t, f)
	p := main.P
	p.confinement = Confinement{Seccomp: "0", SeccompFilters: "0", NoNewPrivs: "0"}
	usr1, usr2, term, hup := int(unix.SIGUSR1), int(unix.SIGUSR2), int(unix.SIGTERM), int(unix.SIGHUP)
	main.sigmask = bit(usr1) | bit(40)
	other.sigmask = bit(hup)
	main.pending.add(usr1, userInfo(usr1, siUser))
	p.sig.pending.add(40, userInfo(40, siUser))
	p.sig.actions[usr2] = sigaction{handler: sigIgn}
	p.sig.actions[term] = sigaction{handler: 0x401000}
	path := uint64(guestMem)
	read := func(name string) string {
		f.WriteMem(path, append([]byte(name), 0))
		return readFD(t, call(main, unix.SYS_OPEN, path, unix.O_RDONLY))
	}
	st := []byte(read("/proc/self/status"))
	for key, want := range map[string]string{
		"Threads": "2",
		"SigPnd":  fmt.Sprintf("%016x", bit(usr1)),
		"ShdPnd":  fmt.Sprintf("%016x", bit(40)),
		"SigBlk":  fmt.Sprintf("%016x", bit(usr1)|bit(40)),
		"SigIgn":  fmt.Sprintf("%016x", bit(usr2)),
		"SigCgt":  fmt.Sprintf("%016x", bit(term)),
		"Seccomp": "0", "NoNewPrivs": "0",
	} {
		if got, _ := statusField(st, key); got != want {
			t.Errorf("status %s: %q, want %q", key, got, want)
		}
	}
	// Another guest thread's: its own mask.
	st = []byte(read(fmt.Sprintf("/proc/self/task/%d/status", pid)))
	if got, _ := statusField(st, "SigBlk"); got != fmt.Sprintf("%016x", bit(usr1)|bit(40)) {
		t.Errorf("the main thread's SigBlk %q", got)
	}
	_, fields, ok := statFields([]byte(read("/proc/self/stat")))
	if !ok || len(fields) < 32 {
		t.Fatalf("stat has %d fields", len(fields))
	}
	// Fields 20 and 31-34, the last four decimal and signals 1-31 only.
	for n, want := range map[int]uint64{20: 2, 31: bit(usr1), 32: bit(usr1), 33: bit(usr2), 34: bit(term)} {
		if got := fields[n-3]; got != fmt.Sprint(want) {
			t.Errorf("stat field %d: %s, want %d", n, got, want)
		}
	}
	// A thread of the host's (the test's own, not a guest's).
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		if e.Name() == itoa(pid) || e.Name() == itoa(pid+1) { // the guest's
			continue
		}
		f.WriteMem(path, []byte("/proc/self/task/"+e.Name()+"/status\x00"))
		if r := call(main, unix.SYS_OPEN, path, unix.O_RDONLY); r != neg(unix.ENOENT) {
			t.Errorf("status of host thread %s = %d, want ENOENT", e.Name(), r)
		}
		break
	}
}
