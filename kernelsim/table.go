package kernelsim

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

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
	// Checked (Guarded only): the C entry runs the call itself when its
	// arguments need nothing of Handler's (tls/entry.c's checked_call:
	// close, getdents64, open, openat), and sends the rest here. A route
	// override, tracing or --inject sends every call here.
	Checked bool
}

// How a kernel-route call reaches its row: the C entry (tls/entry.c's
// kernel_call) calls tls's exported vsysbedKernelCall on the guest thread,
// which calls Dispatch (platform/inprocess registers it with tls.SetKernel:
// kernelsim links no cgo); Dispatch finds the thread's task and its row in
// the table (syscalls.go), runs the handler, then delivers what signals the
// call left pending.

// Dispatch runs the kernel-route call described by cb on the guest thread
// that owns it. It is the tls.KernelFunc of every guest thread.
func (p *Process) Dispatch(cb *cblock.ControlBlock) {
	t := p.taskOn(cb)
	t.guest.dispatch(t, cb)
}

// taskOn is the task running on block cb: one of p's threads, or a vfork
// child on a host thread of p's (which is none of p's threads).
func (p *Process) taskOn(cb *cblock.ControlBlock) *Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tasks[cb]; t != nil {
		return t
	}
	return p.vforkTasks[cb]
}

func (t *Task) dispatch(cb *cblock.ControlBlock) {
	if t.leaveIfExiting() {
		return
	}
	switch cb.Nr {
	case cblock.NrInterrupt:
		t.interrupted(cb)
		return
	case cblock.NrPatch:
		t.rewriteSite(cb)
		return
	case cblock.NrReturn:
		// A fast-route bypass call returning with a signal pending.
		t.takeCFault()
		if ctx, _, err := t.returnContext(cb, -1, nil, int64(cb.Ret), false); err == nil {
			t.deliverAt(cb, ctx)
		}
		return
	}
	nr := int(int64(cb.Nr))
	if t.P.trace != nil {
		t.dispatchTraced(cb, nr) // trace.go
		return
	}
	t.call(cb, nr)
}

// call runs syscall nr of cb and leaves its result in cb.Ret.
func (t *Task) call(cb *cblock.ControlBlock, nr int) {
	a := Args(cb.Args)
	var ret int64
	t.tampered, t.injectedReturn = "", false // set by tamperedSyscall for this call only
	if cb.Flags&cblock.FlagDone != 0 {
		ret = int64(cb.Ret) // the fast route ran it; only signals are left
	} else {
		if isTimed[nr] {
			noteCallStart(cb, nr, &a)
		}
		ret = t.tamperedSyscall(cb, nr, &a) // --inject, --personality (tamper.go)
	}
	if cb.Flags&cblock.FlagResume == 0 && (atomic.LoadUint32(&cb.SigPending) != 0 || ret == -int64(unix.EINTR)) {
		ret = t.afterSyscall(cb, nr, &a, ret)
	}
	cb.Ret = uint64(ret)
	t.leaveIfExiting()
	if cb.Flags&cblock.FlagLeave != 0 {
		exitPause()
	}
}

func (t *Task) syscall(nr int, a *Args) int64 {
	if nr < 0 || nr > MaxNr {
		return -int64(unix.ENOSYS)
	}
	if r, ok := t.guest.syscall(t, nr, a); ok {
		return r
	}
	row := &table[nr]
	switch row.Route {
	case Fast:
		// A route override sent it here, or the C entry did (fastInGo).
		return t.fastInGo(nr, a)
	case Refused:
		return -int64(row.Errno)
	}
	return row.Handler(t, a)
}

// passthrough issues the call on the host (the Machine's).
func passthrough(nr int, a *Args) int64 { return machine.Syscall(nr, a) }
