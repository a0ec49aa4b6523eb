package kernelsim

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls"
)

// awaitVforkExec is the child host process's half of vfork: while the
// child runs on its parent's thread, this process — already the child's
// pid — carries out the child's setsid and setpgid, and ends when the
// child exits or dies. At the child's execve it takes the child's fds,
// cwd, umask, mask and ignored signals and loads the new image; it
// returns the process and task ready for tls.Run, as AdoptFork does.
func awaitVforkExec(link *os.File, cb *tls.ControlBlock, c Config) (*Process, *Task, error) {
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(link, hdr[:]); err != nil {
			// The parent's host process is gone, and the child with it.
			return nil, nil, fmt.Errorf("vfork child: the parent left: %w", err)
		}
		op, arg := binary.LittleEndian.Uint64(hdr[0:]), int64(binary.LittleEndian.Uint64(hdr[8:]))
		switch op {
		case vforkSetsid:
			r := hostResult(unix.Setsid())
			replyVfork(link, r)
		case vforkSetpgid:
			r := int64(0)
			if err := unix.Setpgid(0, int(arg)); err != nil {
				r = errnoOf(err)
			}
			replyVfork(link, r)
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
			return execVforkChild(link, cb, c, arg)
		default:
			return nil, nil, fmt.Errorf("vfork child: unknown request %d", op)
		}
	}
}

func replyVfork(link *os.File, r int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(r))
	sendAll(link, b[:])
}

// execVforkChild performs the child's execve in this process, past the
// point of no return: an image that fails to load now kills the child, as
// Linux does.
func execVforkChild(link *os.File, cb *tls.ControlBlock, c Config, size int64) (*Process, *Task, error) {
	if size <= 0 || size > 1<<30 {
		return nil, nil, fmt.Errorf("vfork child: exec state of %d bytes", size)
	}
	raw := make([]byte, size)
	if _, err := io.ReadFull(link, raw); err != nil {
		return nil, nil, err
	}
	var st VforkExec
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&st); err != nil {
		return nil, nil, err
	}
	fds, err := receiveFDs(link, len(st.FDs)+1, max(c.HostFDBase+200, st.FDFloor))
	if err != nil {
		return nil, nil, err
	}
	link.Close()
	if err := unix.Fchdir(fds[len(fds)-1]); err != nil {
		return nil, nil, fmt.Errorf("vfork child: its cwd: %w", err)
	}
	installFDs(&ForkState{FDs: st.FDs}, fds, c.HostFDBase)
	unix.Umask(st.Umask)

	im, err := c.Exec(st.Path, st.Argv, st.Envp)
	if err != nil {
		if c.Events != nil {
			c.Events.Error("execve " + st.Path + ": " + err.Error())
		}
		cb.Exit.Signal = int32(unix.SIGKILL)
		cb.Exit.Done = 1
		if c.Events != nil {
			c.Events.Exit(0, unix.SIGKILL)
		}
		tls.DieBySignal(int(unix.SIGKILL))
		select {}
	}
	c.Image = *im
	SetThreadName(st.Comm)
	c.Personality = st.Persona
	c.Confinement = st.Conf
	p := NewProcess(c, st.Routes)
	p.mu.Lock()
	for res, l := range st.Limits {
		p.limits[res] = l
	}
	p.mu.Unlock()
	p.closeOnExec()
	t := p.NewTask(cb)
	p.InheritSignals(t, st.Ignored, st.Mask)
	tls.SetInitialState(cb, uintptr(im.Entry), uintptr(im.SP))
	return p, t, nil
}
