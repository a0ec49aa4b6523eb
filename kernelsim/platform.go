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
}
