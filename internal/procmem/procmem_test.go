package procmem

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestReadWriteOwnMemory(t *testing.T) {
	src := []byte("a guest's bytes")
	got := make([]byte, len(src))
	if err := Read(os.Getpid(), uint64(uintptr(unsafe.Pointer(&src[0]))), got); err != nil || string(got) != string(src) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	dst := make([]byte, len(src))
	if err := Write(os.Getpid(), uint64(uintptr(unsafe.Pointer(&dst[0]))), src); err != nil || string(dst) != string(src) {
		t.Fatalf("Write: %q, %v", dst, err)
	}
	if err := Read(os.Getpid(), 0, got); !errors.Is(err, unix.EFAULT) {
		t.Errorf("Read at 0: %v, want EFAULT", err)
	}
}

func TestShortCopyIsEFAULT(t *testing.T) {
	// Two pages, the second unmapped: the copy stops at the first.
	base, _, e := unix.Syscall6(unix.SYS_MMAP, 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, base, 4096, 0)
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, base+4096, 4096, 0); e != 0 {
		t.Fatal(e)
	}
	buf := make([]byte, 8192)
	if err := Read(os.Getpid(), uint64(base), buf); !errors.Is(err, unix.EFAULT) {
		t.Errorf("Read across an unmapped page: %v, want EFAULT", err)
	}
	if err := Write(os.Getpid(), uint64(base), buf); !errors.Is(err, unix.EFAULT) {
		t.Errorf("Write across an unmapped page: %v, want EFAULT", err)
	}
}
