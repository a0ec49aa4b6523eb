package ptrace

// A bypass call interrupted by a signal, on the ptrace platform. The
// guest ABI (kernelsim/deliver.go returnContext) reports such a call
// interrupted at its return address with -EINTR, even when it will
// restart — the point a libc's cancellation handler recognises (the
// bypass musl checks the interrupted pc against __cp_vret) — and
// re-issues it at rt_sigreturn if the handler left that context as it
// was. The real kernel would instead rewind rip onto the image's
// `syscall`, so the tracer reshapes the context around the handler.

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// saRestart is SA_RESTART in struct sigaction's flags.
const saRestart = 0x10000000

// sigDisposition is what a process's rt_sigaction installed for a signal.
type sigDisposition struct {
	handler, flags uint64
}

// runsHandler: the signal would run a guest handler (not SIG_DFL, SIG_IGN).
func (d sigDisposition) runsHandler() bool { return d.handler > 1 }

// bypassInterrupt is a bypass call whose exit carried a restart code.
type bypassInterrupt struct {
	code    uint64 // the restart code, positive (ERESTARTSYS...)
	nr      uint64
	rip     uint64 // after the image's `syscall`
	rsp     uint64 // the return address's slot
	retAddr uint64
}

// restartsWith says whether Linux restarts a call that returned code when
// a handler with flags runs (arch/x86/kernel/signal.c handle_signal).
func restartsWith(code, flags uint64) bool {
	switch code {
	case errRestartNoIntr:
		return true
	case errRestartSys:
		return flags&saRestart != 0
	}
	return false
}

// noteSigaction records the disposition rt_sigaction(sig, act, ...) is
// about to install, read from the tracee (struct kernel_sigaction starts
// with the handler and the flags).
func (r *tracer) noteSigaction(th *tracedThread, regs *unix.PtraceRegs) {
	sig, act := regs.Rdi, regs.Rsi
	if act == 0 || sig == 0 || sig > 64 {
		return
	}
	var b [16]byte
	if readMem(th.tid, act, b[:]) != nil {
		return
	}
	if th.proc.handlers == nil {
		th.proc.handlers = map[uint64]sigDisposition{}
	}
	th.proc.handlers[sig] = sigDisposition{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
}

// resetHandlersAtExec: execve resets handled signals to SIG_DFL and keeps
// ignored ones ignored.
func resetHandlersAtExec(h map[uint64]sigDisposition) map[uint64]sigDisposition {
	out := map[uint64]sigDisposition{}
	for sig, d := range h {
		if d.handler == 1 {
			out[sig] = d
		}
	}
	return out
}

// interruptedBypass is the signal-delivery stop of sig for th, whose last
// bypass call returned a restart code: when a guest handler will run, the
// call is presented as returned -EINTR to its caller, and re-issued at
// rt_sigreturn if Linux would have restarted it. Without a handler the
// kernel restarts it in the image, as syscallExit arranged.
func (r *tracer) interruptedBypass(th *tracedThread, sig unix.Signal) error {
	in := th.interrupted
	th.interrupted = nil
	d := th.proc.handlers[uint64(sig)]
	if !d.runsHandler() {
		return nil
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(th.tid, &regs); err != nil {
		return ignoreGone(err)
	}
	regs.Rip, regs.Rsp, regs.Rax = in.retAddr, in.rsp+8, negErrno(unix.EINTR)
	if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
		return ignoreGone(err)
	}
	th.sigreturnRestart = nil
	if restartsWith(in.code, d.flags) {
		th.sigreturnRestart = in
	}
	return nil
}

// handledRestart is the delivery stop of sig for th, whose last call is
// to be issued again (th.restart). A guest handler that runs takes the
// call's result: -EINTR, unless Linux restarts the call — an error the
// guest sees, counted as the in-process platform counts it — or, for a
// raw syscall Linux restarts, the context the kernel rewinds onto the
// `syscall`, which the handler's rt_sigreturn resumes: the same call,
// counted once. (A bypass call is reshaped by interruptedBypass.) Without
// a handler the kernel restarts the call unseen, and th.restart stays.
func (r *tracer) handledRestart(th *tracedThread, sig unix.Signal) {
	rp := th.restart
	if !th.proc.handlers[uint64(sig)].runsHandler() || rp.nr == unix.SYS_RT_SIGRETURN {
		return
	}
	th.restart = restartPoint{}
	switch {
	case rp.code == 0:
		// The call is about to be issued again (rt_sigreturn or the
		// tracer put the thread back on it) and sig comes first.
		if th.interrupted == nil {
			th.handlerRestart = &rp
		}
	case !restartsWith(rp.code, th.proc.handlers[uint64(sig)].flags):
		if cb := r.shards[th.tid]; cb != nil && rp.nr < uint64(len(cb.Errors)) {
			cb.Errors[rp.nr]++
		}
	case th.interrupted == nil:
		rp.code = 0
		th.handlerRestart = &rp
	}
}

// restartAfterHandler is the exit of th's rt_sigreturn: if it restored
// exactly the context interruptedBypass made, the interrupted call is
// issued again from the image's `syscall`, return address on the stack;
// if it restored a raw syscall handledRestart saw rewound, the next stop
// there is that call again.
func (r *tracer) restartAfterHandler(th *tracedThread, regs *unix.PtraceRegs) error {
	if hr := th.handlerRestart; hr != nil && regs.Rip == hr.rip-syscallInsnLen && regs.Rsp == hr.rsp && regs.Rax == hr.nr {
		th.handlerRestart = nil
		th.restart = *hr
		return nil
	}
	in := th.sigreturnRestart
	if in == nil || regs.Rip != in.retAddr || regs.Rsp != in.rsp+8 || regs.Rax != negErrno(unix.EINTR) {
		return nil
	}
	th.sigreturnRestart = nil
	regs.Rip, regs.Rsp, regs.Rax = in.rip-syscallInsnLen, in.rsp, in.nr
	// The re-issued call is the same call: not counted again.
	th.restart = restartPoint{rip: in.rip, rsp: in.rsp, nr: in.nr}
	return ignoreGone(unix.PtraceSetRegs(th.tid, regs))
}

// negErrno is -e as a raw syscall result.
func negErrno(e unix.Errno) uint64 { return -uint64(e) }
