// Package hostfiles is the host's files and fd table read by the real
// kernel: what kernelsim's Machine answers for the calls kernelsim makes on
// a guest's behalf beyond raw syscalls (its /proc readers, fd listings and
// links, the status of an fd). The in-process platform's Machine and
// kernelsim's test-only host machine both embed Files, so the two cannot
// drift apart; the unit tests' fake answers the same methods from tables.
//
// Every error is a unix.Errno, as the fake's are, so a caller can hand it
// to the guest as it is.
package hostfiles

import (
	"errors"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// Files reads the host's files with the calling thread's fd table and
// credentials (kernelsim runs each guest thread's calls on its own host
// thread: /proc/thread-self is that thread's).
type Files struct{}

// ReadFile is the whole content of path (a /proc file is read to its end:
// os.ReadFile grows its buffer past the size stat gives, 0 for procfs).
func (Files) ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	return b, errnoOf(err)
}

// ReadDir is the names in directory path, sorted, without "." and "..".
func (Files) ReadDir(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errnoOf(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, errnoOf(err)
	}
	sort.Strings(names)
	return names, nil
}

// Readlinkat is the target of the symlink path relative to dirfd (path ""
// with an O_PATH|O_NOFOLLOW fd of a symlink: that symlink's).
func (Files) Readlinkat(dirfd int, path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, path, buf)
	if err != nil {
		return "", errnoOf(err)
	}
	return string(buf[:n]), nil
}

// Fstatat is fstatat(2): path "" with AT_EMPTY_PATH is fstat of dirfd.
func (Files) Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	return errnoOf(unix.Fstatat(dirfd, path, st, flags))
}

// Openat is openat(2).
func (Files) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	fd, err := unix.Openat(dirfd, path, flags, mode)
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, nil
}

// Close is close(2).
func (Files) Close(fd int) error { return errnoOf(unix.Close(fd)) }

// Statx is statx(2).
func (Files) Statx(dirfd int, path string, flags, mask int, stx *unix.Statx_t) error {
	return errnoOf(unix.Statx(dirfd, path, flags, mask, stx))
}

// errnoOf unwraps os's *PathError and *SyscallError; an error that carries
// no errno (none is expected) is EIO.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}
