package kernelsim

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procCanonical asks the real kernel: every spelling of this process's
// mem is /proc/PID/mem or /proc/PID/task/TID/mem.
func TestProcCanonicalSpellings(t *testing.T) {
	self := "/proc/" + itoa(pid)
	tid := unix.Gettid()
	dir := t.TempDir()
	link := filepath.Join(dir, "m")
	if err := os.Symlink("/proc/self/mem", link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain")
	if err := os.Symlink("m", chain); err != nil {
		t.Fatal(err)
	}
	procSelf, err := unix.Open("/proc/self", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(procSelf)
	for _, c := range []struct {
		dirfd      int
		path, want string
	}{
		{unix.AT_FDCWD, "/proc/self/mem", self + "/mem"},
		{unix.AT_FDCWD, "/proc//self/./task/../mem", self + "/mem"},
		{unix.AT_FDCWD, "/proc/self/task/" + itoa(tid) + "/../../mem", self + "/mem"},
		{unix.AT_FDCWD, "/proc/self/task/" + itoa(pid) + "/mem", self + "/task/" + itoa(pid) + "/mem"},
		{unix.AT_FDCWD, link, self + "/mem"},
		{unix.AT_FDCWD, chain, self + "/mem"},
		{procSelf, "mem", self + "/mem"},
		{procSelf, "exe", self + "/exe"}, // a magic link: not followed
		{unix.AT_FDCWD, "/proc/self/fd/0", self + "/fd/0"},
	} {
		got, ok := procCanonical(c.dirfd, c.path)
		if !ok || got != c.want {
			t.Errorf("procCanonical(%d, %q) = %q %v, want %q", c.dirfd, c.path, got, ok, c.want)
		}
	}
	if got, ok := procCanonical(unix.AT_FDCWD, "/proc/self/thread-self-nonesuch"); ok {
		t.Errorf("a missing file resolved to %q", got)
	}
}

// open(2) through a magic link fails with ELOOP under
// RESOLVE_NO_MAGICLINKS, before anything is opened or truncated.
func TestOpenNoMagicLinks(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(f, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	p := append([]byte("/proc/self/fd/"+itoa(fd)), 0)
	r := openNoMagicLinks(unix.AT_FDCWD, uint64(uintptrOf(&p[0])), unix.O_WRONLY|unix.O_TRUNC, 0)
	if r != -int64(unix.ELOOP) {
		t.Fatalf("open through a magic link = %d, want -ELOOP", r)
	}
	if b, _ := os.ReadFile(f); string(b) != "keep" {
		t.Errorf("the file was truncated: %q", b)
	}
	q := append([]byte(f), 0)
	r = openNoMagicLinks(unix.AT_FDCWD, uint64(uintptrOf(&q[0])), unix.O_RDONLY|1<<30, 0o777)
	if r < 0 {
		t.Fatalf("an ordinary open with a stray flag and mode = %d", r)
	}
	unix.Close(int(r))
	// open(2) ignores the mode unless it may create; O_DIRECTORY is a
	// part of unix.O_TMPFILE, but not the bit that creates.
	d := append([]byte(filepath.Dir(f)), 0)
	r = openNoMagicLinks(unix.AT_FDCWD, uint64(uintptrOf(&d[0])), unix.O_RDONLY|unix.O_DIRECTORY, 0o755)
	if r < 0 {
		t.Fatalf("open of a directory with O_DIRECTORY and a mode = %d, want an fd (open ignores the mode)", r)
	}
	unix.Close(int(r))
	if how := openHowOf(unix.O_RDWR|unix.O_TMPFILE, 0o100600); how.Mode != 0o600 {
		t.Errorf("O_TMPFILE's mode = %o, want 600", how.Mode)
	}
}

func uintptrOf(b *byte) uintptr { return uintptr(unsafe.Pointer(b)) }

// A guest's openat2 gets RESOLVE_NO_MAGICLINKS added to its own open_how.
func TestOpenat2NoMagicLinks(t *testing.T) {
	how := unix.OpenHow{Flags: unix.O_RDONLY}
	p := append([]byte("/proc/self/fd/0"), 0)
	hb := unsafe.Slice((*byte)(unsafe.Pointer(&how)), unix.SizeofOpenHow)
	r := openat2NoMagicLinks(unix.AT_FDCWD, uint64(uintptrOf(&p[0])), uint64(uintptrOf(&hb[0])), unix.SizeofOpenHow)
	if r != -int64(unix.ELOOP) {
		t.Errorf("openat2 through a magic link = %d, want -ELOOP", r)
	}
	if how.Resolve != 0 {
		t.Errorf("the guest's open_how was changed: %+v", how)
	}
	if r := openat2NoMagicLinks(unix.AT_FDCWD, uint64(uintptrOf(&p[0])), uint64(uintptrOf(&hb[0])), 8); r != -int64(unix.ENOSYS) {
		t.Errorf("a short open_how = %d, want -ENOSYS (left to the kernel)", r)
	}
}
