package kernelsim

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"unsafe"

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

func TestShmatTarget(t *testing.T) {
	const pg = pageSize
	cases := []struct {
		addr   uint64
		flg    int
		target uint64
		atZero bool
		errno  unix.Errno
	}{
		{0, 0, 0, false, 0},                                          // kernelsim chooses
		{0, unix.SHM_RDONLY, 0, false, 0},                            // flags that say nothing of the address
		{0, shmRemap, 0, false, unix.EINVAL},                         // SHM_REMAP needs an address
		{5 * pg, 0, 5 * pg, false, 0},                                // aligned
		{5 * pg, shmRemap, 5 * pg, false, 0},                         // aligned, replacing
		{5*pg + 123, 0, 0, false, unix.EINVAL},                       // unaligned without SHM_RND
		{5*pg + 123, unix.SHM_RND, 5 * pg, false, 0},                 // rounded down
		{5*pg + 123, unix.SHM_RND | shmRemap, 5 * pg, false, 0},      // rounded down, replacing
		{123, unix.SHM_RND, 0, true, 0},                              // rounded to 0: Linux maps at 0
		{123, unix.SHM_RND | shmRemap, 0, false, unix.EINVAL},        // rounded to 0 with SHM_REMAP
		{^uint64(0), unix.SHM_RND, ^uint64(0) &^ (pg - 1), false, 0}, // the top page: rangeOK's to refuse
	}
	for _, c := range cases {
		target, atZero, errno := shmatTarget(c.addr, c.flg)
		if target != c.target || atZero != c.atZero || errno != c.errno {
			t.Errorf("shmatTarget(%#x, %#x) = %#x, %v, %v; want %#x, %v, %v", c.addr, c.flg, target, atZero, errno, c.target, c.atZero, c.errno)
		}
	}
}

func TestMapsRange(t *testing.T) {
	if lo, hi, ok := mapsRange("7f436fcb6000-7f436fcb7000 rw-s 00000000 00:01 0 /SYSV00000000 (deleted)"); !ok || lo != 0x7f436fcb6000 || hi != 0x7f436fcb7000 {
		t.Errorf("mapsRange: %#x-%#x %v", lo, hi, ok)
	}
	for _, bad := range []string{"", "garbage", "7f436fcb7000-7f436fcb6000 rw-p", "x-1 r--p"} {
		if _, _, ok := mapsRange(bad); ok {
			t.Errorf("mapsRange(%q) ok", bad)
		}
	}
}

// The guard of shmat at address 0: host memory (anything this test
// process maps) is never the guest's; guest ranges are.
func TestHostMapped(t *testing.T) {
	m, err := unix.Mmap(-1, 0, 4*pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	start := uint64(uintptr(unsafe.Pointer(&m[0])))
	p := &Process{}
	if !p.hostMapped(start, start+pageSize) {
		t.Errorf("a mapping of the host's is not host memory")
	}
	if p.hostMapped(0, pageSize) {
		t.Errorf("page 0 is mapped?")
	}
	p.vmas.add(start, start+4*pageSize)
	if p.hostMapped(start+pageSize, start+3*pageSize) {
		t.Errorf("a guest range is host memory")
	}
	p.vmas.r = nil
	p.vmas.add(start, start+pageSize)
	if !p.hostMapped(start, start+2*pageSize) {
		t.Errorf("a range partly the host's is not host memory")
	}
}

func TestSameObject(t *testing.T) {
	dir := t.TempDir()
	a, err := os.Create(dir + "/a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Create(dir + "/b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(b.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ino := strconv.FormatUint(st.Ino, 10)
	if i, ok := sameObject([]int{int(a.Fd()), int(b.Fd())}, dev, ino); !ok || i != 1 {
		t.Errorf("sameObject(a, b; b's dev %s inode %s) = %d, %v; want 1, true", dev, ino, i, ok)
	}
	if _, ok := sameObject([]int{int(a.Fd())}, dev, ino); ok {
		t.Errorf("a is b?")
	}
	if _, ok := sameObject([]int{int(b.Fd())}, "ff:ff", ino); ok {
		t.Errorf("the same inode on another device matched")
	}
	for _, bad := range [][2]string{{"", ino}, {dev, ""}, {"zz:01", ino}, {dev, "-1"}} {
		if _, ok := sameObject([]int{int(b.Fd())}, bad[0], bad[1]); ok {
			t.Errorf("sameObject(%q, %q) matched", bad[0], bad[1])
		}
	}
}

func TestMayWriteRanges(t *testing.T) {
	anon, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(anon)
	f, err := os.Create(t.TempDir() + "/f")
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(pageSize)
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	shared, err := unix.Mmap(int(ro.Fd()), 0, pageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(shared)
	mw := mayWriteRanges()
	if a := uint64(uintptr(unsafe.Pointer(&anon[0]))); !mw[a] {
		t.Errorf("a read-only private mapping at %#x may be made writable: %v", a, len(mw))
	}
	if a := uint64(uintptr(unsafe.Pointer(&shared[0]))); mw[a] {
		t.Errorf("a shared mapping of a read-only fd at %#x may not be made writable", a)
	}
}
