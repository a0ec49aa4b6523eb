package inprocess

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tls"
)

// vfork on this platform (ARCHITECTURE.md, "Processes"): the child's host
// process is started up front — it supplies the pid — and waits, while
// the child runs on a new thread of its parent's host process, in the
// parent's memory, with a private fd table and cwd (StartChildThread).
// Over the link, the child's thread asks its host process to act on
// itself (setsid, setpgid), to end (exit, a fatal signal), or to take
// over at its execve.

// Requests from the child's thread to its host process: an op and an
// argument, 8 bytes each.
const (
	vforkSetsid  = iota + 1 // setsid(); reply: the result
	vforkSetpgid            // setpgid(0, arg); reply: the result
	vforkExit               // exit with status arg
	vforkDie                // die by signal arg
	vforkExec               // execve: arg bytes of gob VforkExec, then its fds
)

// StartVfork starts the child's host process, told it is a vfork's.
func (pl platform) StartVfork() (int, kernelsim.VforkHost, unix.Errno) {
	defer pl.refillPool()
	pid, link, errno := pl.startHost(kindVfork)
	if errno != 0 {
		return 0, nil, errno
	}
	return pid, &vforkHost{pid: pid, link: link, fd: int(link.Fd()), fdBase: pl.fdBase}, 0
}

// StartChildThread: Go starts no thread from a locked one (its template
// thread does), so no runtime thread ever inherits the child's fd table.
func (platform) StartChildThread(body func(err error)) {
	go func() {
		runtime.LockOSThread()
		body(unix.Unshare(unix.CLONE_FILES | unix.CLONE_FS))
	}()
}

// vforkHost is the child's end of the link: fd has the same number in the
// parent's table (link, until Close) and in the child thread's copy.
type vforkHost struct {
	pid    int // the child host process
	link   *os.File
	fd     int
	fdBase int // the host's fds start here
}

func (h *vforkHost) Close() { h.link.Close() }

func (h *vforkHost) Setsid() int64            { return h.request(vforkSetsid, 0) }
func (h *vforkHost) Setpgid(pgid int64) int64 { return h.request(vforkSetpgid, pgid) }
func (h *vforkHost) Getpgid() int64           { return result(unix.Getpgid(h.pid)) }
func (h *vforkHost) Getsid() int64            { return result(unix.Getsid(h.pid)) }

// Exit and Die: the child host process records the exit in its own block.
func (h *vforkHost) Exit(code int, _ func()) { h.send(vforkExit, int64(code&0xff)) }
func (h *vforkHost) Die(sig int, _ func())   { h.send(vforkDie, int64(sig)) }

// Stop stops the child's host process by SIGSTOP (its parent sees
// WSTOPSIG SIGSTOP whatever sig was: ARCHITECTURE.md, "The tree").
func (h *vforkHost) Stop(int) bool {
	unix.Kill(h.pid, unix.SIGSTOP)
	return false
}

// FilesView: the thread's own /proc entry (the child's thread took a
// private fd table and cwd, StartChildThread).
func (h *vforkHost) FilesView(rest string) string { return "/proc/thread-self/" + rest }

// Wait polls a pidfd of the child host process (above the guest's fds).
func (h *vforkHost) Wait() {
	pidfd, err := unix.PidfdOpen(h.pid, 0)
	if err != nil {
		return
	}
	if hi, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, h.fdBase+100); err == nil {
		unix.Close(pidfd)
		pidfd = hi
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
}

// Exec completes st with the calling thread's own fd table (its
// /proc/thread-self/fd: /proc/self/fd is the parent's), cwd and umask,
// and hands it over.
func (h *vforkHost) Exec(st *kernelsim.VforkExec, sending func()) unix.Errno {
	st.Umask = unix.Umask(0)
	unix.Umask(st.Umask)
	ents, err := os.ReadDir("/proc/thread-self/fd")
	if err != nil {
		return errnoOf(err)
	}
	var fds []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || tls.IsHostFD(fd) {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the ReadDir's own fd, closed by now
		}
		fds = append(fds, fd)
		st.FDs = append(st.FDs, kernelsim.ForkFD{Num: fd, Cloexec: fl&unix.FD_CLOEXEC != 0})
	}
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(cwd)
	return h.exec(st, append(fds, cwd), sending)
}

// errnoOf is err's errno (EFAULT when it has none, as kernelsim's).
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EFAULT
}

// exec sends the exec request: st, then fds (st.FDs order, then the cwd).
func (h *vforkHost) exec(st *kernelsim.VforkExec, fds []int, sending func()) unix.Errno {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return unix.ENOMEM
	}
	sending()
	// A host process that is gone took the child with it: its wait
	// status says how.
	if h.send(vforkExec, int64(buf.Len())) == nil && fdpass.SendAllFD(h.fd, buf.Bytes()) == nil {
		fdpass.SendFDs(h.fd, fds)
	}
	return 0
}

// request asks the child host process to act on itself and returns its
// raw result.
func (h *vforkHost) request(op int, arg int64) int64 {
	if err := h.send(op, arg); err != nil {
		return -int64(unix.ESRCH)
	}
	var b [8]byte
	if _, err := io.ReadFull(fdpass.Reader(h.fd), b[:]); err != nil {
		return -int64(unix.ESRCH)
	}
	return int64(binary.LittleEndian.Uint64(b[:]))
}

func (h *vforkHost) send(op int, arg int64) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(op))
	binary.LittleEndian.PutUint64(b[8:], uint64(arg))
	return fdpass.SendAllFD(h.fd, b[:])
}

// awaitVfork is the child host process's half of vfork: while the child
// runs on its parent's thread, this process — already the child's pid —
// carries out the child's setsid and setpgid, and ends when the child
// exits or dies. At the child's execve it takes the child's fds, cwd,
// umask, mask and ignored signals and loads the new image
// (kernelsim.AdoptVforkExec); it returns the process and task ready to
// run, as kernelsim.AdoptFork does.
func awaitVfork(link *os.File, cb *tls.ControlBlock, c kernelsim.Config) (*kernelsim.Process, *kernelsim.Task, error) {
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(link, hdr[:]); err != nil {
			// The parent's host process is gone, and the child with it.
			return nil, nil, fmt.Errorf("vfork child: the parent left: %w", err)
		}
		op, arg := binary.LittleEndian.Uint64(hdr[0:]), int64(binary.LittleEndian.Uint64(hdr[8:]))
		switch op {
		case vforkSetsid:
			reply(link, result(unix.Setsid()))
		case vforkSetpgid:
			reply(link, result(0, unix.Setpgid(0, int(arg))))
		case vforkExit:
			cb.Exit.Code = int32(arg & 0xff)
			cb.Exit.Done = 1
			if c.Events != nil {
				c.Events.Exit(int(cb.Exit.Code), 0)
			}
			os.Exit(int(cb.Exit.Code))
		case vforkDie:
			cb.Exit.Signal = int32(arg)
			cb.Exit.Done = 1
			if c.Events != nil {
				c.Events.Exit(0, unix.Signal(arg))
			}
			tls.DieBySignal(int(arg))
			select {}
		case vforkExec:
			st, fds, err := receiveExec(link, arg, c.HostFDBase)
			if err != nil {
				return nil, nil, err
			}
			link.Close()
			return kernelsim.AdoptVforkExec(st, fds, cb, c)
		default:
			return nil, nil, fmt.Errorf("vfork child: unknown request %d", op)
		}
	}
}

// result is a raw syscall result: v, or -errno.
func result(v int, err error) int64 {
	if errno, ok := err.(unix.Errno); ok {
		return -int64(errno)
	}
	return int64(v)
}

// reply answers setsid and setpgid with the raw result.
func reply(link *os.File, r int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(r))
	fdpass.SendAll(link, b[:])
}

func receiveExec(link *os.File, size int64, fdBase int) (*kernelsim.VforkExec, []int, error) {
	if size <= 0 || size > 1<<30 {
		return nil, nil, fmt.Errorf("vfork child: exec state of %d bytes", size)
	}
	raw := make([]byte, size)
	if _, err := io.ReadFull(link, raw); err != nil {
		return nil, nil, err
	}
	var st kernelsim.VforkExec
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&st); err != nil {
		return nil, nil, err
	}
	fds, err := fdpass.ReceiveFDs(link, len(st.FDs)+1, max(fdBase+200, st.FDFloor))
	if err != nil {
		return nil, nil, err
	}
	return &st, fds, nil
}
