package kernelsim

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// AdoptVforkExec is the child host process's half of a vfork child's
// execve, past the point of no return (the platform carried out the
// child's other requests until then): st and fds — the child's, in
// st.FDs order, then its cwd — came from the child's thread
// (VforkHost.Exec). It installs them, loads the image (one that fails to
// load now kills the child, as Linux does) and returns the process and
// task ready to run, as AdoptFork does.
func AdoptVforkExec(st *VforkExec, fds []int, cb *cblock.ControlBlock, c Config) (*Process, *Task, error) {
	if len(fds) != len(st.FDs)+1 {
		return nil, nil, fmt.Errorf("vfork child: %d fds for %d", len(fds), len(st.FDs)+1)
	}
	if _, errno := hostCall(unix.SYS_FCHDIR, uint64(fds[len(fds)-1])); errno != 0 {
		return nil, nil, fmt.Errorf("vfork child: its cwd: %w", errno)
	}
	installFDs(&ForkState{FDs: st.FDs}, fds, c.HostFDBase)
	hostCall(unix.SYS_UMASK, uint64(st.Umask))

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
		entry.DieBySignal(int(unix.SIGKILL))
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
	cblock.SetInitialState(cb, uintptr(im.Entry), uintptr(im.SP))
	return p, t, nil
}
