package kernelsim

import (
	"bufio"
	"bytes"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guest's fd table and files as kernelsim itself asks them, always
// through the Machine (machine.go): by number as host calls (hostCall),
// by path or into a buffer as its HostFiles. A unit test's fake answers
// them from its tables (machine_test.go), so an fd guard, a close the
// host's fds must survive or a /proc link is tested without a guest.

// errOf is errno as an error: nil for 0 (an Errno 0 in an error would not
// be nil).
func errOf(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// hostFcntl is fcntl(fd, cmd, arg) with an integer arg.
func hostFcntl(fd, cmd, arg int) (int, error) {
	r, errno := hostCall(unix.SYS_FCNTL, uint64(fd), uint64(cmd), uint64(arg))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// fdOpen: fd is open in the calling thread's table (F_GETFD succeeds).
func fdOpen(fd int) bool {
	_, err := hostFcntl(fd, unix.F_GETFD, 0)
	return err == nil
}

func hostClose(fd int) error {
	_, errno := hostCall(unix.SYS_CLOSE, uint64(fd))
	return errOf(errno)
}

func hostDup3(oldfd, newfd, flags int) error {
	_, errno := hostCall(unix.SYS_DUP3, uint64(oldfd), uint64(newfd), uint64(flags))
	return errOf(errno)
}

// hostCloseRange is close_range(first, last, 0).
func hostCloseRange(first, last int) error {
	_, errno := hostCall(unix.SYS_CLOSE_RANGE, uint64(first), uint64(last), 0)
	return errOf(errno)
}

// hostFstat is fstat(fd).
func hostFstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := machine.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH)
	return st, err
}

// hostStat is stat(path), following a final symlink.
func hostStat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := machine.Fstatat(unix.AT_FDCWD, path, &st, 0)
	return st, err
}

// readlinkHost is the target of the link path.
func readlinkHost(path string) (string, error) {
	return machine.Readlinkat(unix.AT_FDCWD, path)
}

// fdLink is what the calling thread's fd is open on, as
// /proc/thread-self/fd names it.
func fdLink(fd int) (string, error) {
	return readlinkHost("/proc/thread-self/fd/" + strconv.Itoa(fd))
}

// fdNumbers lists the fds of the fd directory dir (/proc/thread-self/fd,
// /proc/self/fd), host fds included, unsorted as numbers.
func fdNumbers(dir string) []int {
	names, err := machine.ReadDir(dir)
	if err != nil {
		return nil
	}
	fds := make([]int, 0, len(names))
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// hostLines scans the lines of a host file (a /proc/self maps file) read
// whole through the Machine.
func hostLines(path string) (*bufio.Scanner, error) {
	b, err := machine.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bufio.NewScanner(bytes.NewReader(b)), nil
}

// hostPwrite is pwrite(fd, b, off); b is pinned for the call.
func hostPwrite(fd int, b []byte, off int64) error {
	if len(b) == 0 {
		return nil
	}
	var pin runtime.Pinner
	pin.Pin(&b[0])
	defer pin.Unpin()
	_, errno := hostCall(unix.SYS_PWRITE64, uint64(fd), uint64(uintptr(unsafe.Pointer(&b[0]))), uint64(len(b)), uint64(off))
	return errOf(errno)
}

// hostPreadFull fills b from fd at off (pread, b pinned for each call); a
// read cut short by the end of the file is EIO.
func hostPreadFull(fd int, b []byte, off int64) error {
	var pin runtime.Pinner
	defer pin.Unpin()
	for len(b) > 0 {
		pin.Pin(&b[0])
		n, errno := hostCall(unix.SYS_PREAD64, uint64(fd), uint64(uintptr(unsafe.Pointer(&b[0]))), uint64(len(b)), uint64(off))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		if n == 0 {
			return unix.EIO
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
