package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The signal frame as native Linux builds it (a C probe's handler read
// its ucontext): uc_flags FP_XSTATE|SIGCONTEXT_SS|STRICT_RESTORE_SS,
// cs 0x33 and ss 0x2b, oldmask and uc_sigmask the interrupted mask, a
// fault's trapno 14 and cr2 its address; the handler starts with
// rsp+8 16-aligned, rdi the signal, rsi the siginfo, rdx the ucontext.

const (
	stackBase = 0x7100_0000
	stackSize = 0x10000
	stackTop  = stackBase + 0x8000 + 0x13 // an odd sp: the frame aligns itself
)

// greg is register i of the frame's mcontext (gregs order).
func greg(f *fakeMachine, frame uint64, i int) uint64 {
	return f.u64(frame + mcontextOff + 8*uint64(i))
}

const (
	gRax    = 13
	gRcx    = 14
	gRsp    = 15
	gRip    = 16
	gEflags = 17
	gCSGSFS = 18
	gTrapno = 20
	gOld    = 21
	gCR2    = 22
	gFP     = 23
)

// frameTask is a task stopped in a raw syscall (the trap path) at rip
// 0x401002, with a stack in fake memory.
func frameTask(t *testing.T) (*Task, *fakeMachine) {
	task, f := fakeTask(t, nil, [2]uint64{})
	f.mem[stackBase] = make([]byte, stackSize)
	task.CB.Tid = uint64(pid)
	task.CB.Kind = cblock.KindTrap
	task.CB.Trap = cblock.Regs{Rip: 0x401002, Rsp: stackTop, Rflags: 0x246 | eflagsDF | eflagsTF, Rbx: 0xb, R12: 0xc, Rdi: 3}
	return task, f
}

func TestSignalFrameOverARestartedSyscall(t *testing.T) {
	task, f := frameTask(t)
	cb := task.CB
	usr1, usr2, term := int(unix.SIGUSR1), int(unix.SIGUSR2), int(unix.SIGTERM)
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000, flags: saSiginfo | saRestorer | saRestart, restorer: 0x403000, mask: bit(usr2) | unblockable}
	task.sigmask = bit(term)
	si := valued(usr1, 7)
	task.pending.add(usr1, si)
	a := Args{3, guestMem, 10}
	if r := task.afterSyscall(cb, unix.SYS_READ, &a, neg(unix.EINTR)); r != neg(unix.EINTR) {
		t.Errorf("afterSyscall = %d", r)
	}
	regs := cb.Trap
	frame := regs.Rsp
	switch {
	case regs.Rip != 0x402000, regs.Rdi != uint64(usr1), regs.Rsi != frame+siginfoOff, regs.Rdx != frame+ucOff, regs.Rax != 0:
		t.Errorf("handler entry rip %#x rdi %d rsi %#x rdx %#x rax %#x (frame %#x)", regs.Rip, regs.Rdi, regs.Rsi, regs.Rdx, regs.Rax, frame)
	case (frame+8)%16 != 0 || frame >= stackTop-128:
		t.Errorf("frame at %#x: rsp+8 not 16-aligned, or in the red zone below %#x", frame, uint64(stackTop))
	case regs.Rflags&(eflagsDF|eflagsTF) != 0:
		t.Errorf("handler runs with flags %#x: DF and TF are cleared", regs.Rflags)
	case cb.Flags&cblock.FlagResume == 0:
		t.Error("the entry is not told to resume the new context")
	}
	if got := f.u64(frame); got != 0x403000 {
		t.Errorf("return address %#x, want the restorer", got)
	}
	if got := f.u64(frame + ucOff); got != ucFPXstate|ucSigcontextSS|ucStrictRestoreSS {
		t.Errorf("uc_flags %#x, want 0x7", got)
	}
	// SA_RESTART: the context is the syscall instruction again, rax the
	// number (Linux's -ERESTARTSYS under SA_RESTART).
	if rip, rax := greg(f, frame, gRip), greg(f, frame, gRax); rip != 0x401000 || rax != unix.SYS_READ {
		t.Errorf("saved rip %#x rax %#x, want the syscall again (0x401000, %d)", rip, rax, unix.SYS_READ)
	}
	if rcx, rbx := greg(f, frame, gRcx), greg(f, frame, 11); rcx != 0x401002 || rbx != 0xb {
		t.Errorf("saved rcx %#x (syscall leaves the return rip there), rbx %#x", rcx, rbx)
	}
	if got := greg(f, frame, gCSGSFS); got != 0x2b000000000033 {
		t.Errorf("cs/gs/fs/ss %#x", got)
	}
	if old, ucmask := greg(f, frame, gOld), f.u64(frame+ucSigmaskOff); old != bit(term) || ucmask != bit(term) {
		t.Errorf("oldmask %#x, uc_sigmask %#x; want the interrupted mask %#x", old, ucmask, bit(term))
	}
	var got siginfo
	f.ReadMem(frame+siginfoOff, got[:])
	if got != si {
		t.Errorf("siginfo % x", got[:32])
	}
	xsz := uint64(entry.XsaveSize())
	fp := greg(f, frame, gFP)
	if fp%64 != 0 || fp < frame+frameSize || fp+xsz+4 > stackTop {
		t.Errorf("fpstate at %#x (frame %#x, xsave %d bytes)", fp, frame, xsz)
	} else if m1, m2 := le32(f.mem[stackBase][fp-stackBase+464:]), le32(f.mem[stackBase][fp-stackBase+xsz:]); m1 != fpXstateMagic1 || m2 != fpXstateMagic2 {
		t.Errorf("xstate magics %#x %#x", m1, m2)
	}
	if want := bit(term) | bit(usr1) | bit(usr2); task.sigmask != want {
		t.Errorf("handler's mask %#x, want the old one, the signal and sa_mask without SIGKILL/SIGSTOP: %#x", task.sigmask, want)
	}

	// The handler returns through the restorer: rt_sigreturn with rsp at
	// the ucontext. What the handler changed in it takes effect; the
	// flags only as far as FIX_EFLAGS lets them.
	f.putU64(frame+ucSigmaskOff, bit(usr2)|unblockable)
	f.putU64(frame+mcontextOff+8*gEflags, 0x3000|0x4000|0x20000|eflagsDF|1)
	cb.Trap = cblock.Regs{Rsp: frame + 8}
	cb.Flags = 0
	if r := call(task, unix.SYS_RT_SIGRETURN); r != unix.SYS_READ {
		t.Errorf("rt_sigreturn = %d, want the restored rax %d", r, unix.SYS_READ)
	}
	regs = cb.Trap
	if regs.Rip != 0x401000 || regs.Rsp != stackTop || regs.Rbx != 0xb || regs.R12 != 0xc || regs.Rdi != 3 {
		t.Errorf("restored rip %#x rsp %#x rbx %#x r12 %#x rdi %d", regs.Rip, regs.Rsp, regs.Rbx, regs.R12, regs.Rdi)
	}
	if regs.Rflags != 0x202|eflagsDF|1 {
		t.Errorf("restored flags %#x, want IF, DF, CF (IOPL, NT, VM dropped)", regs.Rflags)
	}
	if task.sigmask != bit(usr2) {
		t.Errorf("restored mask %#x, want the frame's without SIGKILL/SIGSTOP", task.sigmask)
	}
	if cb.Flags&cblock.FlagResume == 0 {
		t.Error("rt_sigreturn does not resume the restored context")
	}
	expectCalls(t, f)
}

func TestSignalFrameWithoutRestart(t *testing.T) {
	for _, c := range []struct {
		name  string
		nr    int
		flags uint64
		ret   int64
		rip   uint64
		rax   int64
	}{
		{"no SA_RESTART", unix.SYS_READ, 0, neg(unix.EINTR), 0x401002, neg(unix.EINTR)},
		{"nanosleep is never restarted", unix.SYS_NANOSLEEP, saRestart, neg(unix.EINTR), 0x401002, neg(unix.EINTR)},
		{"a call that completed", unix.SYS_READ, saRestart, 5, 0x401002, 5},
	} {
		task, f := frameTask(t)
		usr1 := int(unix.SIGUSR1)
		task.P.sig.actions[usr1] = sigaction{handler: 0x402000, flags: c.flags}
		task.pending.add(usr1, userInfo(usr1, siUser))
		task.afterSyscall(task.CB, c.nr, &Args{}, c.ret)
		frame := task.CB.Trap.Rsp
		if rip, rax := greg(f, frame, gRip), int64(greg(f, frame, gRax)); rip != c.rip || rax != c.rax {
			t.Errorf("%s: saved rip %#x rax %d, want %#x %d", c.name, rip, rax, c.rip, c.rax)
		}
		if f.u64(frame) != 0 {
			t.Errorf("%s: return address %#x without SA_RESTORER", c.name, f.u64(frame))
		}
	}
}

func TestSignalFrameFlags(t *testing.T) {
	usr1 := int(unix.SIGUSR1)
	// SA_NODEFER: the signal stays unblocked; SA_RESETHAND: the
	// disposition is the default again.
	task, _ := frameTask(t)
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000, flags: saNodefer | saResethand}
	task.pending.add(usr1, userInfo(usr1, siUser))
	task.afterSyscall(task.CB, unix.SYS_GETPID, &Args{}, int64(pid))
	if task.sigmask&bit(usr1) != 0 || task.P.sig.actions[usr1].handler != sigDfl {
		t.Errorf("mask %#x, handler %#x after SA_NODEFER|SA_RESETHAND", task.sigmask, task.P.sig.actions[usr1].handler)
	}
	// SA_ONSTACK: the frame is at the top of the alternate stack, whose
	// settings uc_stack records; the thread was not on it.
	task, f := frameTask(t)
	task.altstack = altstack{Sp: stackBase, Size: 0x4000}
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000, flags: saOnstack}
	task.pending.add(usr1, userInfo(usr1, siUser))
	task.afterSyscall(task.CB, unix.SYS_GETPID, &Args{}, int64(pid))
	frame := task.CB.Trap.Rsp
	if frame < stackBase || frame >= stackBase+0x4000 {
		t.Errorf("frame at %#x, outside the alternate stack", frame)
	}
	if sp, fl, size := f.u64(frame+ucOff+16), int32(le32(f.mem[stackBase][frame+ucOff+24-stackBase:])), f.u64(frame+ucOff+32); sp != stackBase || fl != 0 || size != 0x4000 {
		t.Errorf("uc_stack {%#x, %d, %#x}", sp, fl, size)
	}
	// A signal at the default action that is ignored is dropped on the
	// way; the next one is delivered.
	task, _ = frameTask(t)
	task.pending.add(int(unix.SIGCHLD), userInfo(int(unix.SIGCHLD), siUser))
	task.P.sig.pending.add(int(unix.SIGWINCH), userInfo(int(unix.SIGWINCH), siUser))
	if r := task.afterSyscall(task.CB, unix.SYS_GETPID, &Args{}, 7); r != 7 || task.CB.Flags&cblock.FlagResume != 0 {
		t.Errorf("afterSyscall = %d, flags %#x: nothing to run", r, task.CB.Flags)
	}
	if task.pending.mask|task.P.sig.pending.mask != 0 {
		t.Error("ignored signals are still pending")
	}
}

// A kick stopped the thread anywhere; a fault in guest code has a
// handler: its frame says where (trapno, cr2, si_addr).
func TestInterruptedContexts(t *testing.T) {
	task, f := frameTask(t)
	cb := task.CB
	segv := int(unix.SIGSEGV)
	task.P.sig.actions[segv] = sigaction{handler: 0x402000, flags: saSiginfo}
	cb.FaultSig, cb.FaultCode, cb.FaultAddr = int32(segv), 1, 0x1234
	cb.Nr = cblock.NrInterrupt
	task.P.Dispatch(cb)
	frame := cb.Trap.Rsp
	if cb.Trap.Rip != 0x402000 || cb.FaultSig != 0 {
		t.Fatalf("rip %#x, fault %d", cb.Trap.Rip, cb.FaultSig)
	}
	if trapno, cr2 := greg(f, frame, gTrapno), greg(f, frame, gCR2); trapno != 14 || cr2 != 0x1234 {
		t.Errorf("trapno %d cr2 %#x", trapno, cr2)
	}
	var si siginfo
	f.ReadMem(frame+siginfoOff, si[:])
	if le32(si[0:]) != uint32(segv) || le32(si[8:]) != 1 || le64(si[16:]) != 0x1234 {
		t.Errorf("siginfo signo %d code %d addr %#x", le32(si[0:]), le32(si[8:]), le64(si[16:]))
	}
	if greg(f, frame, gRip) != 0x401002 {
		t.Errorf("saved rip %#x, want the faulting instruction's", greg(f, frame, gRip))
	}
	if task.sigmask != bit(segv) {
		t.Errorf("mask %#x in the handler", task.sigmask)
	}

	// A kick: the pending signal is delivered over the context as it
	// was, nothing rewound.
	task, f = frameTask(t)
	cb = task.CB
	usr1 := int(unix.SIGUSR1)
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000}
	task.P.sig.pending.add(usr1, userInfo(usr1, siUser))
	cb.Nr = cblock.NrInterrupt
	task.P.Dispatch(cb)
	if frame := cb.Trap.Rsp; cb.Trap.Rip != 0x402000 || greg(f, frame, gRip) != 0x401002 || greg(f, frame, gRax) != 0 {
		t.Errorf("handler rip %#x, saved rip %#x rax %#x", cb.Trap.Rip, greg(f, frame, gRip), greg(f, frame, gRax))
	}
	expectCalls(t, f)
}

// A bypass call (through __kernel_vsyscall) interrupted under SA_RESTART
// reports -EINTR at its return address and is re-entered at rt_sigreturn
// when the handler left that context as it was.
func TestBypassCallRestartsAtSigreturn(t *testing.T) {
	task, f := frameTask(t)
	cb := task.CB
	cb.Kind = cblock.KindBypass
	guestSP := uint64(stackTop &^ 7)
	f.putU64(guestSP, 0x405000) // the caller's return address
	usr1 := int(unix.SIGUSR1)
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000, flags: saRestart}
	task.pending.add(usr1, userInfo(usr1, siUser))
	cb.GuestSP = guestSP
	a := Args{3, guestMem, 10, 0, 0, 0}
	task.afterSyscall(cb, unix.SYS_READ, &a, neg(unix.EINTR))
	frame := cb.Trap.Rsp
	if rip, rsp, rax := greg(f, frame, gRip), greg(f, frame, gRsp), int64(greg(f, frame, gRax)); rip != 0x405000 || rsp != guestSP+8 || rax != neg(unix.EINTR) {
		t.Errorf("saved rip %#x rsp %#x rax %d; want the return address, -EINTR", rip, rsp, rax)
	}
	if len(task.restarts) != 1 {
		t.Fatalf("%d restarts recorded", len(task.restarts))
	}
	// rt_sigreturn, itself a bypass call: its return address is below
	// the ucontext.
	cb.GuestSP = frame
	call(task, unix.SYS_RT_SIGRETURN)
	regs := cb.Trap
	if regs.Rip != uint64(entry.BypassEntry()) || regs.Rsp != guestSP || regs.Rdi != unix.SYS_READ || regs.Rsi != 3 || regs.Rdx != guestMem || regs.Rcx != 10 {
		t.Errorf("restart at rip %#x rsp %#x: rdi %d rsi %d rdx %#x rcx %d", regs.Rip, regs.Rsp, regs.Rdi, regs.Rsi, regs.Rdx, regs.Rcx)
	}
	if len(task.restarts) != 0 {
		t.Error("the restart is still recorded")
	}
	expectCalls(t, f)
}
