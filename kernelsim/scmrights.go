package kernelsim

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// An fd can also travel inside memory: sendmsg's SCM_RIGHTS passes the fds
// listed in a control message to another process. A host fd there would
// hand the host's own files (its event log, a fork link) to whoever reads
// the socket, so sendmsg and sendmmsg look at their control messages and
// fail as Linux does for a closed fd in SCM_RIGHTS: EBADF.

const (
	msghdrSize  = 56 // struct msghdr
	mmsghdrSize = 64 // struct mmsghdr: msghdr, msg_len, padding
	maxControl  = 1 << 16
)

func sysSendmsg(t *Task, a *Args) int64 {
	if e := checkMsghdr(a[1]); e != 0 {
		return e
	}
	return passthrough(unix.SYS_SENDMSG, a)
}

func sysSendmmsg(t *Task, a *Args) int64 {
	n := min(uint64(uint32(a[2])), 1024) // UIO_MAXIOV: Linux sends at most that many
	for i := uint64(0); i < n; i++ {
		if e := checkMsghdr(a[1] + i*mmsghdrSize); e != 0 {
			if i > 0 {
				// Linux returns what it sent before the failing message.
				b := *a
				b[2] = i
				return passthrough(unix.SYS_SENDMMSG, &b)
			}
			return e
		}
	}
	return passthrough(unix.SYS_SENDMMSG, a)
}

// checkMsghdr: -EBADF when the message at addr passes a host fd; a
// message that cannot be read is left to the kernel (EFAULT).
func checkMsghdr(addr uint64) int64 {
	var h [msghdrSize]byte
	if readGuest(addr, h[:]) != nil {
		return 0
	}
	control, controlLen := le64(h[32:]), le64(h[40:])
	if control == 0 || controlLen < 16 {
		return 0
	}
	buf := make([]byte, min(controlLen, maxControl))
	if readGuest(control, buf) != nil {
		return 0
	}
	if passesHostFD(buf) {
		return -int64(unix.EBADF)
	}
	return 0
}

// passesHostFD walks the control messages in buf for SCM_RIGHTS fds that
// are the host's.
func passesHostFD(buf []byte) bool {
	le := binary.LittleEndian
	for off := 0; off+16 <= len(buf); {
		clen := int(le.Uint64(buf[off:]))
		if clen < 16 || off+clen > len(buf) {
			return false
		}
		level, typ := int32(le.Uint32(buf[off+8:])), int32(le.Uint32(buf[off+12:]))
		if level == unix.SOL_SOCKET && typ == unix.SCM_RIGHTS {
			for p := off + 16; p+4 <= off+clen; p += 4 {
				if isHostFD(int(int32(le.Uint32(buf[p:])))) {
					return true
				}
			}
		}
		off += (clen + 7) &^ 7
	}
	return false
}
