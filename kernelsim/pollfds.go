package kernelsim

import (
	"encoding/binary"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poll's and select's fds live in memory, out of reach of the fd-argument
// table: the C entry sends a poll whose array names a host fd, and a
// select whose nfds reaches the host's fds, here (tls/entry.c:
// host_fd_in_sets); ppoll and pselect6 come through sysPwait. A host fd
// answers as a closed fd does on Linux: poll reports POLLNVAL for its
// entry — an event, so the call returns at once — and select fails with
// EBADF, or ignores it beyond the size of the guest's fd table.

const (
	pollfdSize = 8 // struct pollfd: int fd; short events, revents
	maxPollFDs = 1 << 20
)

// pollHostFDs answers a poll or ppoll whose array names a host fd;
// handled=false: it names none (or cannot be read, the kernel's EFAULT),
// and the call goes on as it is.
func pollHostFDs(a *Args) (ret int64, handled bool) {
	n := uint64(uint32(a[1]))
	if n == 0 || n > maxPollFDs {
		return 0, false
	}
	buf := make([]byte, n*pollfdSize)
	if readGuest(a[0], buf) != nil {
		return 0, false
	}
	le := binary.LittleEndian
	var host []uint64
	for i := uint64(0); i < n; i++ {
		e := buf[i*pollfdSize:]
		if fd := int(int32(le.Uint32(e))); isHostFD(fd) {
			host = append(host, i)
			le.PutUint32(e, ^uint32(0)) // -1: the kernel skips the entry
		}
	}
	if len(host) == 0 {
		return 0, false
	}
	// The other entries' events as they are now: Linux does not wait when
	// an entry is POLLNVAL.
	var pin runtime.Pinner // the call has the copy's address only
	pin.Pin(&buf[0])
	r := machine.Syscall(unix.SYS_POLL, &Args{uint64(uintptr(unsafe.Pointer(&buf[0]))), n})
	pin.Unpin()
	if r < 0 {
		return r, true
	}
	orig := make([]byte, len(buf))
	if err := readGuest(a[0], orig); err != nil {
		return errnoOf(err), true
	}
	for i := uint64(0); i < n; i++ {
		copy(orig[i*pollfdSize+6:], buf[i*pollfdSize+6:(i+1)*pollfdSize]) // revents only
	}
	for _, i := range host {
		le.PutUint16(orig[i*pollfdSize+6:], unix.POLLNVAL)
	}
	if err := writeGuest(a[0], orig); err != nil {
		return errnoOf(err), true
	}
	return int64(r) + int64(len(host)), true
}

// clearHostFDBits: select's and pselect6's sets (readfds, writefds,
// exceptfds: a[1], a[2], a[3]) with a host fd's bit below nfds. Linux
// fails with EBADF for a closed fd below the size of the caller's fd table
// (its max_fds, fdTableSize) and ignores a bit beyond it: so does this,
// clearing such bits in the guest's memory before the call. A set that
// cannot be read is left to the kernel's EFAULT.
func clearHostFDBits(a *Args) int64 {
	nfds, base := int(int32(a[0])), entry.HostFDBase()
	if nfds <= base {
		return 0
	}
	nfds = min(nfds, maxPollFDs)
	table := fdTableSize()
	buf := make([]byte, (nfds+63)/64*8)
	for _, set := range []uint64{a[1], a[2], a[3]} {
		if set == 0 || readGuest(set, buf) != nil {
			continue
		}
		changed := false
		for fd := base; fd < nfds; fd++ {
			if buf[fd/8]&(1<<(fd%8)) != 0 && isHostFD(fd) {
				if fd < table {
					return -int64(unix.EBADF)
				}
				buf[fd/8] &^= 1 << (fd % 8)
				changed = true
			}
		}
		if changed {
			_ = writeGuest(set, buf) // readable and the guest's: writable, or the kernel's EFAULT
		}
	}
	return 0
}

// fastInGo runs a fast-route call the C entry sent here: a read of a
// signalfd (signalfd.go) or of a maps file not read yet (procmaps.go), a
// stat that found vsysbed's binary (procpath.go), poll and select with a host fd in their sets.
func (t *Task) fastInGo(nr int, a *Args) int64 {
	switch nr {
	case unix.SYS_READ, unix.SYS_READV:
		t.P.refillMaps(int(int32(a[0])))
		if r, ok := t.signalfdRead(nr, a); ok {
			return r
		}
	case unix.SYS_STAT, unix.SYS_NEWFSTATAT, unix.SYS_STATX:
		return table[nr].Handler(t, a) // the C entry found vsysbed's binary
	case unix.SYS_POLL:
		if r, ok := pollHostFDs(a); ok {
			return r
		}
	case unix.SYS_SELECT:
		if e := clearHostFDBits(a); e != 0 {
			return e
		}
	}
	return passthrough(nr, a)
}
