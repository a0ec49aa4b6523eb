package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSysvLine(t *testing.T) {
	cases := []struct {
		line string
		ok   bool
		want sysvMapping
	}{
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 0                          /SYSV00000000 (deleted)",
			true, sysvMapping{Start: 0x7f436fcb6000, End: 0x7f436fcb7000, Prot: unix.PROT_READ | unix.PROT_WRITE, ID: 0}},
		{"4fff00001000-4fff00003000 r-xs 00001000 00:01 32769 /SYSV0052e2c1 (deleted)",
			true, sysvMapping{Start: 0x4fff00001000, End: 0x4fff00003000, Offset: 0x1000, Prot: unix.PROT_READ | unix.PROT_EXEC, ID: 32769}},
		// Not attachments: a private mapping, a live file, a memfd, a
		// deleted file of another name, a malformed key or inode.
		{"7f436fcb6000-7f436fcb7000 rw-p 00000000 00:01 0 /SYSV00000000 (deleted)", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 08:01 1234 /SYSV00000000", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 1234 /memfd:x (deleted)", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 08:01 1234 /tmp/SYSV00000000 (deleted)", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 1234 /SYSVzz000000 (deleted)", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 1234 /SYSV000000 (deleted)", false, sysvMapping{}},
		{"7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 -1 /SYSV00000000 (deleted)", false, sysvMapping{}},
		{"7f436fcb7000-7f436fcb6000 rw-s 00000000 00:01 1 /SYSV00000000 (deleted)", false, sysvMapping{}},
		{"garbage", false, sysvMapping{}},
		{"", false, sysvMapping{}},
	}
	for _, c := range cases {
		got, ok := parseSysvLine(c.line)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("parseSysvLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestSysvGroupEnd(t *testing.T) {
	const pg = pageSize
	shm := func(start, end, off uint64, id int) ForkRegion {
		return ForkRegion{Start: start, End: end, Offset: off, ShmID: id, ShmSize: 3 * pg, Shared: true, FD: -1}
	}
	rs := []ForkRegion{
		// One attachment split in three by mprotect.
		shm(0x10000, 0x11000, 0, 1), shm(0x11000, 0x12000, pg, 1), shm(0x12000, 0x13000, 2*pg, 1),
		// Another attachment of the same segment right after it.
		shm(0x13000, 0x16000, 0, 1),
		// The same segment's tail at a hole's distance: a third.
		shm(0x17000, 0x18000, 2*pg, 1),
		// Another segment, adjacent, at a consistent offset by chance.
		shm(0x18000, 0x19000, 0, 2),
		// A plain mapping.
		{Start: 0x19000, End: 0x1a000, FD: -1},
	}
	want := [][2]int{{0, 3}, {3, 4}, {4, 5}, {5, 6}}
	for _, w := range want {
		if got := sysvGroupEnd(rs, w[0]); got != w[1] {
			t.Errorf("sysvGroupEnd(rs, %d) = %d, want %d", w[0], got, w[1])
		}
	}
}
