package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A host fd in poll's array answers as a closed fd does on Linux: POLLNVAL
// for its entry, counted, and no wait; the guest's array keeps its fds.
func TestPollOfAHostFD(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	f.ret = func(nr int, a Args) int64 { return hostMachine{}.Syscall(nr, &a) } // the copy is real memory
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	fds := uint64(guestMem)
	for i, e := range []struct {
		fd     int
		events uint16
	}{{1001, unix.POLLIN}, {pipe[0], unix.POLLIN}, {pipe[1], unix.POLLOUT}} {
		b := f.mem[guestMem][8*i:]
		put32(b, uint32(e.fd))
		b[4], b[5] = byte(e.events), byte(e.events>>8)
		b[6], b[7] = 0xff, 0xff // revents: the call's to write
	}
	// An infinite timeout: the host fd's POLLNVAL ends it at once.
	if r := call(task, unix.SYS_POLL, fds, 3, ^uint64(0)); r != 2 {
		t.Fatalf("poll = %d, want 2 (the host fd and the writable end)", r)
	}
	b := f.mem[guestMem]
	for i, want := range []uint16{unix.POLLNVAL, 0, unix.POLLOUT} {
		if got := uint16(b[8*i+6]) | uint16(b[8*i+7])<<8; got != want {
			t.Errorf("entry %d: revents %#x, want %#x", i, got, want)
		}
	}
	if int32(le32(b[0:])) != 1001 {
		t.Errorf("the guest's array now names fd %d", int32(le32(b[0:])))
	}
	// Without a host fd, the call is the kernel's as it came.
	put32(b[0:], uint32(pipe[1]))
	f.calls = nil
	f.ret = nil
	call(task, unix.SYS_POLL, fds, 3, 0)
	expectCalls(t, f, fakeCall{unix.SYS_POLL, Args{fds, 3, 0}})
}

// select: a host fd's bit below the size of the guest's fd table is a
// closed fd's EBADF; beyond it, Linux ignores the bit (cleared here).
func TestSelectOfAHostFD(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	entry.RaiseFDHigh(1100)
	table := fdTableSize()
	if table <= 1001 || table+8 > pageSize*8 {
		t.Fatalf("fd table of %d", table)
	}
	set := uint64(guestMem)
	b := f.mem[guestMem]
	b[1001/8] |= 1 << (1001 % 8)
	if r := call(task, unix.SYS_SELECT, 1002, set, 0, 0, 0); r != neg(unix.EBADF) {
		t.Errorf("select with host fd 1001 = %d, want EBADF", r)
	}
	expectCalls(t, f)
	clear(b)
	beyond := table + 3
	b[beyond/8] |= 1 << (beyond % 8)
	b[0] = 1 // fd 0
	call(task, unix.SYS_SELECT, uint64(beyond+1), 0, set, 0, 0)
	expectCalls(t, f, fakeCall{unix.SYS_SELECT, Args{uint64(beyond + 1), 0, set}})
	if b[beyond/8] != 0 || b[0] != 1 {
		t.Errorf("set bytes %#x (fd %d), %#x (fd 0): only the host fd's bit is cleared", b[beyond/8], beyond, b[0])
	}
	// pselect6 alike.
	b[1001/8] |= 1 << (1001 % 8)
	task.CB.Nr = unix.SYS_PSELECT6
	if r := call(task, unix.SYS_PSELECT6, 1002, set, 0, 0, 0, 0); r != neg(unix.EBADF) {
		t.Errorf("pselect6 with host fd 1001 = %d, want EBADF", r)
	}
	// nfds below the host's fds: nothing to look at.
	f.calls = nil
	call(task, unix.SYS_PSELECT6, 1000, set, 0, 0, 0, 0)
	expectCalls(t, f, fakeCall{unix.SYS_PSELECT6, Args{1000, set}})
}
