package kernelsim

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
)

// setpgid of a fork child. Linux lets a parent move its child into a
// process group until the child has called execve (then EACCES): shells
// do it for every job, from both sides. A guest child's host process is a
// re-exec of vsysbed, which the host kernel counts as its execve, so a
// parent's setpgid(child, pgid) is EACCES on the host from the start. The
// child therefore keeps the fork link open until its guest's execve and
// does the call on itself when its parent asks; the parent keeps its end
// of the link for each such child (childLinks).

// childLink is the parent's end of the link to a fork child that has not
// yet called execve.
type childLink struct {
	mu sync.Mutex // one request at a time
	f  *os.File
}

// sysSetpgid passes setpgid through, and asks a child that has not called
// execve to do it itself when the host kernel says EACCES for it.
func sysSetpgid(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_SETPGID, a)
	pid := int(int32(a[0]))
	if r != -int64(unix.EACCES) || pid <= 0 {
		return r
	}
	t.P.mu.Lock()
	l := t.P.childLinks[pid]
	t.P.mu.Unlock()
	if l == nil {
		return r
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var b [8]byte
	put64(b[:], a[1])
	if fdpass.SendAll(l.f, b[:]) != nil {
		return r // gone, or past its execve: the kernel's EACCES stands
	}
	if _, err := io.ReadFull(l.f, b[:]); err != nil {
		return r
	}
	return int64(le64(b[:]))
}

// keepChildLink keeps the link to fork child pid for its setpgid, and lets
// go of the links of children that have ended or called execve (the other
// end hung up).
func (p *Process) keepChildLink(pid int, f *os.File) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.childLinks == nil {
		p.childLinks = map[int]*childLink{}
	}
	if len(p.childLinks) >= 8 {
		fds := make([]unix.PollFd, 0, len(p.childLinks))
		pids := make([]int, 0, len(p.childLinks))
		for cpid, l := range p.childLinks {
			fds = append(fds, unix.PollFd{Fd: int32(l.f.Fd()), Events: unix.POLLRDHUP})
			pids = append(pids, cpid)
		}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			for i, fd := range fds {
				if fd.Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
					p.childLinks[pids[i]].f.Close()
					delete(p.childLinks, pids[i])
				}
			}
		}
	}
	if old := p.childLinks[pid]; old != nil { // a reused pid
		old.f.Close()
	}
	p.childLinks[pid] = &childLink{f: f}
}

// serveParent answers the parent's setpgid requests on link until the
// guest's execve closes it (closeParentLink) or the parent lets it go.
func (p *Process) serveParent(link *os.File, started chan<- struct{}) {
	p.mu.Lock()
	p.parentLink = link
	p.mu.Unlock()
	close(started)
	var b [8]byte
	for {
		if _, err := io.ReadFull(link, b[:]); err != nil {
			return
		}
		r := machine.Syscall(unix.SYS_SETPGID, &Args{0, le64(b[:])})
		put64(b[:], uint64(r))
		if fdpass.SendAll(link, b[:]) != nil {
			return
		}
	}
}

// closeParentLink: past the guest's execve, the parent's setpgid of this
// process is EACCES, as the host kernel answers it.
func (p *Process) closeParentLink() {
	p.mu.Lock()
	l := p.parentLink
	p.parentLink = nil
	p.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

// startServingParent moves a fork child's link to the parent to a
// non-blocking fd at floor or above (the original is closed), so that
// serveParent's reads wait in Go's netpoller, and starts serveParent on
// it; it returns once the goroutine is in its loop, with the link's new
// file (the C entry writes "ready" on it).
func (p *Process) startServingParent(link *os.File, floor int) (*os.File, error) {
	fd, err := unix.FcntlInt(link.Fd(), unix.F_DUPFD_CLOEXEC, floor)
	if err != nil {
		return nil, fmt.Errorf("moving the link to the parent: %w", err)
	}
	link.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("moving the link to the parent: %w", err)
	}
	served := os.NewFile(uintptr(fd), "fork")
	started := make(chan struct{})
	go p.serveParent(served, started)
	<-started
	return served, nil
}
