package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
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
