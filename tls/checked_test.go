package tls

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The checked route (entry.c's checked_call) against the real kernel:
// each call runs in C only when kernelsim's handler would have passed it
// through, and what goes to kernelsim has left nothing behind (no fd, no
// truncation).
func TestCheckedCall(t *testing.T) {
	var proc unix.Stat_t
	if err := unix.Stat("/proc/self", &proc); err != nil {
		t.Fatal(err)
	}
	defer SetHostFDBase(HostFDBase())
	SetHostFDBase(1000)
	defer SetProcDev(0)
	SetProcDev(proc.Dev)

	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	cstr := func(s string) uint64 {
		b := append([]byte(s), 0)
		keep = append(keep, b)
		return uint64(uintptr(unsafe.Pointer(&b[0])))
	}
	fdcwd := int64(unix.AT_FDCWD)
	atCwd := uint64(fdcwd)
	openat := func(path string, flags, mode uint64) (int64, bool) {
		return checkedCall(unix.SYS_OPENAT, [6]uint64{atCwd, cstr(path), flags, mode})
	}
	open := func(path string) int {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	isOpen := func(fd int) bool {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err == nil
	}
	fdsBefore := countFDs(t)

	// openat: an ordinary file, a directory with a stray mode, an error.
	if r, ran := openat(file, unix.O_RDONLY|unix.O_CLOEXEC, 0); !ran || r < 0 {
		t.Errorf("openat of a plain file: ran %v, %d; want an fd from C", ran, r)
	} else {
		unix.Close(int(r))
	}
	if r, ran := openat(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0o755); !ran || r < 0 {
		t.Errorf("openat of a directory with a mode: ran %v, %d; want an fd from C (open ignores the mode)", ran, r)
	} else {
		unix.Close(int(r))
	}
	if r, ran := openat(filepath.Join(dir, "none"), unix.O_RDONLY, 0); !ran || r != -int64(unix.ENOENT) {
		t.Errorf("openat of a missing file: ran %v, %d; want -ENOENT from C", ran, r)
	}
	if r, ran := openat(filepath.Join(dir, "new"), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600); !ran || r < 0 {
		t.Errorf("openat creating a file: ran %v, %d; want an fd from C", ran, r)
	} else {
		unix.Close(int(r))
		if st, err := os.Stat(filepath.Join(dir, "new")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("the created file: %v, %v; want mode 600", st, err)
		}
	}

	// openat: kernelsim's. A magic link (nothing truncated), a /proc file
	// by its name and through an ordinary symlink, /proc itself.
	fd := open(file)
	defer unix.Close(fd)
	if _, ran := openat("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_TRUNC, 0); ran {
		t.Error("openat through a magic link ran in C")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the magic link's file was truncated: %q", b)
	}
	if err := os.Symlink("/proc/self/status", filepath.Join(dir, "status")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/proc/self/maps", filepath.Join(dir, "status"), "/proc"} {
		if _, ran := openat(p, unix.O_RDONLY|unix.O_CLOEXEC, 0); ran {
			t.Errorf("openat of %s ran in C", p)
		}
	}
	// open(2) is openat at the cwd.
	if r, ran := checkedCall(unix.SYS_OPEN, [6]uint64{cstr(file), unix.O_RDONLY | unix.O_CLOEXEC}); !ran || r < 0 {
		t.Errorf("open of a plain file: ran %v, %d; want an fd from C", ran, r)
	} else {
		unix.Close(int(r))
	}
	if _, ran := checkedCall(unix.SYS_OPEN, [6]uint64{cstr("/proc/self/fd/" + strconv.Itoa(fd)), unix.O_WRONLY | unix.O_TRUNC}); ran {
		t.Error("open through a magic link ran in C")
	}
	if _, ran := checkedCall(unix.SYS_OPEN, [6]uint64{cstr("/proc/self/maps"), unix.O_RDONLY | unix.O_CLOEXEC}); ran {
		t.Error("open of /proc/self/maps ran in C")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("open's magic link's file was truncated: %q", b)
	}
	if exe, err := os.Executable(); err == nil {
		SetExeIno(inodeOf(t, exe))
		if _, ran := openat(exe, unix.O_RDONLY|unix.O_CLOEXEC, 0); ran {
			t.Error("openat of vsysbed's binary (its inode) ran in C")
		}
		SetExeIno(0)
	}

	// getdents64: a directory elsewhere in C; /proc's fd and task
	// directories, and /proc itself, are kernelsim's.
	buf := make([]byte, 4096)
	getdents := func(fd int) (int64, bool) {
		return checkedCall(unix.SYS_GETDENTS64, [6]uint64{uint64(fd), uint64(uintptr(unsafe.Pointer(&buf[0]))), uint64(len(buf))})
	}
	d := open(dir)
	if r, ran := getdents(d); !ran || r <= 0 {
		t.Errorf("getdents64 of a temporary directory: ran %v, %d; want its entries from C", ran, r)
	}
	unix.Close(d)
	for _, p := range []string{"/proc/self/fd", "/proc/self/task", "/proc"} {
		d := open(p)
		if _, ran := getdents(d); ran {
			t.Errorf("getdents64 of %s ran in C", p)
		}
		unix.Close(d)
	}

	// close: a plain fd in C; a signalfd's (or an unread maps file's)
	// and one at or above the host's base are kernelsim's.
	closeFD := func(fd int) (int64, bool) { return checkedCall(unix.SYS_CLOSE, [6]uint64{uint64(fd)}) }
	c := open(file)
	if r, ran := closeFD(c); !ran || r != 0 || isOpen(c) {
		t.Errorf("close of a plain fd: ran %v, %d, still open %v; want closed by C", ran, r, isOpen(c))
	}
	c = open(file)
	MarkSignalfd(c, true)
	if _, ran := closeFD(c); ran || !isOpen(c) {
		t.Errorf("close of a marked signalfd: ran %v, still open %v; want it left to kernelsim", ran, isOpen(c))
	}
	MarkSignalfd(c, false)
	unix.Close(c)
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, ran := closeFD(high); ran || !isOpen(high) {
		t.Errorf("close of fd %d (at the host's base 1000): ran %v; want it left to kernelsim", high, ran)
	}
	unix.Close(high)

	// Without /proc's device every call is kernelsim's.
	SetProcDev(0)
	if r, ran := openat(file, unix.O_RDONLY|unix.O_CLOEXEC, 0); ran {
		t.Error("openat ran in C before the entry knew /proc's device")
		unix.Close(int(r))
	}
	if n := countFDs(t); n != fdsBefore+1 { // fd, still open
		t.Errorf("%d fds open after the calls, want %d: a checked call left one behind", n, fdsBefore+1)
	}
}

// keep holds the C strings of a test until it ends.
var keep [][]byte

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // ReadDir's own
}

func inodeOf(t *testing.T, path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
