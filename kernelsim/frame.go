package kernelsim

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// sa_flags.
const (
	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000
	saNocldwait = 0x00000002 // SIGCHLD only: the kernel reaps the children
	saRestorer  = 0x04000000
)

// The x86-64 rt_sigframe (arch/x86/include/asm/sigframe.h) as the guest's
// handler sees it, from its stack pointer up:
//
//	+0    pretcode     sa_restorer: the handler's return address
//	+8    ucontext     uc_flags, uc_link, uc_stack (24), uc_mcontext (256),
//	                   uc_sigmask (8)
//	+312  siginfo      128 bytes
//	      ...          padding
//	fp    fpstate      XSAVE image, 64-aligned, FP_XSTATE_MAGIC2 after it
const (
	frameSize    = 440
	ucOff        = 8
	mcontextOff  = ucOff + 40
	ucSigmaskOff = ucOff + 296
	siginfoOff   = 312

	ucFPXstate        = 0x1
	ucSigcontextSS    = 0x2
	ucStrictRestoreSS = 0x4 // a 64-bit frame: rt_sigreturn restores ss as saved

	fpXstateMagic1 = 0x46505853
	fpXstateMagic2 = 0x46505845

	userCS = 0x33
	userSS = 0x2b

	eflagsDF = 1 << 10
	eflagsTF = 1 << 8
	// The flags rt_sigreturn lets user space set (FIX_EFLAGS).
	fixEflags = 0x40dd5
)

// gregs order of struct sigcontext / mcontext_t.
func gregs(r *cblock.Regs) []*uint64 {
	return []*uint64{&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15,
		&r.Rdi, &r.Rsi, &r.Rbp, &r.Rbx, &r.Rdx, &r.Rax, &r.Rcx, &r.Rsp, &r.Rip, &r.Rflags}
}

func (t *Task) onAltstack(sp uint64) bool {
	a := t.altstack
	return a.Flags&ssDisable == 0 && sp > a.Sp && sp <= a.Sp+a.Size
}

func (t *Task) ssFlags(sp uint64) int32 {
	switch {
	case t.altstack.Flags&ssDisable != 0:
		return ssDisable
	case t.onAltstack(sp):
		return 1 // SS_ONSTACK
	}
	return 0
}

// setupFrame builds sig's frame over the interrupted context ctx and
// points the thread at the handler (CB_FLAG_RESUME makes the entry resume
// cb.Trap).
func (t *Task) setupFrame(cb *cblock.ControlBlock, sig int, si siginfo, act sigaction, ctx cblock.Regs) error {
	le := binary.LittleEndian
	sp := ctx.Rsp
	if act.flags&saOnstack != 0 && t.altstack.Flags&ssDisable == 0 && !t.onAltstack(sp) {
		sp = t.altstack.Sp + t.altstack.Size
	} else {
		sp -= 128 // the red zone
	}
	xsz := uint64(entry.XsaveSize())
	fp := (sp - xsz - 4) &^ 63
	frame := ((fp - frameSize) &^ 15) - 8
	if frame > sp || sp-frame > 1<<20 {
		return errors.New("no room for the signal frame")
	}
	buf := make([]byte, fp+xsz+4-frame)

	if act.flags&saRestorer != 0 {
		le.PutUint64(buf[0:], act.restorer)
	}
	uc := buf[ucOff:]
	le.PutUint64(uc[0:], ucFPXstate|ucSigcontextSS|ucStrictRestoreSS)
	le.PutUint64(uc[16:], t.altstack.Sp)
	le.PutUint32(uc[24:], uint32(t.ssFlags(ctx.Rsp)))
	le.PutUint64(uc[32:], t.altstack.Size)
	mc := buf[mcontextOff:]
	for i, p := range gregs(&ctx) {
		le.PutUint64(mc[8*i:], *p)
	}
	le.PutUint64(mc[18*8:], userCS|userSS<<48)
	mask := t.sigmask
	if t.hasSavedMask { // rt_sigsuspend: the handler returns to the old mask
		mask, t.hasSavedMask = t.savedMask, false
	}
	if sig == int(unix.SIGSEGV) || sig == int(unix.SIGBUS) {
		le.PutUint64(mc[20*8:], 14)                 // trapno: page fault
		le.PutUint64(mc[22*8:], le.Uint64(si[16:])) // cr2
	}
	le.PutUint64(mc[21*8:], mask) // oldmask
	le.PutUint64(mc[23*8:], fp)   // fpstate
	le.PutUint64(buf[ucSigmaskOff:], mask)
	copy(buf[siginfoOff:], si[:])

	fpb := buf[fp-frame:]
	copy(fpb[:xsz], cb.Xsave[:xsz])
	le.PutUint32(fpb[464:], fpXstateMagic1)
	le.PutUint32(fpb[468:], uint32(xsz+4))
	le.PutUint64(fpb[472:], cb.XsaveMask)
	le.PutUint32(fpb[480:], uint32(xsz))
	le.PutUint32(fpb[xsz:], fpXstateMagic2)

	if err := writeGuest(frame, buf); err != nil {
		return err
	}

	if cb.Flags&cblock.FlagRestarted != 0 {
		// ctx is a restarted call about to enter again: the handler runs
		// first, and its rt_sigreturn to ctx resumes the same call.
		cb.Flags &^= cblock.FlagRestarted
		t.noteRestart(&bypassRestart{frame: frame + ucOff, again: true, retAddr: ctx.Rip, guestSP: ctx.Rsp})
	}
	regs := ctx
	regs.Rip = act.handler
	regs.Rsp = frame
	regs.Rdi = uint64(sig)
	regs.Rsi = frame + siginfoOff
	regs.Rdx = frame + ucOff
	regs.Rax = 0
	regs.Rflags &^= eflagsDF | eflagsTF
	cb.Trap = regs
	cb.Ret = 0
	cb.Flags |= cblock.FlagResume

	p := t.P
	p.mu.Lock()
	t.sigmask |= act.mask
	if act.flags&saNodefer == 0 {
		t.sigmask |= bit(sig)
	}
	t.sigmask &^= unblockable
	if act.flags&saResethand != 0 {
		p.sig.actions[sig] = sigaction{}
		entry.SetDisposition(sig, cblock.DispositionDefault)
		p.syncChildReaping()
	}
	p.mu.Unlock()
	return nil
}

// sysRtSigreturn restores what the handler left in its frame's ucontext:
// the registers (Go's runtime edits them to inject calls), the mask, the
// extended state and the alternate stack. The frame sits where the
// handler's ret left the stack: at rsp for a raw syscall, past the return
// address for a call to __kernel_vsyscall.
func sysRtSigreturn(t *Task, a *Args) int64 {
	le := binary.LittleEndian
	cb := t.CB
	var uc uint64
	if cb.Kind == cblock.KindBypass {
		uc = cb.GuestSP + 8
	} else {
		uc = cb.Trap.Rsp
	}
	var buf [304]byte
	if err := readGuest(uc, buf[:]); err != nil {
		t.dieBy(int(unix.SIGSEGV))
	}
	var regs cblock.Regs
	mc := buf[40:]
	for i, p := range gregs(&regs) {
		*p = le.Uint64(mc[8*i:])
	}
	regs.Rflags = regs.Rflags&fixEflags | 0x202
	if fp := le.Uint64(mc[23*8:]); fp != 0 {
		xsz := entry.XsaveSize()
		img := make([]byte, xsz)
		if err := readGuest(fp, img); err != nil {
			t.dieBy(int(unix.SIGSEGV))
		}
		if le.Uint32(img[464:]) != fpXstateMagic1 {
			// A legacy FXSAVE image: x87 and SSE only.
			clear(img[512:])
			le.PutUint64(img[512:], 3)
		}
		copy(cb.Xsave[:xsz], img)
	}
	t.setMask(le.Uint64(buf[296:]))
	// restore_altstack: as sigaltstack(uc_stack), errors ignored.
	ss := altstack{Sp: le.Uint64(buf[16:]), Flags: int32(le.Uint32(buf[24:])), Size: le.Uint64(buf[32:])}
	if ss.Flags&ssDisable != 0 {
		t.altstack = altstack{Flags: ssDisable}
	} else if ss.Size >= minSigStkSz {
		t.altstack = altstack{Sp: ss.Sp, Size: ss.Size}
	}
	// A bypass call the signal interrupted restarts now, unless the
	// handler changed where it returns to.
	for i := len(t.restarts) - 1; i >= 0; i-- {
		if r := t.restarts[i]; r.frame == uc {
			if r.apply(&regs) {
				cb.Flags |= cblock.FlagRestarted
			}
			t.restarts = append(t.restarts[:i], t.restarts[i+1:]...)
			break
		}
	}
	// Frames deeper than this one were abandoned (siglongjmp).
	for i := 0; i < len(t.restarts); i++ {
		if t.restarts[i].frame < uc {
			t.restarts = append(t.restarts[:i], t.restarts[i+1:]...)
			i--
		}
	}
	cb.Trap = regs
	cb.Ret = regs.Rax
	cb.Flags |= cblock.FlagResume
	// Signals the restored mask unblocks are delivered now.
	t.takeCFault()
	t.deliverAt(cb, regs)
	return int64(regs.Rax)
}
