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

// The /proc/self/mem kept open for code writes: one fd in the host's range
// for every write, and a number that is no longer it (closed, or another
// file put there) is opened anew, never written through.
func TestProcMemKeptAndChecked(t *testing.T) {
	if memWriteMissing.Load() {
		t.Skip("this kernel refuses writes through /proc/self/mem")
	}
	useFakeEntry(t).SetHostFDBase(100)
	procMem.open = false
	start := textMapping(t)
	write := func(at uint64, b []byte) {
		t.Helper()
		if err := writeCode(at, b); err != nil {
			t.Fatal(err)
		}
		if got := unsafe.Slice((*byte)(guestPtr(at)), len(b)); !bytes.Equal(got, b) {
			t.Fatalf("% x written at %#x, want % x", got, at, b)
		}
	}
	write(start, []byte{0xe9, 1, 2, 3, 4})
	first := procMem.num
	if !procMem.open || first < entry.HostFDBase()+200 {
		t.Fatalf("after a write: open %v at %d, want open at %d or above", procMem.open, first, entry.HostFDBase()+200)
	}
	write(start+8, []byte{0xe9, 5, 6, 7, 8})
	if procMem.num != first {
		t.Errorf("second write through fd %d, the first through %d: want it kept", procMem.num, first)
	}
	null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	if err := unix.Dup2(null, first); err != nil { // another file at its number
		t.Fatal(err)
	}
	write(start+16, []byte{0xe9, 9, 10, 11, 12})
	if procMem.num == first {
		t.Errorf("wrote through fd %d, now /dev/null", first)
	}
	unix.Close(first)
	unix.Close(procMem.num) // closed behind its back
	write(start+24, []byte{0xe9, 13, 14, 15, 16})
	unix.Close(procMem.num)
	procMem.open = false
}
