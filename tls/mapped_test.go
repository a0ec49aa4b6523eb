package tls

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mappedBlock is a control block in an anonymous mapping (never on the Go
// heap, like the real ones), every byte set to 0xa5 (as cblock's tests
// make theirs).
func mappedBlock(t *testing.T) (*ControlBlock, []byte) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	for i := range mem {
		mem[i] = 0xa5
	}
	return (*ControlBlock)(unsafe.Pointer(&mem[0])), mem
}
