package hostfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The real calls, on a temporary directory: what kernelsim's fake answers
// (kernelsim/fakefiles_test.go) must mean the same, errors as bare errnos.
func TestFilesAreTheKernels(t *testing.T) {
	var fs Files
	dir := t.TempDir()
	file := filepath.Join(dir, "b")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b", filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(file); err != nil || string(b) != "content" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if b, err := fs.ReadFile("/proc/self/status"); err != nil || !strings.Contains(string(b), "\nPid:\t") {
		t.Errorf("ReadFile of /proc/self/status: %v (size 0 in stat, read to its end)", err)
	}
	if names, err := fs.ReadDir(dir); err != nil || strings.Join(names, ",") != "a,b" {
		t.Errorf("ReadDir = %q, %v; want [a b], sorted, no . and ..", names, err)
	}
	if l, err := fs.Readlinkat(unix.AT_FDCWD, filepath.Join(dir, "a")); err != nil || l != "b" {
		t.Errorf("Readlinkat = %q, %v", l, err)
	}
	fd, err := fs.Openat(unix.AT_FDCWD, filepath.Join(dir, "a"), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := fs.Readlinkat(fd, ""); err != nil || l != "b" {
		t.Errorf("Readlinkat(an O_PATH fd of the link, \"\") = %q, %v", l, err)
	}
	var st unix.Stat_t
	if err := fs.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("Fstatat(AT_EMPTY_PATH) mode %o, %v; want the link's", st.Mode, err)
	}
	if err := fs.Close(fd); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := fs.Close(fd); err != unix.EBADF {
		t.Errorf("Close of a closed fd = %v, want EBADF", err)
	}
	var stx unix.Statx_t
	if err := fs.Statx(unix.AT_FDCWD, file, 0, unix.STATX_SIZE, &stx); err != nil || stx.Size != 7 {
		t.Errorf("Statx size %d, %v", stx.Size, err)
	}
	missing := filepath.Join(dir, "none")
	for name, err := range map[string]error{
		"ReadFile": func() error { _, err := fs.ReadFile(missing); return err }(),
		"ReadDir":  func() error { _, err := fs.ReadDir(missing); return err }(),
		"Readlink": func() error { _, err := fs.Readlinkat(unix.AT_FDCWD, missing); return err }(),
		"Fstatat":  fs.Fstatat(unix.AT_FDCWD, missing, &st, 0),
		"Openat":   func() error { _, err := fs.Openat(unix.AT_FDCWD, missing, unix.O_RDONLY, 0); return err }(),
		"Statx":    fs.Statx(unix.AT_FDCWD, missing, 0, 0, &stx),
	} {
		if err != unix.ENOENT {
			t.Errorf("%s of a missing file = %#v, want the bare ENOENT", name, err)
		}
	}
}
