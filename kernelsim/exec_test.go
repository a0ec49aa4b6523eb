package kernelsim

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// putStrings writes the NULL-terminated pointer array of strs at addr and
// the strings after it; it returns the address after the last string.
func putStrings(f *fakeMachine, addr uint64, strs ...string) uint64 {
	s := addr + 8*uint64(len(strs)+1)
	for i, str := range strs {
		f.putU64(addr+8*uint64(i), s)
		f.WriteMem(s, append([]byte(str), 0))
		s += uint64(len(str)) + 1
	}
	f.putU64(addr+8*uint64(len(strs)), 0)
	return s
}

// Everything execve can fail with before its point of no return leaves
// the process as it was: its memory, and the image it runs.
func TestExecveFailsBeforeThePointOfNoReturn(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	p := task.P
	var checked []string
	p.checkExec = func(path string, argv, envp []string) error {
		checked = append(append(checked, path), argv...)
		return unix.ENOEXEC
	}
	execed := false
	p.exec = func(string, []string, []string) (*Image, error) { execed = true; return nil, unix.EIO }

	path := uint64(guestMem)
	f.WriteMem(path, []byte("/bin/prog\x00"))
	argv := uint64(guestMem + 64)
	putStrings(f, argv, "prog", "-x")
	bad := uint64(guestMem + 1024)
	f.putU64(bad, 0x10) // a pointer to nothing
	f.putU64(bad+8, 0)

	for _, c := range []struct {
		name             string
		path, argv, envp uint64
		want             unix.Errno
	}{
		{"path to nothing", 0x10, argv, 0, unix.EFAULT},
		{"argv to nothing", path, 0x10, 0, unix.EFAULT},
		{"a string to nothing in argv", path, bad, 0, unix.EFAULT},
		{"envp to nothing", path, argv, 0x10, unix.EFAULT},
		{"the loader refuses the file", path, argv, 0, unix.ENOEXEC},
	} {
		if r := call(task, unix.SYS_EXECVE, c.path, c.argv, c.envp); r != -int64(c.want) {
			t.Errorf("%s: execve = %d, want %v", c.name, r, c.want)
		}
	}
	if want := "[/bin/prog prog -x]"; len(checked) != 3 || checked[0] != "/bin/prog" || checked[2] != "-x" {
		t.Errorf("CheckExec saw %q, want %s", checked, want)
	}
	if execed {
		t.Error("the new image was mapped after a check failed")
	}
	if !p.vmas.covers(0x10000, 0x20000) {
		t.Error("a failed execve unmapped the guest's memory")
	}
	// execveat: an empty path needs AT_EMPTY_PATH.
	empty := uint64(guestMem + 2048)
	f.WriteMem(empty, []byte{0})
	if r := call(task, unix.SYS_EXECVEAT, uint64(0xffffffffffffff9c), empty, argv, 0, 0); r != -int64(unix.ENOENT) {
		t.Errorf("execveat(\"\") = %d, want ENOENT", r)
	}
	expectCalls(t, f)
}

// Past the point of no return, what execve(2) says Linux keeps and drops:
// the old mappings go, caught signals return to SIG_DFL (ignored ones stay
// ignored), the mask and pending signals stay, the alternate stack, the
// robust list and the clear-tid address are cleared, the process is
// dumpable again, O_CLOEXEC fds are closed; the thread resumes at the new
// image's entry.
func TestExecveReplacesTheImage(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{0x100000, 0x200000})
	p := task.P
	p.checkExec = func(string, []string, []string) error { return nil }
	var gotArgv []string
	p.exec = func(path string, argv, envp []string) (*Image, error) {
		gotArgv = argv
		return &Image{Exe: path, Argv: argv, Envp: envp, Entry: 0x501000, SP: 0x7ff000,
			Mappings: [][2]uint64{{0x500000, 0x510000}}, BrkStart: 0x600000, BrkMax: 0x700000}, nil
	}
	// fd 7 is O_CLOEXEC, the others are not: the fake's fcntl says so;
	// 1003 is the host's (never asked).
	f.HostFiles.(*fakeFiles).dirs["/proc/self/fd"] = []string{"0", "1", "1003", "2", "7"}
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_FCNTL && a[0] == 7 {
			return unix.FD_CLOEXEC
		}
		return 0
	}
	usr1, usr2, term := int(unix.SIGUSR1), int(unix.SIGUSR2), int(unix.SIGTERM)
	p.sig.actions[usr1] = sigaction{handler: 0x401000, flags: saRestart}
	p.sig.actions[usr2] = sigaction{handler: sigIgn}
	task.sigmask = bit(term)
	task.pending.add(term, userInfo(term, siUser))
	task.altstack = altstack{Sp: 0x30000, Size: 0x4000}
	task.robustList, task.tidAddress = 0x1234, 0x5678
	task.CB.GuestFS = 0x7f00_0000_0000
	p.confinement.Undumpable = true

	path := uint64(guestMem)
	f.WriteMem(path, []byte("/bin/new\x00"))
	argv := uint64(guestMem + 64)
	putStrings(f, argv, "new", "-y")
	if r := call(task, unix.SYS_EXECVE, path, argv, 0); r != 0 {
		t.Fatalf("execve = %d", r)
	}
	if fmt.Sprint(gotArgv) != "[new -y]" || p.Exe != "/bin/new" || fmt.Sprint(p.Argv) != "[new -y]" {
		t.Errorf("image %q, argv %q", p.Exe, p.Argv)
	}
	var unmapped, closed []Args
	for _, c := range f.calls {
		switch c.nr {
		case unix.SYS_MUNMAP:
			unmapped = append(unmapped, c.a)
		case unix.SYS_CLOSE:
			closed = append(closed, c.a)
		}
	}
	if fmt.Sprint(unmapped) != fmt.Sprint([]Args{{0x10000, 0x10000}, {0x100000, 0x100000}}) {
		t.Errorf("unmapped %#x, want the old image and break", unmapped)
	}
	if fmt.Sprint(closed) != fmt.Sprint([]Args{{7}}) {
		t.Errorf("closed %v, want fd 7 alone", closed)
	}
	if p.vmas.covers(0x10000, 0x11000) || !p.vmas.covers(0x500000, 0x510000) || !p.vmas.covers(0x600000, 0x700000) {
		t.Error("the guest's ranges are not the new image's")
	}
	if r := call(task, unix.SYS_BRK, 0); r != 0x600000 {
		t.Errorf("brk(0) = %#x, want the new break", r)
	}
	if h := p.sig.actions[usr1].handler; h != sigDfl {
		t.Errorf("a caught SIGUSR1's handler is %#x, want SIG_DFL", h)
	}
	if h := p.sig.actions[usr2].handler; h != sigIgn {
		t.Errorf("an ignored SIGUSR2's handler is %#x, want SIG_IGN still", h)
	}
	if task.sigmask != bit(term) || task.pending.mask != bit(term) {
		t.Errorf("mask %#x, pending %#x: both survive execve", task.sigmask, task.pending.mask)
	}
	if task.altstack.Flags != ssDisable || task.robustList != 0 || task.tidAddress != 0 || task.CB.GuestFS != 0 {
		t.Errorf("altstack %+v, robust list %#x, tid address %#x, fs %#x: all cleared", task.altstack, task.robustList, task.tidAddress, task.CB.GuestFS)
	}
	if r := call(task, unix.SYS_PRCTL, prGetDumpable); r != 1 {
		t.Errorf("PR_GET_DUMPABLE after execve = %d, want 1", r)
	}
	if cb := task.CB; cb.Trap.Rip != 0x501000 || cb.Trap.Rsp != 0x7ff000 || cb.Flags&cblock.FlagResume == 0 {
		t.Errorf("resumes at rip %#x rsp %#x, flags %#x", cb.Trap.Rip, cb.Trap.Rsp, cb.Flags)
	}
}
