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
	p := &Process{HostFDBase: 1000}
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
	if mapped < p.HostFDBase || unused < p.HostFDBase {
		t.Errorf("memfds %d, %d: not in the host's range", mapped, unused)
	}
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
