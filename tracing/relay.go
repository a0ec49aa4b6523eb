package tracing

import (
	"io"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Without -o the lines go to vsysbed's stderr. A terminal or a pipe each
// host process opens again (/proc/PID/fd/2, tracer/trace.go); a regular
// file it cannot share that way: a second opening has a file offset of
// its own, which overwrites what the supervisor and the guest write there
// (and the guest may have moved its own fd 2 before it forked). So for a
// file (or a socket, which /proc cannot open) the supervisor binds a
// datagram socket in the run directory and copies what arrives to its
// stderr: one datagram is one line, whole; a sender blocks while the
// queue is full (nothing is dropped), and what a process sent before it
// crashed is queued already. The copy is asynchronous: a line can land
// after the guest's own next write to the same file.

// SocketFile is the relay's socket in the run directory.
const SocketFile = "trace.sock"

// Relay receives trace lines on a socket and copies them to w.
type Relay struct {
	fd   int
	w    io.Writer
	done chan struct{}
}

// Listen binds the relay's socket at path.
func Listen(path string, w io.Writer) (*Relay, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "bind", Path: path, Err: err}
	}
	// Room for bursts: senders block, never drop, when it is full.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	r := &Relay{fd: fd, w: w, done: make(chan struct{})}
	go r.copy()
	return r, nil
}

func (r *Relay) copy() {
	defer close(r.done)
	buf := make([]byte, 1<<20)
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 { // 0: Close shut the socket down, and the queue is empty
			return
		}
		r.w.Write(buf[:n])
	}
}

// Close copies what is still queued (the tree has ended: every line sent
// is there) and stops.
func (r *Relay) Close() {
	buf := make([]byte, 1<<20)
	// Stop the reader: shutting a datagram socket down ends its recvfrom.
	unix.Shutdown(r.fd, unix.SHUT_RD)
	<-r.done
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, unix.MSG_DONTWAIT)
		if err != nil || n <= 0 {
			break
		}
		r.w.Write(buf[:n])
	}
	unix.Close(r.fd)
}

// dial connects a host process to the relay at path, at an fd >= minFD.
func dial(path string, minFD int) (int, error) {
	low, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(low, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(low)
		return -1, &fs.PathError{Op: "connect", Path: path, Err: err}
	}
	fd, err := unix.FcntlInt(uintptr(low), unix.F_DUPFD_CLOEXEC, minFD)
	unix.Close(low)
	if err != nil {
		return -1, err
	}
	return fd, nil
}
