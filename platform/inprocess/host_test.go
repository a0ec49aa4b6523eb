package inprocess

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestCloseHeld closes runs of placeholder fds and leaves the fd between
// them, an inherited one, open.
func TestCloseHeld(t *testing.T) {
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	var fds []int
	for i := range 7 {
		fd := 700 + i // above what the test binary holds
		if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	// Inherited: the fourth and the last; held: the rest (runs of 3 and 2).
	inherited := []int{fds[3], fds[6]}
	held := []int{fds[0], fds[1], fds[2], fds[4], fds[5]}
	closeHeld(held)
	for _, fd := range held {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("held fd %d still open (%v)", fd, err)
		}
	}
	for _, fd := range inherited {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("inherited fd %d closed: %v", fd, err)
		}
		unix.Close(fd)
	}
}
