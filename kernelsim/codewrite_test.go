package kernelsim

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// textMapping is a private r-x mapping of a 3-page file, as a library's
// text is mapped, unmapped at the test's end.
func textMapping(t *testing.T) uint64 {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "text")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{0x90}, 3*pageSize)); err != nil {
		t.Fatal(err)
	}
	r, _, e := unix.Syscall6(unix.SYS_MMAP, 0, 3*pageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE, f.Fd(), 0)
	if e != 0 {
		t.Fatal(e)
	}
	t.Cleanup(func() { unix.Syscall(unix.SYS_MUNMAP, r, 3*pageSize, 0) })
	return uint64(r)
}

// writeCode writes through /proc/self/mem where the kernel allows it, and
// by making the mapping writable where it does not: the same bytes, the
// same one r-x mapping after, EFAULT for memory that is not mapped.
func TestWriteCodeBothWays(t *testing.T) {
	for _, viaMem := range []bool{true, false} {
		old := memWriteMissing.Load()
		memWriteMissing.Store(!viaMem)
		start := textMapping(t)
		at := start + pageSize + 0x40
		jmp := []byte{0xe9, 1, 2, 3, 4}
		if err := writeCode(at, jmp); err != nil {
			t.Fatalf("through mem %v: %v", viaMem, err)
		}
		if got := unsafe.Slice((*byte)(guestPtr(at)), 5); !bytes.Equal(got, jmp) {
			t.Errorf("through mem %v: % x written, want % x", viaMem, got, jmp)
		}
		prot, lo, hi, err := mappingOf(at)
		if err != nil || prot != unix.PROT_READ|unix.PROT_EXEC || lo != start || hi != start+3*pageSize {
			t.Errorf("through mem %v: mapping after %#x [%#x, %#x) %v; want r-x [%#x, %#x)", viaMem, prot, lo, hi, err, start, start+3*pageSize)
		}
		if viaMem && memWriteMissing.Load() {
			t.Errorf("this kernel refused a write through /proc/self/mem")
		}
		if err := writeCode(0x1000, jmp); err == nil {
			t.Errorf("through mem %v: a write to page 1 succeeded", viaMem)
		}
		if viaMem && memWriteMissing.Load() {
			t.Errorf("an unmapped address turned the writes through /proc/self/mem off")
		}
		memWriteMissing.Store(old)
	}
}
