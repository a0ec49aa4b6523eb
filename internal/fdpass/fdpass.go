// Package fdpass is the byte and fd transport of the links between host
// processes (kernelsim's fork, platform/inprocess's vfork): a unix stream
// socket, written without SIGPIPE, fds passed with SCM_RIGHTS in batches.
package fdpass

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SendAll writes b to the link without SIGPIPE: a dead peer must not
// raise a signal on the guest thread, where it would count as the guest's.
func SendAll(link *os.File, b []byte) error { return SendAllFD(int(link.Fd()), b) }

// SendAllFD is SendAll on a raw fd.
func SendAllFD(link int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.SendmsgN(link, b, nil, nil, unix.MSG_NOSIGNAL)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// batch is how many fds one message carries.
const batch = 200

// SendFDs passes fds over the link in batches (ReceiveFDs takes them).
func SendFDs(link int, fds []int) error {
	for i := 0; i < len(fds); i += batch {
		b := fds[i:min(i+batch, len(fds))]
		if err := unix.Sendmsg(link, []byte{byte(len(b))}, unix.UnixRights(b...), nil, unix.MSG_NOSIGNAL); err != nil {
			return err
		}
	}
	return nil
}

// ReceiveFDs takes want fds off the link (sent in batches by SendFDs),
// each moved to floor or above: out of the way of the numbers the guest's
// fds will take.
func ReceiveFDs(link *os.File, want, floor int) ([]int, error) {
	fds := make([]int, 0, want)
	oob := make([]byte, unix.CmsgSpace(4*batch))
	for len(fds) < want {
		var b [1]byte
		_, oobn, _, _, err := unix.Recvmsg(int(link.Fd()), b[:], oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return fds, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fds, err
		}
		if len(msgs) == 0 {
			return fds, fmt.Errorf("fd batch without fds (%d of %d received)", len(fds), want)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return fds, err
			}
			for _, fd := range got {
				hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, floor)
				if err == nil {
					unix.Close(fd)
					fd = hi
				}
				fds = append(fds, fd)
			}
		}
	}
	return fds, nil
}

// Reader reads a raw fd without making an *os.File of it (whose finalizer
// would close the number in whichever fd table it runs).
type Reader int

func (r Reader) Read(b []byte) (int, error) {
	n, err := unix.Read(int(r), b)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}
