package kernelsim

import (
	"errors"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procmapQuery is the kernel's struct procmap_query (linux/fs.h, Linux
// 6.11): one VMA of the process an open /proc/PID/maps describes, asked
// by address with an ioctl, without the text of every other mapping. A
// rewrite looks up the mapping of its stub and of its site (mappingOf):
// read as text, the host process's ~100 maps lines cost ~100 µs a
// lookup, two or three per site; /bin/true's 13 rewrites paid ~3 ms.
type procmapQuery struct {
	Size        uint64
	QueryFlags  uint64
	QueryAddr   uint64
	VMAStart    uint64
	VMAEnd      uint64
	VMAFlags    uint64
	VMAPageSize uint64
	VMAOffset   uint64
	Inode       uint64
	DevMajor    uint32
	DevMinor    uint32
	VMANameSize uint32
	BuildIDSize uint32
	VMANameAddr uint64
	BuildIDAddr uint64
}

const (
	// PROCMAP_QUERY: _IOWR('f', 17, struct procmap_query).
	procmapQueryIoctl = 3<<30 | uint64(unsafe.Sizeof(procmapQuery{}))<<16 | 'f'<<8 | 17
	// vma_flags' permission bits.
	procmapReadable   = 1
	procmapWritable   = 2
	procmapExecutable = 4
)

// procmapQueryMissing is set once the kernel has said it has no
// PROCMAP_QUERY (ENOTTY, EINVAL: before 6.11): the text is read instead.
var procmapQueryMissing atomic.Bool

// errNoQuery: the kernel could not answer by PROCMAP_QUERY (the caller
// reads the text).
var errNoQuery = errors.New("no PROCMAP_QUERY answer")

// queryMapping is mappingOf's answer from PROCMAP_QUERY, EFAULT when no
// mapping holds addr (as the text's answer), or errNoQuery.
func queryMapping(addr uint64) (prot int, start, end uint64, err error) {
	if procmapQueryMissing.Load() {
		return 0, 0, 0, errNoQuery
	}
	fd, e := openHost("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC)
	if e != 0 {
		return 0, 0, 0, errNoQuery
	}
	defer hostCall(unix.SYS_CLOSE, uint64(fd))
	q := &procmapQuery{Size: uint64(unsafe.Sizeof(procmapQuery{})), QueryAddr: addr}
	var pin runtime.Pinner // the call has its address only (hostCall)
	pin.Pin(q)
	defer pin.Unpin()
	_, e = hostCall(unix.SYS_IOCTL, uint64(fd), procmapQueryIoctl, uint64(uintptr(unsafe.Pointer(q))))
	switch e {
	case 0:
	case unix.ENOENT: // no VMA holds addr
		return 0, 0, 0, unix.EFAULT
	case unix.ENOTTY, unix.EINVAL:
		procmapQueryMissing.Store(true)
		return 0, 0, 0, errNoQuery
	default:
		return 0, 0, 0, errNoQuery
	}
	if q.VMAFlags&procmapReadable != 0 {
		prot |= unix.PROT_READ
	}
	if q.VMAFlags&procmapWritable != 0 {
		prot |= unix.PROT_WRITE
	}
	if q.VMAFlags&procmapExecutable != 0 {
		prot |= unix.PROT_EXEC
	}
	return prot, q.VMAStart, q.VMAEnd, nil
}
