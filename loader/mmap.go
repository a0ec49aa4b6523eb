package loader

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/vaspace"
)

// The effectful half: raw mmap/munmap/mprotect. unix.Mmap is avoided on
// purpose: it cannot place a mapping at an address and it keeps its own
// table of mappings that Munmap consults, which guest memory must not be in.

func mmap(addr, length uintptr, prot, flags, fd int, off uint64) (uintptr, error) {
	r, _, e := unix.Syscall6(unix.SYS_MMAP, addr, length, uintptr(prot), uintptr(flags), uintptr(fd), uintptr(off))
	if e != 0 {
		return 0, e
	}
	return r, nil
}

// mmapAnywhere is mmap without an address, placed in the guest's address
// window (vaspace: where forked host processes can re-create it).
func mmapAnywhere(length uintptr, prot, flags, fd int, off uint64) (uintptr, error) {
	r, e := vaspace.Map(length, prot, flags, fd, off)
	if e != 0 {
		return 0, e
	}
	return r, nil
}

func munmap(addr, length uintptr) error {
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, addr, length, 0); e != 0 {
		return e
	}
	return nil
}

func mprotect(addr, length uintptr, prot int) error {
	if _, _, e := unix.Syscall(unix.SYS_MPROTECT, addr, length, uintptr(prot)); e != 0 {
		return e
	}
	return nil
}

// mapFixedNoReplace maps at exactly addr or fails with EEXIST. Kernels
// before 4.17 treat the flag as a hint and may return another address;
// that is reported as EEXIST too, after undoing the stray mapping.
func mapFixedNoReplace(addr, length uintptr, prot, flags, fd int, off uint64) error {
	got, err := mmap(addr, length, prot, flags|unix.MAP_FIXED_NOREPLACE, fd, off)
	if err != nil {
		return err
	}
	if got != addr {
		munmap(got, length)
		return unix.EEXIST
	}
	return nil
}

// memAt is the n bytes of mapped memory at addr, outside the Go heap.
func memAt(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(nil, addr)), n)
}
