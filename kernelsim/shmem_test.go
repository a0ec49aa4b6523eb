package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestShmemInode(t *testing.T) {
	cases := []struct {
		line string
		ino  uint64
		ok   bool
	}{
		{"4fffe0000000-4fffe0004000 rw-s 00000000 00:01 2071 /memfd:vsysbed-shmem (deleted)", 2071, true},
		{"4fffe0000000-4fffe0004000 rw-s 00000000 00:01 2071 /memfd:vsysbed-proc (deleted)", 0, false},
		{"4fffe0000000-4fffe0004000 rw-s 00000000 00:01 2071 /dev/zero (deleted)", 0, false},
		{"4fffe0000000-4fffe0004000 rw-s 00000000 00:01 x /memfd:vsysbed-shmem (deleted)", 0, false},
		{"4fffe0000000-4fffe0004000 rw-s 00000000 00:01 2071 /memfd:vsysbed-shmem", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		ino, ok := shmemInode(c.line)
		if ino != c.ino || ok != c.ok {
			t.Errorf("shmemInode(%q) = %d, %v; want %d, %v", c.line, ino, ok, c.ino, c.ok)
		}
	}
}

// A memfd stays while a mapping uses it and is closed once none does.
func TestShmemCollect(t *testing.T) {
	plat := &fakePlatform{}
	p := &Process{HostFDBase: 1000, plat: plat}
	mapped, e := p.newShmem(3 * pageSize)
	if e != 0 {
		t.Fatal(e)
	}
	addr, err := unix.Mmap(mapped, 0, 3*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(addr)
	addr[3*pageSize-1] = 1 // sized to the mapping: no SIGBUS
	unused, e := p.newShmem(pageSize)
	if e != 0 {
		t.Fatal(e)
	}
	expectLog(t, plat, "MemFile vsysbed-shmem 0x3000", "MemFile vsysbed-shmem 0x1000")
	p.collectShmem()
	if _, ok := p.shmem[mapped]; !ok {
		t.Errorf("the mapped memfd was collected: %v", p.shmem)
	}
	if _, ok := p.shmem[unused]; ok {
		t.Errorf("the unused memfd was kept: %v", p.shmem)
	}
	if _, err := unix.FcntlInt(uintptr(unused), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("the unused memfd %d is still open (%v)", unused, err)
	}
	p.closeShmem()
	if len(p.shmem) != 0 {
		t.Errorf("closeShmem left %v", p.shmem)
	}
	if _, err := unix.FcntlInt(uintptr(mapped), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("the mapped memfd %d is still open after closeShmem (%v)", mapped, err)
	}
	if _, e := p.newShmem(0); e != unix.EINVAL {
		t.Errorf("newShmem(0) = %v, want EINVAL", e)
	}
}

// A shared anonymous mapping larger than a file may be is ENOMEM, as
// Linux's shmem answers; the platform's other errors are the guest's.
func TestNewShmemErrors(t *testing.T) {
	plat := &fakePlatform{}
	p := &Process{HostFDBase: 1000, plat: plat}
	for _, c := range []struct {
		length    uint64
		plat      unix.Errno
		want      unix.Errno
		platAsked bool
	}{
		{0, 0, unix.EINVAL, false},
		{^uint64(0) - 10, 0, unix.EINVAL, false}, // wraps when rounded up
		{pageSize, unix.EFBIG, unix.ENOMEM, true},
		{pageSize, unix.EMFILE, unix.EMFILE, true},
	} {
		plat.memErr, plat.log = c.plat, nil
		if fd, e := p.newShmem(c.length); fd != -1 || e != c.want || (len(plat.log) == 1) != c.platAsked {
			t.Errorf("newShmem(%#x) with the platform's %v = %d, %v (asked: %v), want %v", c.length, c.plat, fd, e, plat.log, c.want)
		}
	}
	if len(p.shmem) != 0 {
		t.Errorf("failed memfds recorded: %v", p.shmem)
	}
}
