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

// TestHoldBelow fills every free number below the base, ascending, as
// F_DUPFD's loop did, across more than one SCM_RIGHTS message, and leaves
// an inherited fd in the range, and every number from the base up, as
// they were.
func TestHoldBelow(t *testing.T) {
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	low := null + 1
	base := low + 2*scmMaxFD + 40 // three messages
	inherited := base - 5         // in the last message: its copy lands at the base
	if err := unix.Dup3(null, inherited, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(inherited)
	if _, err := unix.FcntlInt(uintptr(base), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd %d (the base) is open in the test binary", base)
	}
	var want []int // the free numbers: the test binary holds some too
	for fd := low; fd < base; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == unix.EBADF {
			want = append(want, fd)
		}
	}
	held := holdBelow(null, base)
	defer closeHeld(held)
	if len(held) != len(want) {
		t.Fatalf("held %d fds, want %d", len(held), len(want))
	}
	for i, fd := range held {
		if fd != want[i] {
			t.Fatalf("held[%d] = %d, want %d", i, fd, want[i])
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Fatalf("held fd %d: flags %#x, %v (want open, close-on-exec)", fd, flags, err)
		}
	}
	for fd := base; fd < base+scmMaxFD; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Fatalf("fd %d at or above the base left open", fd)
		}
	}
}
