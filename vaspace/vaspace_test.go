package vaspace

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestMapPlacesInTheWindow(t *testing.T) {
	var got []uintptr
	for i := 0; i < 4; i++ {
		addr, e := Map(3*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0)
		if e != 0 {
			t.Fatalf("Map: %v", e)
		}
		if !In(uint64(addr), 3*pageSize) {
			t.Errorf("mapping at %#x is outside [%#x, %#x)", addr, Lo, Hi)
		}
		*(*byte)(unsafePointer(addr)) = 1 // it is really mapped, writable
		got = append(got, addr)
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Errorf("placement is not top-down: %#x after %#x", got[i], got[i-1])
		}
	}
	// A range taken by someone else is skipped, not replaced.
	next := got[len(got)-1] - 3*pageSize
	blocker, _, e := unix.Syscall6(unix.SYS_MMAP, next, pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uintptr(0), 0)
	if e != 0 || blocker != next {
		t.Fatalf("blocker: %v %#x", e, blocker)
	}
	addr, e := Map(pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0)
	if e != 0 || addr == next {
		t.Errorf("Map over a taken range: %#x, %v", addr, e)
	}
	for _, a := range append(got, addr, blocker) {
		unix.Syscall(unix.SYS_MUNMAP, a, 3*pageSize, 0)
	}
	if In(Lo-1, 2) || !In(Lo, 1) || In(Hi-1, 2) {
		t.Error("In: window bounds")
	}
}
