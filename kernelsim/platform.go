package kernelsim

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls"
)

// Platform is what kernelsim asks of the platform below the guest for the
// host threads its tasks run on (ARCHITECTURE.md, "The kernel and its
// platform"). kernelsim decides what a new thread is — its control block,
// registers, mask, tid words — and what its leaving means; the platform
// gives it a host thread, arms the trap there and runs guest code on it.
// A Process gets its platform from Config.Platform (platform/inprocess
// hands in its own).
type Platform interface {
	// StartThread runs body on a new host thread, locked to it for good:
	// a thread that has run guest code (GS base, signal mask, SUD) dies
	// with it.
	StartThread(body func())
	// Enter runs cb's guest thread on the calling host thread until it
	// leaves the guest for good: it arms the trap for cb on this thread,
	// calls ready, and runs guest code. It returns an error, without
	// calling ready, when the trap cannot be armed.
	Enter(cb *tls.ControlBlock, ready func()) error
	// Release disarms the trap on the calling host thread, whose guest
	// has left; false means cb must not serve another thread (the kernel
	// may still read its SUD selector there).
	Release(cb *tls.ControlBlock) bool
	// StartProcess starts a child host process for a new guest process
	// (fork, vfork) and returns its pid, the guest's new pid, and the
	// link to it: its host process adopts the guest's state from the
	// other end (AdoptFork).
	StartProcess() (pid int, link *os.File, errno unix.Errno)

	// StartVfork starts the host process of a vfork child (vfork.go),
	// whose pid is the child's, and returns it: it waits, carrying out
	// what the child does to its own process, while the child runs on a
	// thread of this one (StartChildThread) until its execve or exit.
	StartVfork() (pid int, host VforkHost, errno unix.Errno)
	// StartChildThread is StartThread for a vfork child: the new thread
	// first takes a private copy of the fd table, cwd and umask, so that
	// the child's open, close, dup2 and chdir apply to its own, at the
	// numbers the guest sees; body gets the error when it could not.
	StartChildThread(body func(err error))
}

// VforkHost is a vfork child's host process as the child's thread sees
// it. Its calls are made on that thread (the link to it is in the
// thread's own fd table), but Close, which the parent calls once the
// thread has started.
type VforkHost interface {
	// Setsid and Setpgid run in the child's host process, the process
	// they name; the result is raw (-errno; ESRCH when it is gone).
	Setsid() int64
	Setpgid(pgid int64) int64
	// Exit and Die end the child: its host process exits with status
	// code, or dies by signal sig.
	Exit(code int)
	Die(sig int)
	// Exec hands a checked execve over: the state and the fds (in
	// st.FDs order, then the cwd), which the host process installs
	// before it loads the image (AdoptVforkExec).
	Exec(st *VforkExec, fds []int) unix.Errno
	// Close drops the parent's own copy of the link.
	Close()
}
