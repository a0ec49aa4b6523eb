package kernelsim

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/vaspace"
)

// realShm answers the fake's shmat, shmdt and munmap with the host's, so
// that a real segment is attached where the handler says, and reads this
// process's real maps (realFiles).
func realShm(f *fakeMachine) {
	realFiles(f)
	f.ret = func(nr int, a Args) int64 {
		switch nr {
		case unix.SYS_SHMAT, unix.SYS_SHMDT, unix.SYS_MUNMAP:
			return hostMachine{}.Syscall(nr, &a)
		}
		return 0
	}
}

func newSegment(t *testing.T, size int) int {
	t.Helper()
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Skipf("no System V shared memory here: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	return id
}

// shmat(id, 0) attaches in the guest's window, over a reservation (the
// kernel would choose host memory); shmdt detaches only the guest's
// attachments; the checks are do_shmat's.
func TestShmatAndShmdt(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	realShm(f)
	id := newSegment(t, 5000)
	for _, c := range []struct {
		name string
		a    []uint64
		want unix.Errno
	}{
		{"an unaligned address without SHM_RND", []uint64{uint64(id), 0x10001, 0}, unix.EINVAL},
		{"SHM_REMAP without an address", []uint64{uint64(id), 0, shmRemap}, unix.EINVAL},
		{"no such segment", []uint64{0x7ffffff0, 0, 0}, unix.EINVAL},
	} {
		if r := call(task, unix.SYS_SHMAT, c.a...); r != neg(c.want) {
			t.Errorf("shmat(%s) = %d, want %v", c.name, r, c.want)
		}
	}
	expectCalls(t, f)
	r := call(task, unix.SYS_SHMAT, uint64(id), 0, 0)
	if r < 0 {
		t.Fatalf("shmat = %d", r)
	}
	at := uint64(r)
	if at < vaspace.Lo || at >= vaspace.Hi {
		t.Errorf("attached at %#x, outside the guest's window [%#x, %#x)", at, vaspace.Lo, vaspace.Hi)
	}
	if len(f.calls) != 1 || f.calls[0].nr != unix.SYS_SHMAT || f.calls[0].a[1] != at || f.calls[0].a[2] != shmRemap {
		t.Errorf("host calls %v, want one shmat over the reservation with SHM_REMAP", f.calls)
	}
	f.calls = nil
	// The segment's size in pages is the guest's now.
	if !task.P.vmas.covers(at, at+2*pageSize) {
		t.Error("the attachment is not the guest's")
	}
	// Writable, and the segment's: a second attachment sees the byte.
	b := unsafeSlice(at, 2*pageSize)
	b[4999] = 42
	r2 := call(task, unix.SYS_SHMAT, uint64(id), 0, unix.SHM_RDONLY)
	if r2 < 0 || unsafeSlice(uint64(r2), 2*pageSize)[4999] != 42 {
		t.Fatalf("second shmat = %d", r2)
	}
	f.calls = nil
	for _, c := range []struct {
		addr uint64
		want unix.Errno
	}{
		{at + 1, unix.EINVAL},
		{0x10000, unix.EINVAL}, // nothing attached there
	} {
		if r := call(task, unix.SYS_SHMDT, c.addr); r != neg(c.want) {
			t.Errorf("shmdt(%#x) = %d, want %v", c.addr, r, c.want)
		}
	}
	expectCalls(t, f)
	if r := call(task, unix.SYS_SHMDT, at); r != 0 {
		t.Errorf("shmdt = %d", r)
	}
	if task.P.vmas.covers(at, at+pageSize) {
		t.Error("a detached attachment is still the guest's")
	}
	if !task.P.vmas.covers(uint64(r2), uint64(r2)+2*pageSize) {
		t.Error("shmdt of one attachment dropped the other")
	}
	if r := call(task, unix.SYS_SHMDT, uint64(r2)); r != 0 {
		t.Errorf("shmdt of the second = %d", r)
	}
}

// An explicit address is MAP_FIXED-like: SHM_REMAP only over the guest's
// own ranges (never over host memory).
func TestShmatAtAnAddressKeepsRemapToTheGuest(t *testing.T) {
	res, e := vaspace.Map(4*pageSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, res, 4*pageSize, 0)
	base := uint64(res)
	task, f := fakeTask(t, [][2]uint64{{base, base + 2*pageSize}}, [2]uint64{})
	realShm(f)
	id := newSegment(t, pageSize)
	if r := call(task, unix.SYS_SHMAT, uint64(id), base, shmRemap); r != int64(base) {
		t.Fatalf("shmat over the guest's range = %#x", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_SHMAT, Args{uint64(id), base, shmRemap}})
	// Over memory that is not the guest's, SHM_REMAP is dropped: the
	// kernel refuses the occupied range.
	if r := call(task, unix.SYS_SHMAT, uint64(id), base+2*pageSize, shmRemap); r != neg(unix.EINVAL) {
		t.Errorf("shmat over host memory = %d, want EINVAL", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_SHMAT, Args{uint64(id), base + 2*pageSize, 0}})
	// SHM_RND rounds down to the page.
	if r := call(task, unix.SYS_SHMAT, uint64(id), base+pageSize+5, shmRemap|unix.SHM_RND); r != int64(base+pageSize) {
		t.Errorf("shmat with SHM_RND = %#x, want %#x", r, base+pageSize)
	}
}

// unsafeSlice is n bytes of this process's memory at addr (an attachment).
func unsafeSlice(addr uint64, n int) []byte { return unsafe.Slice((*byte)(guestPtr(addr)), n) }
