package kernelsim

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

var procmapTestData = []byte("data")

// PROCMAP_QUERY's answer is the text's, mapping by mapping: three
// adjacent pages of different protections (three VMAs), the program's
// text and data, and a hole.
func TestQueryMappingIsTheText(t *testing.T) {
	if _, _, _, err := queryMapping(uint64(reflect.ValueOf(TestQueryMappingIsTheText).Pointer())); err == errNoQuery {
		var u unix.Utsname
		unix.Uname(&u)
		var major, minor int
		fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
		if major > 6 || major == 6 && minor >= 11 {
			t.Fatalf("Linux %d.%d has PROCMAP_QUERY, and queryMapping did not get an answer", major, minor)
		}
		t.Skip("no PROCMAP_QUERY in this kernel (before 6.11): mappingOf reads the text")
	}
	mem, err := unix.Mmap(-1, 0, 4*pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	defer unix.Syscall(unix.SYS_MUNMAP, uintptr(base), 3*pageSize, 0)
	if err := unix.Mprotect(mem[pageSize:2*pageSize], unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(mem[2*pageSize:3*pageSize], unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(base+3*pageSize), pageSize, 0); e != 0 {
		t.Fatal(e)
	}
	type answer struct {
		prot       int
		start, end uint64
		err        error
	}
	for _, tc := range []struct {
		name string
		addr uint64
		want *answer // nil: the text's, whatever it is
	}{
		{"r-- page", base + 8, &answer{unix.PROT_READ, base, base + pageSize, nil}},
		{"rw- page", base + pageSize, &answer{unix.PROT_READ | unix.PROT_WRITE, base + pageSize, base + 2*pageSize, nil}},
		{"r-x page, last byte", base + 3*pageSize - 1, &answer{unix.PROT_READ | unix.PROT_EXEC, base + 2*pageSize, base + 3*pageSize, nil}},
		{"the hole after it", base + 3*pageSize, nil},
		{"page 0", 0, &answer{err: unix.EFAULT}},
		{"this test's code", uint64(reflect.ValueOf(TestQueryMappingIsTheText).Pointer()), nil},
		{"a global", uint64(uintptr(unsafe.Pointer(&procmapTestData))), nil},
	} {
		var q, txt answer
		q.prot, q.start, q.end, q.err = queryMapping(tc.addr)
		txt.prot, txt.start, txt.end, txt.err = mappingOfText(tc.addr)
		if q != txt {
			t.Errorf("%s (%#x): PROCMAP_QUERY %+v, the text %+v", tc.name, tc.addr, q, txt)
		}
		if tc.want != nil && q != *tc.want {
			t.Errorf("%s (%#x): %+v, want %+v", tc.name, tc.addr, q, *tc.want)
		}
	}
}
