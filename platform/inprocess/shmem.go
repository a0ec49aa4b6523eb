package inprocess

import "golang.org/x/sys/unix"

// MemFile: a memfd of size bytes, moved above the guest's fds.
func (pl platform) MemFile(name string, size uint64) (int, unix.Errno) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, errnoOf(err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	if hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, pl.fdBase+300); err == nil {
		unix.Close(fd)
		fd = hi
	}
	return fd, 0
}
