package kernelsim

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memWriteMissing is set once the kernel has refused a write through
// /proc/self/mem (a kernel booted with proc_mem.force_override=never, or
// built without the override): writeCode then changes the mapping's
// protection around a plain store, as before.
var memWriteMissing atomic.Bool

// errNoMemWrite: the write was not made through /proc/self/mem.
var errNoMemWrite = errors.New("no write through /proc/self/mem")

// writeCodeMem writes b at addr through /proc/self/mem. The kernel's
// write there is a debugger's (FOLL_FORCE): it breaks copy-on-write of a
// read-only page and changes no mapping's protection, so the text never
// turns writable, no VMA is split or merged, and there is nothing to
// look up first. The other way, two mprotects of the whole mapping and a
// lookup of it, cost ~100 µs a write (a private file mapping made
// writable is charged and walked whole): two or three writes a site.
func writeCodeMem(addr uint64, b []byte) error {
	if memWriteMissing.Load() {
		return errNoMemWrite
	}
	procMem.Lock()
	defer procMem.Unlock()
	fd, e := procMem.fd()
	if e != 0 {
		if e == unix.EACCES || e == unix.EPERM || e == unix.ENOENT {
			memWriteMissing.Store(true) // no /proc, or not ours to write
		}
		return errNoMemWrite
	}
	buf := append([]byte(nil), b...)
	var pin runtime.Pinner // the call has its address only (hostCall)
	pin.Pin(&buf[0])
	defer pin.Unpin()
	for off := 0; off < len(buf); {
		n, e := hostCall(unix.SYS_PWRITE64, uint64(fd), uint64(uintptr(unsafe.Pointer(&buf[off]))), uint64(len(buf)-off), addr+uint64(off))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EIO || e == unix.EPERM || e == unix.EACCES:
			// Unmapped (the other way says EFAULT) or refused: let the
			// other way answer, and stop trying this one if it works.
			if _, _, _, err := mappingOf(addr); err == nil {
				memWriteMissing.Store(true)
			}
			return errNoMemWrite
		case e != 0:
			return e
		case n == 0:
			return unix.EIO
		}
		off += int(n)
	}
	return nil
}

// procMem is this host process's /proc/self/mem, opened at its first code
// write and kept: an open of it (a procfs walk, and the mm taken) and its
// close were a quarter of a site's rewrite (perf, python3 -c pass: 39
// sites, two or three writes each). It lives in the host's fd range, which
// the guest's calls cannot name. Each use checks that it is still ours
// (fstat: the same inode, so a guest thread that unshared its fd table, or
// a guest fd marked at that number, cannot make a write go elsewhere; the
// pid: a copy of this memory in another process would write the opener's)
// and opens it again otherwise.
var procMem memFile

type memFile struct {
	sync.Mutex
	open     bool
	num      int
	pid      int
	dev, ino uint64
}

// fd is the open /proc/self/mem, checked or opened anew.
func (m *memFile) fd() (int, unix.Errno) {
	pid, _ := hostCall(unix.SYS_GETPID)
	if m.open {
		st, err := hostFstat(m.num)
		if err == nil && int(pid) == m.pid && st.Dev == m.dev && st.Ino == m.ino {
			return m.num, 0
		}
		m.open = false // not closed: the number may be another's now
	}
	fd, e := openHost("/proc/self/mem", unix.O_RDWR|unix.O_CLOEXEC)
	if e != 0 {
		return -1, e
	}
	hi, err := hostFcntl(fd, unix.F_DUPFD_CLOEXEC, entry.HostFDBase()+200)
	hostClose(fd)
	if err != nil {
		return -1, unix.EMFILE
	}
	st, err := hostFstat(hi)
	if err != nil {
		hostClose(hi)
		return -1, unix.EBADF
	}
	m.open, m.num, m.pid, m.dev, m.ino = true, hi, int(pid), st.Dev, st.Ino
	return hi, 0
}

// openHost opens path for kernelsim itself through the Machine, at the
// lowest free fd as open(2) would (no os.File: the netpoller's
// descriptor must not take a guest number, as resolveSite).
func openHost(path string, flags int) (int, unix.Errno) {
	p := append([]byte(path), 0)
	var pin runtime.Pinner // the call has its address only (hostCall)
	pin.Pin(&p[0])
	defer pin.Unpin()
	fd, e := hostCall(unix.SYS_OPENAT, atFDCWD, uint64(uintptr(unsafe.Pointer(&p[0]))), uint64(flags))
	return int(fd), e
}

// atFDCWD is AT_FDCWD as a syscall argument.
const atFDCWD = 1<<64 + unix.AT_FDCWD
