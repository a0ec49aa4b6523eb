// Package vaspace places the guest's memory in an address window that no
// host process uses. A forked guest becomes a fresh host process that must
// re-create every guest mapping at the parent's addresses after its own Go
// runtime and libc are up; host processes keep their memory near their PIE
// base (0x55…–0x56…, where Linux puts a PIE), at Go's arena hints
// (0xc000000000 and up) and below the top of the address space (0x7f…),
// randomised or not — so guest mappings kept in [Lo, Hi) never collide
// with a child's own.
package vaspace

import (
	"sync"

	"golang.org/x/sys/unix"
)

// The window: 64 TiB to 84 TiB.
const (
	Lo = 0x4000_0000_0000
	Hi = 0x5400_0000_0000
)

const pageSize = 4096

var (
	mu     sync.Mutex
	cursor uint64 = Hi // placement goes top-down from here
)

// In reports whether [addr, addr+length) lies in the window.
func In(addr, length uint64) bool {
	return addr >= Lo && addr+length <= Hi && addr+length >= addr
}

// Below moves the placement cursor under addr (a fork child continues
// below its parent's lowest guest mapping in the window).
func Below(addr uint64) {
	mu.Lock()
	defer mu.Unlock()
	if addr >= Lo && addr < cursor {
		cursor = addr
	}
}

// Map is mmap without MAP_FIXED, placed in the window: the highest free
// range below the cursor, claimed with MAP_FIXED_NOREPLACE. It returns the
// raw syscall's errno on failure. Should the window somehow be full, the
// kernel places the mapping.
func Map(length uintptr, prot, flags, fd int, off uint64) (uintptr, unix.Errno) {
	size := (uint64(length) + pageSize - 1) &^ (pageSize - 1)
	if size == 0 {
		return 0, unix.EINVAL
	}
	mu.Lock()
	defer mu.Unlock()
	for try := 0; try < 64; try++ {
		if cursor < Lo+size {
			cursor = Hi // wrap once: earlier ranges may have been unmapped
		}
		addr := cursor - size
		r, _, e := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), length, uintptr(prot),
			uintptr(flags|unix.MAP_FIXED_NOREPLACE), uintptr(fd), uintptr(off))
		switch {
		case e == 0 && uint64(r) == addr:
			cursor = addr
			return r, 0
		case e == 0: // a kernel older than 4.17: the flag was a hint
			unix.Syscall(unix.SYS_MUNMAP, r, length, 0)
			cursor = addr
		case e == unix.EEXIST:
			cursor = addr
		default:
			return 0, e
		}
	}
	r, _, e := unix.Syscall6(unix.SYS_MMAP, 0, length, uintptr(prot), uintptr(flags), uintptr(fd), uintptr(off))
	return r, e
}
