/*
 * entry.S — the only code that runs between guest code and the host.
 *
 * Everything from vsysbed_region_start to vsysbed_region_end is the
 * "trampoline region": with Syscall User Dispatch it is the one range whose
 * syscall instructions are always allowed, so every raw syscall the host
 * issues on a guest thread (the fast route, FS switching, leaving the
 * guest) lives here. With seccomp it lies inside the host's text, which the
 * filter allows anyway.
 *
 * Register conventions on entry from the guest:
 *  - bypass: a SysV call __kernel_vsyscall(nr, a1..a6) reached through the
 *    vDSO stub's tail jump: rdi=nr, rsi,rdx,rcx,r8,r9=a1..a5, 8(%rsp)=a6,
 *    (%rsp)=return address. Caller-saved registers may be clobbered.
 *  - trap: the SIGSYS handler saved every guest GPR in cb->trap and made the
 *    kernel's sigreturn land on vsysbed_trap_trampoline with rsp=cb->host_sp;
 *    the guest's vector/x87 state is still live in the CPU.
 * In both, GS base points at the control block (cb.h), FS is the guest's.
 */
#include "cb.h"

#define ARCH_SET_FS 0x1002
#define SYS_arch_prctl 158

	.section .text.vsysbed,"ax",@progbits
	.globl vsysbed_region_start
	.hidden vsysbed_region_start
vsysbed_region_start:

/* long vsysbed_bypass_entry(nr, a1..a6): the target of __kernel_vsyscall. */
	.globl vsysbed_bypass_entry
	.hidden vsysbed_bypass_entry
	.type vsysbed_bypass_entry,@function
	.p2align 4
vsysbed_bypass_entry:
	.cfi_startproc
	movl $CB_STATE_ENTRY, %gs:CB_OFF_STATE	/* a kick now waits for the check below */
	movq %rsp, %gs:CB_OFF_GUEST_SP
	/*
	 * The callee-saved registers, for a clone child that resumes at the
	 * caller's return address with the parent's registers (a handful of
	 * stores; the C code below preserves them anyway).
	 */
	movq %rbx, %gs:CB_OFF_TRAP+REGS_RBX
	movq %rbp, %gs:CB_OFF_TRAP+REGS_RBP
	movq %r12, %gs:CB_OFF_TRAP+REGS_R12
	movq %r13, %gs:CB_OFF_TRAP+REGS_R13
	movq %r14, %gs:CB_OFF_TRAP+REGS_R14
	movq %r15, %gs:CB_OFF_TRAP+REGS_R15
	movq %gs:CB_OFF_HOST_SP, %rsp	/* 16-aligned: the call below keeps the ABI */
	call vsysbed_bypass		/* args are already where C wants them */
	/*
	 * From the state store on, a kick is the kick handler's to handle
	 * (it knows this stretch: see kick_handler); before it, the check
	 * below sees what the kick's sender left in sigpending. A signal
	 * signalled exactly once (Go's async preemption) is never lost.
	 */
	.globl vsysbed_bypass_check
	.hidden vsysbed_bypass_check
vsysbed_bypass_check:
	movl $CB_STATE_GUEST, %gs:CB_OFF_STATE
	cmpl $0, %gs:CB_OFF_SIGPENDING
	jne 1f
	movq %gs:CB_OFF_GUEST_SP, %rsp
	ret
1:	movl $CB_STATE_ENTRY, %gs:CB_OFF_STATE
	.globl vsysbed_bypass_guest_end
	.hidden vsysbed_bypass_guest_end
vsysbed_bypass_guest_end:
	movq %rax, %rdi
	call vsysbed_bypass_pending	/* delivers (and does not return) or returns rax */
	jmp vsysbed_bypass_check
	.cfi_endproc
	.size vsysbed_bypass_entry, .-vsysbed_bypass_entry

/* The sigreturn from the SIGSYS handler lands here, on the host stack. */
	.globl vsysbed_trap_trampoline
	.hidden vsysbed_trap_trampoline
	.type vsysbed_trap_trampoline,@function
	.p2align 4
vsysbed_trap_trampoline:
	cld				/* the guest may have left DF set */
	movq %gs:CB_OFF_SELF, %rbx
	movl %gs:CB_OFF_XSAVE_MASK, %eax
	movl %gs:CB_OFF_XSAVE_MASK+4, %edx
	xsave64 CB_OFF_XSAVE(%rbx)	/* vector, x87, AVX-512... of the guest */
	movq %rbx, %rdi
	call vsysbed_trap		/* result in cb->trap.rax; FS is the guest's again */
	/*
	 * Also the way into the guest for a new thread (vsysbed_enter_guest)
	 * and after a signal delivery or rt_sigreturn (kernel_call in C):
	 * needs only GS and a host stack.
	 */
	.globl vsysbed_resume_guest
	.hidden vsysbed_resume_guest
vsysbed_resume_guest:
	movq %gs:CB_OFF_SELF, %rbx
	movl %gs:CB_OFF_XSAVE_MASK, %eax
	movl %gs:CB_OFF_XSAVE_MASK+4, %edx
	xrstor64 CB_OFF_XSAVE(%rbx)
	/* As in the bypass entry: from the state store on, a kick is the
	 * kick handler's, which resumes cb->trap itself. */
	.globl vsysbed_tail_guest
	.hidden vsysbed_tail_guest
vsysbed_tail_guest:
	movl $CB_STATE_GUEST, %gs:CB_OFF_STATE
	cmpl $0, %gs:CB_OFF_SIGPENDING
	jne 2f
	/*
	 * Restore every register from cb->trap: for a syscall vsysbed_trap has
	 * made it what Linux leaves (rax = result, rcx = return rip, r11 =
	 * rflags); after a signal delivery or rt_sigreturn it is the whole
	 * context. rflags is restored on the host stack so that nothing is
	 * written below the guest's rsp (its red zone); the moves and the
	 * memory-indirect jmp after popfq leave the flags alone.
	 */
	andl $~CB_FLAG_LAZYFP, %gs:CB_OFF_FLAGS	/* the state resumed is the CPU's */
	pushq %gs:CB_OFF_TRAP+REGS_RFLAGS
	popfq
	movq %gs:CB_OFF_TRAP+REGS_RBX, %rbx
	movq %gs:CB_OFF_TRAP+REGS_RDX, %rdx
	movq %gs:CB_OFF_TRAP+REGS_RSI, %rsi
	movq %gs:CB_OFF_TRAP+REGS_RDI, %rdi
	movq %gs:CB_OFF_TRAP+REGS_RBP, %rbp
	movq %gs:CB_OFF_TRAP+REGS_R8, %r8
	movq %gs:CB_OFF_TRAP+REGS_R9, %r9
	movq %gs:CB_OFF_TRAP+REGS_R10, %r10
	movq %gs:CB_OFF_TRAP+REGS_R12, %r12
	movq %gs:CB_OFF_TRAP+REGS_R13, %r13
	movq %gs:CB_OFF_TRAP+REGS_R14, %r14
	movq %gs:CB_OFF_TRAP+REGS_R15, %r15
	movq %gs:CB_OFF_TRAP+REGS_R11, %r11
	movq %gs:CB_OFF_TRAP+REGS_RCX, %rcx
	movq %gs:CB_OFF_TRAP+REGS_RAX, %rax
	movq %gs:CB_OFF_TRAP+REGS_RSP, %rsp
	jmp *%gs:CB_OFF_TRAP+REGS_RIP
2:	movl $CB_STATE_ENTRY, %gs:CB_OFF_STATE
	.globl vsysbed_tail_guest_end
	.hidden vsysbed_tail_guest_end
vsysbed_tail_guest_end:
	andq $-16, %rsp
	movq %gs:CB_OFF_SELF, %rdi
	call vsysbed_pending		/* delivers over cb->trap, or finds nothing */
	jmp vsysbed_resume_guest
	.size vsysbed_trap_trampoline, .-vsysbed_trap_trampoline

/*
 * A call from a rewritten call site (kernelsim/rewrite.go): the site's
 * `mov $nr,%eax` became a jmp to a stub in a guest page, which does
 *	mov $nr,%eax; lea after_syscall(%rip),%rcx; jmp *%gs:CB_OFF_PATCHED_ENTRY
 * and lands here with every guest register as at the syscall but rcx (the
 * return address) and the guest's rflags (mov, lea and jmp change no flag).
 * Save them in cb->trap as the SIGSYS handler does, rip = rcx so that a
 * restart's rewind (rip - 2) lands on the site's `syscall`, which traps;
 * nothing is written on the guest's stack (its red zone). Then the trap
 * path's C half and tail (vsysbed_trap, vsysbed_tail_guest): same routes,
 * kernel calls, signal delivery and resume.
 *
 * A kick before the state store finds GUEST in the region and leaves it:
 * the trap path looks at sigpending after the call, as for a bypass call.
 */
	.globl vsysbed_patched_entry
	.hidden vsysbed_patched_entry
	.type vsysbed_patched_entry,@function
	.p2align 4
vsysbed_patched_entry:
	movl $CB_STATE_ENTRY, %gs:CB_OFF_STATE
	movq %rax, %gs:CB_OFF_TRAP+REGS_RAX
	movq %rbx, %gs:CB_OFF_TRAP+REGS_RBX
	movq %rcx, %gs:CB_OFF_TRAP+REGS_RCX
	movq %rcx, %gs:CB_OFF_TRAP+REGS_RIP
	movq %rdx, %gs:CB_OFF_TRAP+REGS_RDX
	movq %rsi, %gs:CB_OFF_TRAP+REGS_RSI
	movq %rdi, %gs:CB_OFF_TRAP+REGS_RDI
	movq %rbp, %gs:CB_OFF_TRAP+REGS_RBP
	movq %rsp, %gs:CB_OFF_TRAP+REGS_RSP
	movq %r8, %gs:CB_OFF_TRAP+REGS_R8
	movq %r9, %gs:CB_OFF_TRAP+REGS_R9
	movq %r10, %gs:CB_OFF_TRAP+REGS_R10
	movq %r11, %gs:CB_OFF_TRAP+REGS_R11
	movq %r12, %gs:CB_OFF_TRAP+REGS_R12
	movq %r13, %gs:CB_OFF_TRAP+REGS_R13
	movq %r14, %gs:CB_OFF_TRAP+REGS_R14
	movq %r15, %gs:CB_OFF_TRAP+REGS_R15
	movq %gs:CB_OFF_HOST_SP, %rsp
	pushfq				/* on the host stack */
	popq %gs:CB_OFF_TRAP+REGS_RFLAGS
	/*
	 * No xsave: the C entry touches no vector, x87 or mask register
	 * (entry.c's pragma), so the fast route leaves the guest's extended
	 * state in the CPU; kernel_call saves it before Go runs
	 * (CB_FLAG_LAZYFP), and then the resume restores it.
	 */
	orl $(CB_FLAG_PATCHED|CB_FLAG_LAZYFP), %gs:CB_OFF_FLAGS	/* flags saved above */
	cld
	movq %gs:CB_OFF_SELF, %rdi
	call vsysbed_trap
	testl $CB_FLAG_LAZYFP, %gs:CB_OFF_FLAGS
	jz vsysbed_resume_guest		/* saved on the way: restore it */
	jmp vsysbed_tail_guest		/* still in the CPU */
	.size vsysbed_patched_entry, .-vsysbed_patched_entry

/*
 * A kick (or a fault the guest handles) interrupted guest code: the
 * handler saved the context in cb->trap, like SIGSYS does, and made the
 * sigreturn land here. Deliver what is pending, then resume.
 */
	.globl vsysbed_interrupt_trampoline
	.hidden vsysbed_interrupt_trampoline
	.type vsysbed_interrupt_trampoline,@function
	.p2align 4
vsysbed_interrupt_trampoline:
	cld
	movq %gs:CB_OFF_SELF, %rbx
	movl %gs:CB_OFF_XSAVE_MASK, %eax
	movl %gs:CB_OFF_XSAVE_MASK+4, %edx
	xsave64 CB_OFF_XSAVE(%rbx)
	movq %rbx, %rdi
	call vsysbed_interrupt
	jmp vsysbed_resume_guest
	.size vsysbed_interrupt_trampoline, .-vsysbed_interrupt_trampoline

/* long vsysbed_raw_syscall6(nr, a1..a6): a raw syscall from the region. */
	.globl vsysbed_raw_syscall6
	.hidden vsysbed_raw_syscall6
	.type vsysbed_raw_syscall6,@function
	.p2align 4
vsysbed_raw_syscall6:
	.cfi_startproc
	movq %rdi, %rax
	movq %rsi, %rdi
	movq %rdx, %rsi
	movq %rcx, %rdx
	movq %r8, %r10
	movq %r9, %r8
	movq 8(%rsp), %r9
	syscall
	ret
	.cfi_endproc
	.size vsysbed_raw_syscall6, .-vsysbed_raw_syscall6

/*
 * void vsysbed_enter_guest(struct vsysbed_cb *cb)
 * Saves the host's callee-saved registers in cb->host_ctx, sets the guest
 * FS, and resumes the guest from cb->trap and the XSAVE area exactly as the
 * trap path does: a new process starts there with rip=entry, rsp=sp and
 * every other register zero (rdx=0: no atexit function for _start), a new
 * thread with its parent's registers and rax=0. It "returns" only through
 * vsysbed_leave_guest.
 */
	.globl vsysbed_enter_guest
	.hidden vsysbed_enter_guest
	.type vsysbed_enter_guest,@function
	.p2align 4
vsysbed_enter_guest:
	.cfi_startproc
	movq %rbx, CB_OFF_HOST_CTX+0(%rdi)
	movq %rbp, CB_OFF_HOST_CTX+8(%rdi)
	movq %r12, CB_OFF_HOST_CTX+16(%rdi)
	movq %r13, CB_OFF_HOST_CTX+24(%rdi)
	movq %r14, CB_OFF_HOST_CTX+32(%rdi)
	movq %r15, CB_OFF_HOST_CTX+40(%rdi)
	movq %rsp, CB_OFF_HOST_CTX+48(%rdi)
	/* Entries run below this frame, past a red zone, 16-aligned. */
	leaq -256(%rsp), %rax
	andq $-16, %rax
	movq %rax, CB_OFF_HOST_SP(%rdi)
	movq %rdi, %rbx
	movq CB_OFF_GUEST_FS(%rbx), %rsi
	testl $CB_FLAG_FSGSBASE, CB_OFF_FLAGS(%rbx)
	jz 2f
	wrfsbase %rsi
	jmp 3f
2:	movq $SYS_arch_prctl, %rax
	movq $ARCH_SET_FS, %rdi
	syscall
3:	cmpb $CB_TRAP_SUD, CB_OFF_TRAP_MODE(%rbx)
	jne vsysbed_resume_guest
	movb $CB_SUD_BLOCK, CB_OFF_SELECTOR(%rbx)
	jmp vsysbed_resume_guest
	.cfi_endproc
	.size vsysbed_enter_guest, .-vsysbed_enter_guest

/*
 * void vsysbed_leave_guest(struct vsysbed_cb *cb): resume the caller of
 * vsysbed_enter_guest, discarding the entry frames in between (they hold no
 * Go frames: every callback into Go has already returned).
 */
	.globl vsysbed_leave_guest
	.hidden vsysbed_leave_guest
	.type vsysbed_leave_guest,@function
	.p2align 4
vsysbed_leave_guest:
	.cfi_startproc
	movl $CB_STATE_HOST, CB_OFF_STATE(%rdi)
	movq CB_OFF_HOST_CTX+0(%rdi), %rbx
	movq CB_OFF_HOST_CTX+8(%rdi), %rbp
	movq CB_OFF_HOST_CTX+16(%rdi), %r12
	movq CB_OFF_HOST_CTX+24(%rdi), %r13
	movq CB_OFF_HOST_CTX+32(%rdi), %r14
	movq CB_OFF_HOST_CTX+40(%rdi), %r15
	movq CB_OFF_HOST_CTX+48(%rdi), %rsp
	ret
	.cfi_endproc
	.size vsysbed_leave_guest, .-vsysbed_leave_guest

/*
 * The sa_restorer of the host handlers that may run while the guest's SUD
 * selector is BLOCK: its rt_sigreturn comes from the region, so it passes.
 */
	.globl vsysbed_restore_rt
	.hidden vsysbed_restore_rt
	.type vsysbed_restore_rt,@function
	.p2align 4
vsysbed_restore_rt:
	movq $15, %rax			/* rt_sigreturn */
	syscall
	hlt
	.size vsysbed_restore_rt, .-vsysbed_restore_rt

	.globl vsysbed_region_end
	.hidden vsysbed_region_end
vsysbed_region_end:

/*
 * long vsysbed_probe_u32(const void *p): the 32-bit word at p, zero-
 * extended, or -1 if reading it faults — fault_handler resumes a fault at
 * vsysbed_probe_insn at vsysbed_probe_fixup. The C entry reads guest
 * memory with it (poll's fds) where a bad pointer is the guest's EFAULT,
 * not the host's crash. Outside the region: it issues no syscall.
 */
	.text
	.globl vsysbed_probe_u32
	.hidden vsysbed_probe_u32
	.type vsysbed_probe_u32,@function
	.p2align 4
vsysbed_probe_u32:
	.globl vsysbed_probe_insn
	.hidden vsysbed_probe_insn
vsysbed_probe_insn:
	movl (%rdi), %eax
	ret
	.globl vsysbed_probe_fixup
	.hidden vsysbed_probe_fixup
vsysbed_probe_fixup:
	movq $-1, %rax
	ret
	.size vsysbed_probe_u32, .-vsysbed_probe_u32

	.section .note.GNU-stack,"",@progbits
