// Package cbtest holds test helpers for control blocks, shared by the
// tests of tls/cblock and tls.
package cbtest

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Mapped is a control block in an anonymous mapping (never on the Go
// heap, like the real ones), every byte set to 0xa5 so that a field a
// reset forgets shows; unmapped when the test ends.
func Mapped(t testing.TB) (*cblock.ControlBlock, []byte) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, cblock.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	for i := range mem {
		mem[i] = 0xa5
	}
	return (*cblock.ControlBlock)(unsafe.Pointer(&mem[0])), mem
}
