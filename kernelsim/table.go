package kernelsim

import "golang.org/x/sys/unix"

// Route says how a syscall reaches (or does not reach) the host kernel.
type Route uint8

const (
	// Fast: the entry trampoline issues the raw syscall itself, no Go.
	Fast Route = iota
	// Guarded: a Go handler checks the arguments against guest-owned
	// resources (address ranges, fds), then passes the call through.
	Guarded
	// Emulated: kernelsim answers for the guest; the host never sees it.
	Emulated
	// Refused: the call fails with Errno; Note says why.
	Refused
)

func (r Route) String() string {
	switch r {
	case Fast:
		return "fast"
	case Guarded:
		return "guarded"
	case Emulated:
		return "emulated"
	case Refused:
		return "refused"
	}
	return "?"
}

// Handler runs a kernel-route syscall for task t and returns the raw Linux
// result (-4095..-1 is -errno).
type Handler func(t *Task, a *Args) int64

// Args are the six syscall arguments as the guest passed them.
type Args [6]uint64

// Syscall is one row of the table: the compatibility documentation.
type Syscall struct {
	Nr      int
	Name    string
	Route   Route
	Handler Handler    // Guarded and Emulated only
	Errno   unix.Errno // Refused only
	Note    string
}
