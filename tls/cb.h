/*
 * cb.h — the per-thread control block shared by Go, C and assembly.
 *
 * One control block exists per live guest thread; an exited thread's block
 * serves its process's next new thread (tls.Reset, coverage.ShardPool), its
 * counts and sites kept. It is a MAP_SHARED mapping of a shard file in the
 * run directory, so its counters survive a crash or a SIGKILL of the host
 * process: the supervisor reads them afterwards. While
 * the thread runs guest code, GS base points at the block (the guest never
 * owns GS on x86-64: glibc, musl and Go all use FS), so the entry
 * trampolines and the vDSO stubs reach it with %gs-relative addressing,
 * without a register and without touching the guest's stack or TLS.
 *
 * The Go mirror is tls/controlblock.go; TestOffsets checks that every field
 * below sits at the same offset on both sides. Change both together.
 *
 *   0      +------------------------------+
 *          | header: self, magic, state,  |  hot fields the trampolines use
 *          | FS bases, stacks, call slot  |
 *   512    +------------------------------+
 *          | trap frame: guest GPRs       |  saved by the SIGSYS handler
 *   1024   +------------------------------+
 *          | exit record                  |  written before the host exits
 *   4096   +------------------------------+
 *          | counts[CB_NR_MAX][CB_KINDS]  |  u64 per (syscall, entry kind)
 *   16384  +------------------------------+
 *          | sites[CB_SITES]              |  open-addressed (addr,nr,kind)
 *   114688 +------------------------------+
 *          | xsave area (64-aligned)      |  extended state on the trap path
 *   131072 +------------------------------+
 *          | hostinfo[64]                 |  siginfo of relayed host signals
 *   139264 +------------------------------+
 *          | errors[CB_NR_MAX]            |  u32: calls that failed
 *   143360 +------------------------------+
 *          | patched[CB_NR_MAX]           |  u64: calls via rewritten sites
 *   147456 +------------------------------+
 *          | cycles[CB_NR_MAX][CB_TIME_KINDS] u64: TSC cycles spent in calls
 *   159744 +------------------------------+
 *          | site_cycles[CB_SITES]        |  u64: cycles of sites[i]'s calls
 *   192512 +------------------------------+
 */
#ifndef VSYSBED_CB_H
#define VSYSBED_CB_H

#define CB_MAGIC 0x0064656273797376ULL /* "vsysbed\0" little-endian */
#define CB_VERSION 4 /* 4: the timing (t_*, cycles[], site_cycles[]); 3:
		      * patched_entry, patched[]; 3 reads without timing, 2
		      * also as patched = 0 */
#define CB_SIZE 192512

#define CB_NR_MAX 512 /* syscall numbers 0..511 are counted by number */
#define CB_KINDS 3
#define CB_KIND_BYPASS 0
#define CB_KIND_TRAP 1
#define CB_KIND_VDSO 2
/* An i386 call (int $0x80), counted by its i386 number in the site table
 * only: counts[] has no column for it (its numbers are another table's). */
#define CB_KIND_INT80 3
/* A call through a rewritten call site (--rewrite=lazy): counted in
 * patched[] by number and in the site table at the syscall instruction. */
#define CB_KIND_PATCHED 4
#define CB_SITE_KINDS 5

#define CB_SITES 4096 /* power of two */

/* The columns of cycles[nr][]: the kinds whose calls are timed (a vDSO
 * call never leaves the vDSO's own code, an i386 call is counted by
 * another table's number). */
#define CB_TIME_KINDS 3
#define CB_TIME_BYPASS 0
#define CB_TIME_TRAP 1
#define CB_TIME_PATCHED 2
/* A bypass or patched call is timed at its site's 1st, 9th, 17th... call
 * (entry.c, count_timed): the site's time is its timed calls' scaled by
 * count / timed, timed = (count + CB_TIME_SAMPLE - 1) / CB_TIME_SAMPLE. A
 * trap, and a call the site table had no room for, is timed every time. */
#define CB_TIME_SAMPLE 8

/* state: what the thread is executing. */
#define CB_STATE_HOST 0   /* host Go/C code, before or after the guest */
#define CB_STATE_GUEST 1  /* guest code */
#define CB_STATE_KERNEL 2 /* kernelsim on behalf of the guest */
#define CB_STATE_ENTRY 3  /* the entry trampolines, between guest and Go */

/* trap_mode */
#define CB_TRAP_SECCOMP 0
#define CB_TRAP_SUD 1

/* flags */
#define CB_FLAG_LEAVE 1 /* kernelsim asks the thread to leave the guest */
#define CB_FLAG_FSGSBASE 2 /* switch FS with wrfsbase, not arch_prctl */
#define CB_FLAG_RESUME 4   /* after the kernel call, resume the guest from
			    * cb->trap + XSAVE area (signal delivery,
			    * rt_sigreturn), not a plain syscall return */
#define CB_FLAG_DONE 8     /* the fast route already ran the call: its
			    * result is in cb->ret; Go only looks at signals */
#define CB_FLAG_VFORK 16   /* a vfork child's thread: its dispositions are
			    * its own (kernelsim's), so every fault in its
			    * guest code goes to kernelsim, never kills the
			    * host process (its parent's) */
#define CB_FLAG_IA32 32    /* the trapped call is an i386 one (SIGSYS
			    * si_arch AUDIT_ARCH_I386: int $0x80) */
#define CB_FLAG_RESTARTED 64 /* rt_sigreturn resumed a call the kernel
			      * restarts (SA_RESTART): the next entry is
			      * that call again, not a new one to count */
#define CB_FLAG_PATCHED 128 /* the trap frame came from a rewritten site
			     * through vsysbed_patched_entry, not SIGSYS */
#define CB_FLAG_LAZYFP 256  /* the guest's extended state is still live in
			     * the CPU, not in the XSAVE area: kernel_call
			     * saves it before Go runs (the patched path) */

/* cb->nr of a kernel call made at an arbitrary guest instruction, to
 * deliver a signal (a kick or a fault); the context is cb->trap. */
#define CB_NR_INTERRUPT (-1L)
/* ... made as a fast-route bypass call returns (result in cb->ret), to
 * deliver a signal over that return. */
#define CB_NR_RETURN (-2L)
/* ... made after a trap from a site that may be rewritten (--rewrite=lazy):
 * args[0] is the trapped nr, site the syscall instruction; kernelsim
 * rewrites the site or leaves it (kernelsim/rewrite.go). */
#define CB_NR_PATCH (-3L)

/* Syscall User Dispatch selector values (linux/prctl.h). */
#define CB_SUD_ALLOW 0
#define CB_SUD_BLOCK 1

/* Byte offsets used by assembly (checked against offsetof in the test). */
#define CB_OFF_SELF 0
#define CB_OFF_MAGIC 8
#define CB_OFF_STATE 20
#define CB_OFF_HOST_FS 24
#define CB_OFF_GUEST_FS 32
#define CB_OFF_HOST_SP 40
#define CB_OFF_GUEST_SP 48
#define CB_OFF_HOST_CTX 56
#define CB_OFF_NR 120
#define CB_OFF_ARGS 128
#define CB_OFF_RET 176
#define CB_OFF_SITE 184
#define CB_OFF_KIND 192
#define CB_OFF_FLAGS 196
#define CB_OFF_SELECTOR 200
#define CB_OFF_TRAP_MODE 201
#define CB_OFF_XSAVE_MASK 208
#define CB_OFF_TID 216
#define CB_OFF_SIGPENDING 224
#define CB_OFF_FAULT_SIG 228
#define CB_OFF_FAULT_ADDR 232
#define CB_OFF_FAULT_CODE 240
#define CB_OFF_PID 244
#define CB_OFF_HOSTSIG 248
#define CB_OFF_THREADS 256
#define CB_OFF_CALL_START 264
#define CB_OFF_CALL_REQ 272
#define CB_OFF_CALL_REQ_OK 288
#define CB_OFF_PATCHED_ENTRY 296
#define CB_OFF_T_START 304
#define CB_OFF_T_TRAP 328
#define CB_OFF_TRAP 512
#define CB_OFF_EXIT 1024
#define CB_OFF_COUNTS 4096
#define CB_OFF_SITES 16384
#define CB_OFF_XSAVE 114688
#define CB_XSAVE_MAX 16384
#define CB_OFF_HOSTINFO 131072 /* siginfo of each relayed host signal */
#define CB_OFF_ERRORS 139264   /* errors[nr]: calls that returned -4095..-1 */
#define CB_OFF_PATCHED 143360  /* patched[nr]: calls through rewritten sites */
#define CB_OFF_CYCLES 147456   /* cycles[nr][CB_TIME_*]: TSC cycles in calls */
#define CB_OFF_SITE_CYCLES 159744 /* site_cycles[i]: sites[i]'s cycles */

/* struct cb_regs field offsets, relative to CB_OFF_TRAP. */
#define REGS_RAX 0
#define REGS_RBX 8
#define REGS_RCX 16
#define REGS_RDX 24
#define REGS_RSI 32
#define REGS_RDI 40
#define REGS_RBP 48
#define REGS_RSP 56
#define REGS_R8 64
#define REGS_R9 72
#define REGS_R10 80
#define REGS_R11 88
#define REGS_R12 96
#define REGS_R13 104
#define REGS_R14 112
#define REGS_R15 120
#define REGS_RIP 128
#define REGS_RFLAGS 136

#ifndef __ASSEMBLER__
#include <stdint.h>

struct cb_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct cb_site {
	uint64_t addr;  /* bypass: return address; trap: the syscall insn */
	uint32_t nr;
	uint32_t kind;
	uint64_t count; /* 0 = free slot */
};

struct cb_exit {
	uint32_t done;       /* 1 once the guest exited or died */
	int32_t code;        /* exit status when signal == 0 */
	int32_t signal;      /* the signal the guest died by, or 0 */
	uint32_t pad;
	uint64_t fault_addr; /* si_addr of a fatal synchronous signal */
	uint64_t fault_rip;  /* guest instruction pointer at the fault */
	uint64_t sites_dropped; /* site table full: counted in counts only */
};

struct vsysbed_cb {
	uint64_t self;      /* the block's own address: %gs:0 */
	uint64_t magic;     /* CB_MAGIC */
	uint32_t version;   /* CB_VERSION */
	uint32_t state;     /* CB_STATE_* */
	uint64_t host_fs;   /* FS base of the host thread (Go's TLS) */
	uint64_t guest_fs;  /* FS base the guest set with arch_prctl */
	uint64_t host_sp;   /* stack top for entries: below the entering frame */
	uint64_t guest_sp;  /* bypass: guest rsp at entry (-> return address) */
	uint64_t host_ctx[8]; /* rbx rbp r12 r13 r14 r15 rsp rip of the enter frame */
	uint64_t nr;        /* the syscall being handled */
	uint64_t args[6];
	uint64_t ret;
	uint64_t site;
	uint32_t kind;      /* CB_KIND_* of the current call */
	uint32_t flags;     /* CB_FLAG_* */
	uint8_t selector;   /* SUD selector byte */
	uint8_t trap_mode;  /* CB_TRAP_* */
	uint8_t pad0[6];
	uint64_t xsave_mask; /* XCR0 features to save (edx:eax for xsave) */
	uint64_t tid;        /* host thread id */
	uint32_t sigpending; /* a guest signal may be deliverable: look at
			      * it before returning to the guest */
	int32_t fault_sig;   /* a synchronous fault for the guest's handler */
	uint64_t fault_addr;
	int32_t fault_code;
	uint32_t pid;        /* the host process (= guest process) id */
	uint64_t hostsig;    /* host signals that arrived on this thread for the
			      * guest (bit sig-1), taken by kernelsim */
	uint32_t threads;    /* guest threads that used this block in turn: a
			      * block is handed to a new thread of the same
			      * process when its thread exits, counts and sites
			      * kept (0 in shards older than the field: one) */
	uint32_t pad_threads;
	uint64_t call_start; /* CLOCK_MONOTONIC ns at which a timed call
			      * (sleep, poll, epoll_wait) began on the fast
			      * route: what is left of its timeout when a
			      * host signal interrupted it for nothing */
	int64_t call_req[2]; /* a relative sleep's request (sec, nsec) read at
			      * call_start: the kernel overwrites it when the
			      * request is also the rem (glibc's and musl's
			      * sleep()), at a stop too, so what is left is
			      * counted from it, not from the rem */
	uint32_t call_req_ok; /* call_req was read (nanosleep, relative
			       * clock_nanosleep, a readable request) */
	uint32_t pad_req;
	uint64_t patched_entry; /* vsysbed_patched_entry: a rewritten site's
				 * stub jumps through %gs:CB_OFF_PATCHED_ENTRY,
				 * so its page holds no host address (a fork
				 * child's vsysbed may be mapped elsewhere) */
	/*
	 * The call being timed (entry.c's timing_begin/timing_end): the TSC
	 * at its entry (0: none), its number, cycles[] column and site slot
	 * + 1 (0: the site table had no room). t_trap is the TSC the SIGSYS
	 * handler read, the start of a trapped call.
	 */
	uint64_t t_start;
	uint32_t t_nr;
	uint32_t t_col;
	uint32_t t_slot;
	uint32_t pad_t;
	uint64_t t_trap;
	uint8_t pad1[512 - 336];
	struct cb_regs trap; /* guest registers at the trapped syscall */
	uint8_t pad2[1024 - 512 - sizeof(struct cb_regs)];
	struct cb_exit exit;
	uint8_t pad3[4096 - 1024 - sizeof(struct cb_exit)];
	uint64_t counts[CB_NR_MAX][CB_KINDS];
	struct cb_site sites[CB_SITES];
	uint8_t xsave[CB_XSAVE_MAX];
	uint8_t hostinfo[64][128]; /* the last siginfo of each relayed signal */
	uint32_t errors[CB_NR_MAX]; /* calls of nr that returned an error */
	uint8_t pad4[4096 - 4 * CB_NR_MAX];
	uint64_t patched[CB_NR_MAX]; /* calls of nr through a rewritten site */
	/* TSC cycles spent in the calls counted above, from the entry to the
	 * return to the guest (docs/report-schema.md, "Time"): of the timed
	 * calls of each site, and in cycles[nr][] of the calls without a slot;
	 * all 0 with --timing=off. */
	uint64_t cycles[CB_NR_MAX][CB_TIME_KINDS];
	uint64_t site_cycles[CB_SITES];
};

_Static_assert(sizeof(struct vsysbed_cb) == CB_SIZE, "cb size");
#endif
#endif
