/*
 * entry.c — the C half of the guest/host boundary: counting, the route
 * decision, the switch into Go for kernel-route calls, and the host signal
 * handlers that must run before Go's.
 *
 * Code here may run with the GUEST's FS base loaded: it must not touch TLS
 * (no errno, no stack protector — cgo builds it with -fno-stack-protector —
 * no libc calls on those paths). Raw syscalls go through
 * vsysbed_raw_syscall6 in entry.S so that they come from the trampoline
 * region that Syscall User Dispatch always allows.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <cpuid.h>
#include "cb.h"
#include "entry.h"
#include "_cgo_export.h"

/*
 * No vector, x87 or mask register anywhere in this file: the patched path
 * (vsysbed_patched_entry) runs the fast route with the guest's extended
 * state still live in the CPU, saving it only before Go runs (kernel_call).
 */
#pragma GCC target("general-regs-only")

#define EBADF_ 9 /* no errno.h: its errno is TLS */
#define EINTR_ 4
#define EAGAIN_ 11
#define ENOSYS_ 38
#define AUDIT_ARCH_X86_64_ 0xc000003eU
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

/* vsysbed_routes[nr] is ROUTE_FAST, ROUTE_KERNEL or ROUTE_CHECKED; filled by Go. */
uint8_t vsysbed_routes[CB_NR_MAX];

uint8_t vsysbed_fdargs[CB_NR_MAX];
uint8_t vsysbed_timed[CB_NR_MAX];
void *vsysbed_host_clock_gettime;
int32_t vsysbed_hostfd_base = INT32_MAX;
uint64_t vsysbed_guest_high[GUEST_HIGH_FDS / 64];

/* The guest's disposition of each signal (GUEST_SIG_*), kept by kernelsim. */
uint8_t vsysbed_guest_disposition[65];

extern char vsysbed_region_start[], vsysbed_region_end[];
extern char vsysbed_bypass_entry[], vsysbed_trap_trampoline[], vsysbed_interrupt_trampoline[];
extern char vsysbed_tail_guest[], vsysbed_tail_guest_end[];
extern char vsysbed_bypass_check[], vsysbed_bypass_guest_end[];
extern char vsysbed_patched_entry[];
void vsysbed_resume_guest(void) __attribute__((noreturn));
void vsysbed_enter_guest(struct vsysbed_cb *cb);
void vsysbed_leave_guest(struct vsysbed_cb *cb) __attribute__((noreturn));

static inline struct vsysbed_cb *gs_cb(void)
{
	struct vsysbed_cb *cb;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(cb));
	return cb;
}

#define RAW0(nr) vsysbed_raw_syscall6((nr), 0, 0, 0, 0, 0, 0)
#define RAW2(nr, a, b) vsysbed_raw_syscall6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define RAW4(nr, a, b, c, d) vsysbed_raw_syscall6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/*
 * The control block of the calling thread when it is a guest thread, for
 * the fault handlers. GS alone cannot tell: the kernel copies GS base into
 * threads cloned from a guest thread (Go may create one during a callback),
 * so the handlers also compare the thread id recorded in the block.
 */
static struct vsysbed_cb *thread_cb(void)
{
	uint64_t gs = 0;
	RAW2(SYS_arch_prctl, ARCH_GET_GS, &gs);
	struct vsysbed_cb *cb = (struct vsysbed_cb *)gs;
	if (cb == NULL || cb->magic != CB_MAGIC || cb->self != gs)
		return NULL;
	if ((long)cb->tid != RAW0(SYS_gettid))
		return NULL;
	return cb;
}


/*
 * Count one entry: by number, and by (site, nr, kind) in the site table.
 * Returns the site's count after this one, 0 if the table had no room;
 * *slot is the site's slot + 1 (0: no room).
 */
static uint64_t count_slot(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind, uint32_t *slot)
{
	if (nr < CB_NR_MAX && kind < CB_KINDS)
		cb->counts[nr][kind]++;
	else if (nr < CB_NR_MAX && kind == CB_KIND_PATCHED)
		cb->patched[nr]++;
	uint64_t h = (site ^ (nr << 48) ^ ((uint64_t)kind << 60)) * 0x9E3779B97F4A7C15ULL;
	uint32_t idx = (uint32_t)(h >> 52);
	for (int probe = 0; probe < 32; probe++) {
		uint32_t i = (idx + probe) & (CB_SITES - 1);
		struct cb_site *s = &cb->sites[i];
		if (s->count == 0) {
			s->addr = site;
			s->nr = (uint32_t)nr;
			s->kind = kind;
			s->count = 1;
			*slot = i + 1;
			return 1;
		}
		if (s->addr == site && s->nr == nr && s->kind == kind) {
			*slot = i + 1;
			return ++s->count;
		}
	}
	cb->exit.sites_dropped++;
	*slot = 0;
	return 0;
}

static inline uint64_t count(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind)
{
	uint32_t slot;
	return count_slot(cb, nr, site, kind, &slot);
}

/*
 * Timing (--timing=on, the default): the TSC at a call's entry and at its
 * return to the guest, the difference added to its site's site_cycles,
 * or to cycles[nr][col] when the site table had no room for it. rdtsc is
 * not serialising, and needs none here: the span is hundreds of cycles,
 * its error a few.
 *
 * Two rdtscs and the sums cost ~17 ns (45 cycles on an AMD EPYC, where
 * rdtsc alone takes 28): a bypass or patched call, 300-400 ns, is timed
 * at its site's 1st, 9th, 17th... call only (CB_TIME_SAMPLE), which the
 * report scales by the site's count (rundir); a trap, microseconds, and
 * a call without a slot are timed every time. Off, a call pays the load
 * and branch on vsysbed_timing and the one on t_start at exit. A call
 * that leaves the guest for good (exit, exit_group) is counted but not
 * timed.
 */
int vsysbed_timing = 1;

/* count_timed's t0 for a call timed at its site's sampled calls only. */
#define TIME_SAMPLED 1

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

uint64_t vsysbed_rdtsc(void) { return rdtsc(); }

static inline void timing_begin(struct vsysbed_cb *cb, uint64_t t0, uint64_t nr, uint32_t col, uint32_t slot)
{
	if (t0 == 0 || nr >= CB_NR_MAX)
		return;
	cb->t_nr = (uint32_t)nr;
	cb->t_col = col;
	cb->t_slot = slot;
	cb->t_start = t0;
}

static inline void timing_end(struct vsysbed_cb *cb)
{
	if (cb->t_start == 0)
		return;
	uint64_t dt = rdtsc() - cb->t_start;
	cb->t_start = 0;
	if (cb->t_slot)
		cb->site_cycles[cb->t_slot - 1] += dt;
	else
		cb->cycles[cb->t_nr][cb->t_col] += dt;
}

/* count() for tls's TestCountMatchesC, which checks Go's twin (count.go). */
void vsysbed_count(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind)
{
	count(cb, nr, site, kind);
}

/*
 * Count one call entering vsysbed, unless it is a call the kernel restarts
 * entering again: kernelsim's rt_sigreturn resumed the thread right on it
 * (CB_FLAG_RESTARTED), as Linux rewinds rip onto the `syscall` after an
 * SA_RESTART handler. Natively that is one call the guest made once.
 */
static inline uint64_t count_entry(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind)
{
	if (__builtin_expect(cb->flags & CB_FLAG_RESTARTED, 0)) {
		cb->flags &= ~CB_FLAG_RESTARTED;
		return 0;
	}
	return count(cb, nr, site, kind);
}

/*
 * count_entry, and the call timed in column col: from t0 (0: not timed),
 * or, for TIME_SAMPLED, from now at its site's sampled calls (the n-th
 * with n % CB_TIME_SAMPLE == 1, or any without a slot).
 */
static inline uint64_t count_timed(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind,
				   uint64_t t0, uint32_t col)
{
	if (__builtin_expect(cb->flags & CB_FLAG_RESTARTED, 0)) {
		cb->flags &= ~CB_FLAG_RESTARTED;
		return 0;
	}
	uint32_t slot;
	uint64_t n = count_slot(cb, nr, site, kind, &slot);
	if (t0 == TIME_SAMPLED)
		t0 = vsysbed_timing && (n % CB_TIME_SAMPLE == 1 || slot == 0) ? rdtsc() : 0;
	timing_begin(cb, t0, nr, col, slot);
	return n;
}

void vsysbed_timed_count(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind, uint32_t col, int spin)
{
	uint64_t t0 = col == CB_TIME_TRAP ? (vsysbed_timing ? rdtsc() : 0) : TIME_SAMPLED;
	count_timed(cb, nr, site, kind, t0, col);
	for (volatile int i = 0; i < spin; i++)
		;
	timing_end(cb);
}

/*
 * What timing adds to a call (vsysbed calibrate, make bench): n counted
 * entries into cb as the bypass entry makes them (sampled at one site),
 * timed or not, in TSC cycles for all n.
 */
uint64_t vsysbed_cal_timing(void *block, long n, int timed)
{
	struct vsysbed_cb *cb = block;
	int saved = vsysbed_timing;
	vsysbed_timing = timed;
	uint64_t t0 = rdtsc();
	for (long i = 0; i < n; i++) {
		count_timed(cb, 39, 0x1000, CB_KIND_BYPASS, TIME_SAMPLED, CB_TIME_BYPASS);
		__asm__ volatile("" ::: "memory");
		timing_end(cb);
	}
	uint64_t dt = rdtsc() - t0;
	vsysbed_timing = saved;
	return dt;
}

/*
 * Load an FS base: wrfsbase where the CPU and kernel allow it (AT_HWCAP2
 * FSGSBASE; ~10 ns), arch_prctl otherwise (a syscall, ~100 ns or more).
 */
static inline void set_fs(struct vsysbed_cb *cb, uint64_t base)
{
	if (cb->flags & CB_FLAG_FSGSBASE)
		__asm__ volatile("wrfsbase %0" : : "r"(base) : "memory");
	else
		RAW2(SYS_arch_prctl, ARCH_SET_FS, base);
}

/*
 * Run one call through Go. Switches to the host FS (Go finds g through
 * it), opens the SUD selector so Go's own syscalls pass, and comes back to
 * the guest FS unless kernelsim asked the thread to leave the guest. When
 * kernelsim delivered a signal or ran rt_sigreturn (CB_FLAG_RESUME), the
 * whole context is in cb->trap: resume it instead of returning.
 */
static long kernel_call(struct vsysbed_cb *cb, long nr, const long a[6], uint64_t site, uint32_t kind)
{
	if (cb->flags & CB_FLAG_LAZYFP) {
		/* The patched path left the guest's extended state in the CPU
		 * (this file uses none of it); Go will not, and kernelsim reads
		 * it from the area (signal frames, fork, threads). */
		__asm__ volatile("xsave64 %0"
				 : "+m"(*(uint8_t(*)[CB_XSAVE_MAX])cb->xsave)
				 : "a"((uint32_t)cb->xsave_mask), "d"((uint32_t)(cb->xsave_mask >> 32))
				 : "memory");
		cb->flags &= ~CB_FLAG_LAZYFP;
	}
	cb->nr = nr;
	for (int i = 0; i < 6; i++)
		cb->args[i] = a[i];
	cb->site = site;
	cb->kind = kind;
	cb->state = CB_STATE_KERNEL;
	cb->selector = CB_SUD_ALLOW;
	set_fs(cb, cb->host_fs);
	vsysbedKernelCall(cb);
	if (cb->flags & CB_FLAG_LEAVE)
		vsysbed_leave_guest(cb);
	cb->flags &= ~CB_FLAG_DONE;
	set_fs(cb, cb->guest_fs);
	cb->state = CB_STATE_ENTRY;
	if (cb->trap_mode == CB_TRAP_SUD)
		cb->selector = CB_SUD_BLOCK;
	if (cb->flags & CB_FLAG_RESUME) {
		cb->flags &= ~CB_FLAG_RESUME;
		timing_end(cb); /* the call ends here: a signal frame, rt_sigreturn, exec */
		vsysbed_resume_guest();
	}
	return (long)cb->ret;
}

/*
 * A fast-route call came back while a guest signal may be pending
 * (interrupted with EINTR by a kick, or raced with one): let kernelsim
 * decide on delivery and restart with the result already known.
 */
static long signal_check(struct vsysbed_cb *cb, long nr, const long a[6], uint64_t site, uint32_t kind, long ret)
{
	cb->ret = (uint64_t)ret;
	cb->flags |= CB_FLAG_DONE;
	return kernel_call(cb, nr, a, site, kind);
}

/*
 * Count a call that returned an error, the result class diff-run compares
 * across platforms. Calls that never return here (execve, exit, a kernel
 * call that resumed a signal frame) are not counted here: kernelsim counts
 * the error a handler's frame carries (afterSyscall).
 */
static inline long count_result(struct vsysbed_cb *cb, long nr, long ret)
{
	if ((unsigned long)ret >= -4095UL && (unsigned long)nr < CB_NR_MAX)
		cb->errors[nr]++;
	return ret;
}

static inline int is_fast(long nr)
{
	return (unsigned long)nr < CB_NR_MAX && vsysbed_routes[nr] == ROUTE_FAST;
}

/* Is fd (as the kernel reads an int or unsigned int argument: its low 32
 * bits) one of the host's? One compare for every guest fd below the base. */
int vsysbed_is_host_fd(int32_t fd)
{
	if (__builtin_expect(fd < vsysbed_hostfd_base, 1))
		return 0;
	uint32_t i = (uint32_t)(fd - vsysbed_hostfd_base);
	if (i >= GUEST_HIGH_FDS)
		return 0;
	return !((__atomic_load_n(&vsysbed_guest_high[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1);
}

void vsysbed_mark_guest_fd(int32_t fd, int guest)
{
	if (fd < vsysbed_hostfd_base)
		return;
	uint32_t i = (uint32_t)(fd - vsysbed_hostfd_base);
	if (i >= GUEST_HIGH_FDS)
		return;
	uint64_t bit = 1ULL << (i % 64);
	if (guest)
		__atomic_fetch_or(&vsysbed_guest_high[i / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&vsysbed_guest_high[i / 64], ~bit, __ATOMIC_RELAXED);
}

/* A call naming a host fd fails as for a closed fd, before any route. */
static inline int names_host_fd(long nr, const long a[6])
{
	if ((unsigned long)nr >= CB_NR_MAX)
		return 0;
	unsigned m = vsysbed_fdargs[nr] & FD_ARGS_MASK;
	for (int i = 0; m; i++, m >>= 1)
		if ((m & 1) && vsysbed_is_host_fd((int32_t)a[i]))
			return 1;
	return 0;
}

#define SYS_read_ 0
#define SYS_poll_ 7
#define SYS_readv_ 19
#define SYS_select_ 23

/* The guest's signalfds (kernelsim/signalfd.go): their reads are
 * kernelsim's, which dequeues the guest's pending signals. */
#define SIGFD_MAX 4096
static uint64_t vsysbed_sigfds[SIGFD_MAX / 64];

void vsysbed_mark_signalfd(int32_t fd, int on)
{
	if (fd < 0 || fd >= SIGFD_MAX)
		return;
	if (on)
		__atomic_fetch_or(&vsysbed_sigfds[fd / 64], 1ULL << (fd % 64), __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&vsysbed_sigfds[fd / 64], ~(1ULL << (fd % 64)), __ATOMIC_RELAXED);
}

static inline int is_signalfd(long fd)
{
	return (unsigned long)(unsigned int)fd < SIGFD_MAX &&
	       ((__atomic_load_n(&vsysbed_sigfds[(unsigned int)fd / 64], __ATOMIC_RELAXED) >> ((unsigned int)fd % 64)) & 1);
}
#define NR_OPEN_MAX_ (1UL << 20) /* fs.nr_open's ceiling: poll's EINVAL above */

long vsysbed_probe_u32(const void *p);
extern char vsysbed_probe_insn[], vsysbed_probe_fixup[];

/*
 * Fast-route calls kernelsim must see after all: a read of a signalfd,
 * and poll and select, whose fds live in memory. A call that may name a
 * host fd there goes to kernelsim instead of the fast route, and kernelsim answers
 * as Linux does for a closed fd (POLLNVAL) or a bit beyond the fd table
 * (select ignores it). select can name one only
 * with nfds above the base; poll's array is read with the probe, so a bad
 * pointer is left to the kernel's EFAULT.
 */
#define SYS_stat_ 4
#define SYS_newfstatat_ 262
#define SYS_statx_ 332

/*
 * vsysbed's own binary's inode (low 32 bits; kernelsim/procpath.go). A
 * stat that followed /proc/self/exe found vsysbed: the result goes to
 * kernelsim, which redoes the call on the guest's image. Every other stat
 * stays on the fast route, at the cost of one probe and one compare.
 */
static uint32_t vsysbed_exe_ino;

void vsysbed_set_exe_ino(uint64_t ino) { vsysbed_exe_ino = (uint32_t)ino; }

static inline int found_host_exe(long nr, const long a[6], long ret)
{
	const char *ino;
	if (__builtin_expect(ret != 0 || !vsysbed_exe_ino, 0))
		return 0;
	switch (nr) {
	case SYS_stat_:
		ino = (const char *)a[1] + 8; /* struct stat's st_ino */
		break;
	case SYS_newfstatat_:
		ino = (const char *)a[2] + 8;
		break;
	case SYS_statx_:
		ino = (const char *)a[4] + 32; /* struct statx's stx_ino */
		break;
	default:
		return 0;
	}
	return __builtin_expect(vsysbed_probe_u32(ino) == (long)vsysbed_exe_ino, 0);
}

static inline int host_fd_in_sets(long nr, const long a[6])
{
	if (nr == SYS_read_ || nr == SYS_readv_)
		return __builtin_expect(is_signalfd(a[0]), 0);
	if (__builtin_expect(nr == SYS_select_, 0))
		return (int)a[0] > vsysbed_hostfd_base;
	if (__builtin_expect(nr != SYS_poll_, 1))
		return 0;
	const char *fds = (const char *)a[0];
	unsigned long n = (unsigned int)a[1];
	if (n > NR_OPEN_MAX_)
		return 0;
	for (unsigned long i = 0; i < n; i++) {
		long fd = vsysbed_probe_u32(fds + 8 * i); /* struct pollfd's fd */
		if (fd == -1)
			return 0;
		if (vsysbed_is_host_fd((int32_t)fd))
			return 1;
	}
	return 0;
}

/*
 * The guarded calls the C entry runs itself (ROUTE_CHECKED: kernelsim's
 * Checked rows) when what their handler does beyond passing them through
 * cannot apply; any other call of theirs takes the kernel route. Each test
 * is the handler's own reason for taking the call, decided from the
 * arguments with at most one more host call:
 *
 *   close       sysClose forgets a signalfd or a maps file not read yet
 *               (both marked in vsysbed_sigfds) and the guest's mark of an
 *               fd at or above the host's base: run here below both.
 *   getdents64  sysGetdents64 filters the listings of /proc's fd, task and
 *               map_files directories: run here when fstat says the fd is
 *               not on /proc's device.
 *   open,       sysOpen's and sysOpenat's first try (openNoMagicLinks):
 *   openat      openat2 with RESOLVE_NO_MAGICLINKS and the open_how open(2)
 *               builds. A magic link (ELOOP) or a kernel without openat2
 *               (ENOSYS) goes to kernelsim with nothing opened; an fd on
 *               /proc's device, or on a file with vsysbed's inode (as
 *               found_host_exe), is closed again and the call goes to
 *               kernelsim, which opens it once more and answers the guest's
 *               view (checkOpened). Opening such a file twice changes
 *               nothing the guest sees: procfs makes no file for O_CREAT,
 *               and O_EXCL cannot have succeeded on a file that exists.
 *
 * Until kernelsim has told the entry /proc's device, every one goes to
 * kernelsim. Returns 1 with *ret the call's result when it ran here.
 */
static uint64_t vsysbed_proc_dev;

void vsysbed_set_proc_dev(uint64_t dev) { vsysbed_proc_dev = dev; }

#define SYS_openat2_ 437
#define ELOOP_ 40
#define O_CREAT_ 0100
#define O_DIRECTORY_ 0200000
#define O_NOFOLLOW_ 0400000
#define O_CLOEXEC_ 02000000
#define O_PATH_ 010000000
#define O_TMPFILE_BIT_ 020000000 /* __O_TMPFILE, without O_DIRECTORY */
/* Linux's VALID_OPEN_FLAGS (include/linux/fcntl.h), O_LARGEFILE's 0100000 among them. */
#define VALID_OPEN_FLAGS_ 037777703U
#define O_PATH_FLAGS_ (O_DIRECTORY_ | O_NOFOLLOW_ | O_PATH_ | O_CLOEXEC_)
#define RESOLVE_NO_MAGICLINKS_ 0x02

/* fd is open on a file kernelsim must see: on /proc's device, or (exe) one
 * with vsysbed's binary's inode. A failed fstat says yes. */
static inline int kernelsim_file(long fd, int exe)
{
	uint64_t st[18]; /* struct stat: st_dev at 0, st_ino at 8 */
	if (vsysbed_raw_syscall6(SYS_fstat, fd, (long)st, 0, 0, 0, 0) != 0)
		return 1;
	return st[0] == vsysbed_proc_dev || (exe && vsysbed_exe_ino && (uint32_t)st[1] == vsysbed_exe_ino);
}

/* open and openat (sysOpen, sysOpenat): open(2)'s open_how (build_open_how:
 * the flags it knows, O_PATH keeping its own few, the mode only for a call
 * that may create) with RESOLVE_NO_MAGICLINKS, as openNoMagicLinks. */
static int checked_open(long dirfd, long path, long flags, long mode, long *ret)
{
	uint64_t how[3] = {(uint64_t)flags & VALID_OPEN_FLAGS_, 0, RESOLVE_NO_MAGICLINKS_};
	if (how[0] & O_PATH_)
		how[0] &= O_PATH_FLAGS_;
	if (how[0] & (O_CREAT_ | O_TMPFILE_BIT_))
		how[1] = (uint64_t)mode & 07777;
	long r = vsysbed_raw_syscall6(SYS_openat2_, dirfd, path, (long)how, sizeof how, 0, 0);
	if (r == -ELOOP_ || r == -ENOSYS_)
		return 0;
	if (r >= 0 && kernelsim_file(r, 1)) {
		vsysbed_raw_syscall6(SYS_close, r, 0, 0, 0, 0, 0);
		return 0;
	}
	*ret = r;
	return 1;
}

static int checked_call(long nr, const long a[6], long *ret)
{
	if (!vsysbed_proc_dev)
		return 0;
	switch (nr) {
	case SYS_close: {
		uint32_t fd = (uint32_t)a[0];
		if (fd >= (uint32_t)vsysbed_hostfd_base || fd >= SIGFD_MAX || is_signalfd(fd))
			return 0;
		*ret = vsysbed_raw_syscall6(SYS_close, a[0], 0, 0, 0, 0, 0);
		return 1;
	}
	case SYS_getdents64:
		if (kernelsim_file(a[0], 0))
			return 0;
		*ret = vsysbed_raw_syscall6(SYS_getdents64, a[0], a[1], a[2], 0, 0, 0);
		return 1;
	case SYS_open:
		return checked_open(-100 /* AT_FDCWD */, a[0], a[1], a[2], ret);
	case SYS_openat:
		return checked_open(a[0], a[1], a[2], a[3], ret);
	}
	return 0;
}

/* For tls's tests: checked_call without a guest. */
int vsysbed_checked_call(long nr, const long a[6], long *ret) { return checked_call(nr, a, ret); }

static inline int is_checked(long nr)
{
	return (unsigned long)nr < CB_NR_MAX && vsysbed_routes[nr] == ROUTE_CHECKED;
}

struct ts_ {
	long sec, nsec;
};

void vsysbed_set_host_clock(uintptr_t addr)
{
	vsysbed_host_clock_gettime = (void *)addr;
}

/* A 64-bit word of guest memory through the fault-safe probe: 0 if it faults. */
static int probe_u64(const void *p, int64_t *v)
{
	long lo = vsysbed_probe_u32(p), hi = vsysbed_probe_u32((const char *)p + 4);
	if (lo < 0 || hi < 0)
		return 0;
	*v = (int64_t)((uint64_t)hi << 32 | (uint64_t)lo);
	return 1;
}

static inline void note_start(struct vsysbed_cb *cb, long nr, const long *a)
{
	if (__builtin_expect(!vsysbed_timed[nr], 1)) /* nr < CB_NR_MAX: is_fast */
		return;
	/* A relative sleep's request, which the kernel may overwrite (as the
	 * rem) before kernelsim restarts the sleep: kernelsim counts what is
	 * left from it (timed.go). */
	const void *req = nr == SYS_nanosleep ? (const void *)a[0]
			  : nr == SYS_clock_nanosleep && !(a[1] & 1 /* TIMER_ABSTIME */) ? (const void *)a[2]
											: 0;
	cb->call_req_ok = req && probe_u64(req, &cb->call_req[0]) && probe_u64((const char *)req + 8, &cb->call_req[1]);
	struct ts_ ts = {0, 0};
	int (*clock)(int, struct ts_ *) = (int (*)(int, struct ts_ *))vsysbed_host_clock_gettime;
	if (clock)
		clock(1 /* CLOCK_MONOTONIC */, &ts);
	else
		RAW2(SYS_clock_gettime, 1, &ts);
	cb->call_start = (uint64_t)ts.sec * 1000000000ULL + (uint64_t)ts.nsec;
}

#define F_DUPFD_ 0
#define F_DUPFD_CLOEXEC_ 1030

/*
 * The highest fd the guest's own fd table has reached: Linux's table only
 * grows (expand_files), and select ignores bits beyond it (kernelsim's
 * clearHostFDBits models that for the host's fds).
 */
int32_t vsysbed_fd_high = 2;

void vsysbed_raise_fd_high(int32_t fd)
{
	int32_t h = __atomic_load_n(&vsysbed_fd_high, __ATOMIC_RELAXED);
	while (fd > h && !__atomic_compare_exchange_n(&vsysbed_fd_high, &h, fd, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* A new fd raises the table's high mark; at or above the base it is the
 * guest's from now on. A result below both is one compare. */
static inline long note_fd_result(long nr, const long a[6], long ret)
{
	if (__builtin_expect(ret > vsysbed_fd_high || ret >= vsysbed_hostfd_base, 0) &&
	    (unsigned long)ret < 0x80000000UL && (unsigned long)nr < CB_NR_MAX) {
		uint8_t f = vsysbed_fdargs[nr];
		if ((f & FD_RESULT) || ((f & FD_RESULT_DUPFD) && ((int)a[1] == F_DUPFD_ || (int)a[1] == F_DUPFD_CLOEXEC_))) {
			vsysbed_raise_fd_high((int32_t)ret);
			if (ret >= vsysbed_hostfd_base)
				vsysbed_mark_guest_fd((int32_t)ret, 1);
		}
	}
	return ret;
}

/*
 * A number outside the x86-64 table (syscall(-1), an x32 number, 512 and
 * up) is Linux's -ENOSYS, answered here: Go never sees it, so it can never
 * be taken for CB_NR_INTERRUPT or CB_NR_RETURN. It is counted in the site
 * table, by its 32-bit number (seccomp_data's nr).
 */
static inline int out_of_table(long nr)
{
	return (unsigned long)nr >= CB_NR_MAX;
}

/*
 * The i386 calls answered for int $0x80 (docs/syscalls.md, "i386"): those
 * without pointer arguments, run as their x86-64 equivalents; any other
 * i386 number is -ENOSYS. Linux's IA-32 entry would run them all, on
 * 32-bit pointers a 64-bit guest rarely has.
 */
static long ia32_to_x86_64(uint32_t nr)
{
	switch (nr) {
	case 1: return 60;    /* exit */
	case 20: return 39;   /* getpid */
	case 64: return 110;  /* getppid */
	case 199: return 102; /* getuid32 */
	case 200: return 104; /* getgid32 */
	case 201: return 107; /* geteuid32 */
	case 202: return 108; /* getegid32 */
	case 224: return 186; /* gettid */
	case 252: return 231; /* exit_group */
	}
	return -1;
}

/*
 * An i386 call from the guest. Its arguments are ebx, ecx, edx, esi, edi,
 * ebp; int $0x80 preserves every register but rax (rcx and r11 too).
 */
static void ia32_trap(struct vsysbed_cb *cb)
{
	struct cb_regs *r = &cb->trap;
	uint32_t nr32 = (uint32_t)r->rax;
	uint64_t site = r->rip - 2; /* int $0x80 is CD 80 */
	count_entry(cb, nr32, site, CB_KIND_INT80);
	long nr = ia32_to_x86_64(nr32);
	long a[6] = {(long)(uint32_t)r->rbx, (long)(uint32_t)r->rcx, (long)(uint32_t)r->rdx,
		     (long)(uint32_t)r->rsi, (long)(uint32_t)r->rdi, (long)(uint32_t)r->rbp};
	long ret;
	if (nr < 0) {
		ret = -ENOSYS_;
		if (cb->trap_mode == CB_TRAP_SUD)
			cb->selector = CB_SUD_BLOCK;
	} else if (is_fast(nr)) {
		ret = vsysbed_raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (__builtin_expect(cb->sigpending, 0))
			ret = signal_check(cb, nr, a, site, CB_KIND_TRAP, ret);
		else if (cb->trap_mode == CB_TRAP_SUD)
			cb->selector = CB_SUD_BLOCK;
	} else {
		ret = kernel_call(cb, nr, a, site, CB_KIND_TRAP);
	}
	r->rax = (uint64_t)ret;
}

/* The call runs here, without Go: the fast route, or a checked call whose
 * arguments need nothing of kernelsim's (checked_call). */
static inline __attribute__((always_inline)) int run_here(struct vsysbed_cb *cb, long nr, const long a[6], long *ret)
{
	if (is_fast(nr) && !host_fd_in_sets(nr, a)) {
		note_start(cb, nr, a);
		*ret = vsysbed_raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		return 1;
	}
	return is_checked(nr) && checked_call(nr, a, ret);
}

/* The bypass call's body: counts, routes, runs it. */
static inline long bypass_call(struct vsysbed_cb *cb, long nr, long a1, long a2, long a3, long a4, long a5, uint64_t t0)
{
	const uint64_t *gsp = (const uint64_t *)cb->guest_sp;
	long a[6] = {a1, a2, a3, a4, a5, (long)gsp[1]};
	count_timed(cb, (uint32_t)nr, gsp[0], CB_KIND_BYPASS, t0, CB_TIME_BYPASS);
	if (__builtin_expect(out_of_table(nr), 0))
		return -ENOSYS_;
	if (__builtin_expect(names_host_fd(nr, a), 0))
		return count_result(cb, nr, -EBADF_);
	long ret;
	if (run_here(cb, nr, a, &ret)) {
		if (__builtin_expect(cb->sigpending, 0))
			ret = signal_check(cb, nr, a, gsp[0], CB_KIND_BYPASS, ret);
		else if (found_host_exe(nr, a, ret))
			ret = kernel_call(cb, nr, a, gsp[0], CB_KIND_BYPASS);
		return count_result(cb, nr, note_fd_result(nr, a, ret));
	}
	return count_result(cb, nr, note_fd_result(nr, a, kernel_call(cb, nr, a, gsp[0], CB_KIND_BYPASS)));
}

/* Called by vsysbed_bypass_entry on the host stack. */
long vsysbed_bypass(long nr, long a1, long a2, long a3, long a4, long a5)
{
	struct vsysbed_cb *cb = gs_cb();
	long ret = bypass_call(cb, nr, a1, a2, a3, a4, a5, TIME_SAMPLED);
	timing_end(cb);
	return ret;
}

/* --rewrite=lazy: trapped sites that match kernelsim's pattern are rewritten. */
int vsysbed_rewrite;

/*
 * The sites being or already rewritten while other threads may run them
 * (kernelsim/rewrite.go, text_poke's order): the first byte of the span
 * becomes int3 before the rest changes, and a thread that executes it
 * meanwhile takes SIGTRAP at head+1; fault_handler finds head here and
 * resumes it at the stub, which does what the span did. An entry stays
 * until execve (a SIGTRAP queued before the last write arrives after it);
 * only the kernel call that rewrites (under kernelsim's lock) adds.
 */
#define POKE_SLOTS 4096
static struct {
	uint64_t head, stub;
} vsysbed_pokes[POKE_SLOTS];

static uint32_t poke_hash(uint64_t head)
{
	return (uint32_t)((head * 0x9E3779B97F4A7C15ULL) >> 52);
}

/* Record head -> stub before head's first byte becomes int3: 0 if full. */
int vsysbed_poke_add(uint64_t head, uint64_t stub)
{
	for (uint32_t i = 0, j = poke_hash(head); i < 64; i++, j = (j + 1) % POKE_SLOTS) {
		uint64_t h = __atomic_load_n(&vsysbed_pokes[j].head, __ATOMIC_ACQUIRE);
		if (h == head || h == 0) {
			__atomic_store_n(&vsysbed_pokes[j].stub, stub, __ATOMIC_RELAXED);
			__atomic_store_n(&vsysbed_pokes[j].head, head, __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

/* The stub for an int3 at head, or 0: not one of the rewrite's. */
static uint64_t poke_target(uint64_t head)
{
	for (uint32_t i = 0, j = poke_hash(head); i < 64; i++, j = (j + 1) % POKE_SLOTS) {
		uint64_t h = __atomic_load_n(&vsysbed_pokes[j].head, __ATOMIC_ACQUIRE);
		if (h == head)
			return __atomic_load_n(&vsysbed_pokes[j].stub, __ATOMIC_RELAXED);
		if (h == 0)
			return 0;
	}
	return 0;
}

/* execve: the old image's sites are gone (one guest thread left). */
void vsysbed_poke_reset(void)
{
	for (uint32_t j = 0; j < POKE_SLOTS; j++) {
		__atomic_store_n(&vsysbed_pokes[j].head, 0, __ATOMIC_RELAXED);
		vsysbed_pokes[j].stub = 0;
	}
}

/*
 * A trap from site may be the one to rewrite it: kernelsim decides
 * (kernelsim/rewrite.go). Asked at a site's 1st, 2nd, 4th, 8th... trap, so
 * a site it refuses (another thread running, an unknown pattern) costs a
 * few kernel calls, not one a trap. The cheap part of the patterns is
 * checked here: `mov $nr,%eax` (b8 imm32), or a mov of an immediate to
 * edx, esi or edi, right before the syscall; a site that fails it is
 * still asked about at its first trap, so the report says why it traps.
 */
static inline void maybe_rewrite(struct vsysbed_cb *cb, long nr, const long a[6], long rbx, uint64_t site, uint64_t n)
{
	if (__builtin_expect(!vsysbed_rewrite, 1) || n == 0 || (n & (n - 1)) != 0)
		return;
	if ((cb->flags & CB_FLAG_VFORK) || (unsigned long)nr >= CB_NR_MAX)
		return;
	/* At the first trap always (kernelsim reports why it refuses); later
	 * only if the cheap check passes. */
	long b = vsysbed_probe_u32((const void *)(site - 5));
	int cheap = 0;
	switch (b == -1 ? -1 : b & 0xff) {
	case 0xb8:
		cheap = vsysbed_probe_u32((const void *)(site - 4)) == nr;
		break;
	case 0xba: case 0xbe: case 0xbf:
		cheap = 1;
		break;
	}
	if (!cheap) {
		/* A short site (kernelsim/rewriteshort.go): the xor of eax (read's
		 * number, 0), edx, esi or edi with itself before the syscall, or a
		 * 64-bit mov between registers (the Go runtime's Syscall6: mov
		 * %rbx,%rdi), or the 7-byte mov $imm32,%rax of its madvise. */
		long w = vsysbed_probe_u32((const void *)(site - 2));
		long m = vsysbed_probe_u32((const void *)(site - 3));
		long q = vsysbed_probe_u32((const void *)(site - 7));
		if (m != -1 && (m & 0xf8) == 0x48 && ((m >> 8) & 0xff) == 0x89 && ((m >> 16) & 0xc0) == 0xc0)
			cheap = 1;
		else if (q != -1 && (q & 0xffffff) == 0xc0c748) /* mov $imm32,%rax */
			cheap = (long)(int32_t)vsysbed_probe_u32((const void *)(site - 4)) == nr;
		else if (w != -1 && ((w & 0xff) == 0x31 || (w & 0xff) == 0x33)) {
			switch ((w >> 8) & 0xff) {
			case 0xc0:
				cheap = nr == 0;
				break;
			case 0xd2: case 0xf6: case 0xff:
				cheap = 1;
				break;
			}
		}
	}
	if (!cheap && n != 1)
		return;
	/* The registers a mov before the syscall may have set, as they were,
	 * the trap count, and rbx (a short site's mov may have read it). */
	const long p[6] = {nr, a[0], a[1], a[2], (long)n, rbx};
	kernel_call(cb, CB_NR_PATCH, p, site, CB_KIND_TRAP);
}

/* Called by vsysbed_trap_trampoline with the guest context in cb->trap. */
void vsysbed_trap(struct vsysbed_cb *cb)
{
	struct cb_regs *r = &cb->trap;
	if (__builtin_expect(cb->flags & CB_FLAG_IA32, 0)) {
		cb->flags &= ~CB_FLAG_IA32;
		ia32_trap(cb);
		return;
	}
	/* From a rewritten site (vsysbed_patched_entry): a trap in every way
	 * but its kind (its count, and the kind kernelsim's trace and
	 * tamper records see: it resumes from cb->trap all the same). */
	int patched = (cb->flags & CB_FLAG_PATCHED) != 0;
	cb->flags &= ~CB_FLAG_PATCHED;
	uint32_t kind = patched ? CB_KIND_PATCHED : CB_KIND_TRAP;
	/* seccomp_data's nr is an int: syscall(-1) arrives as 0xffffffff. */
	long nr = (long)r->rax;
	uint64_t site = r->rip - 2; /* the syscall instruction */
	/* A trap is timed from the SIGSYS handler: the kernel's signal
	 * delivery before it is not in the span (calibrate measures it). */
	uint64_t t0 = patched ? TIME_SAMPLED : cb->t_trap;
	cb->t_trap = 0;
	uint64_t n = count_timed(cb, (uint32_t)nr, site, kind, t0,
				 patched ? CB_TIME_PATCHED : CB_TIME_TRAP);
	long a[6] = {(long)r->rdi, (long)r->rsi, (long)r->rdx, (long)r->r10, (long)r->r8, (long)r->r9};
	long rbx = (long)r->rbx; /* for maybe_rewrite: the call may replace the frame */
	long ret;
	if (__builtin_expect(out_of_table(nr), 0)) {
		ret = -ENOSYS_;
		if (cb->trap_mode == CB_TRAP_SUD)
			cb->selector = CB_SUD_BLOCK;
	} else if (__builtin_expect(names_host_fd(nr, a), 0)) {
		ret = -EBADF_;
		if (cb->trap_mode == CB_TRAP_SUD)
			cb->selector = CB_SUD_BLOCK;
	} else if (run_here(cb, nr, a, &ret)) {
		if (__builtin_expect(cb->sigpending, 0))
			ret = signal_check(cb, nr, a, site, kind, ret);
		else if (found_host_exe(nr, a, ret))
			ret = kernel_call(cb, nr, a, site, kind); /* leaves SUD at BLOCK */
		else if (cb->trap_mode == CB_TRAP_SUD)
			cb->selector = CB_SUD_BLOCK;
	} else {
		ret = kernel_call(cb, nr, a, site, kind);
	}
	note_fd_result(nr, a, ret);
	count_result(cb, nr, ret);
	if (!patched)
		maybe_rewrite(cb, nr, a, rbx, site, n);
	/* What Linux leaves after a syscall. */
	r->rax = (uint64_t)ret;
	r->rcx = r->rip;
	r->r11 = r->rflags;
	timing_end(cb);
}

/* Called by vsysbed_interrupt_trampoline: deliver what is pending. */
void vsysbed_interrupt(struct vsysbed_cb *cb)
{
	static const long none[6];
	kernel_call(cb, CB_NR_INTERRUPT, none, cb->trap.rip, CB_KIND_TRAP);
	/* Nothing delivered: the trampoline resumes cb->trap as it was. */
}

/* The resume tail found sigpending set: deliver over cb->trap. */
void vsysbed_pending(struct vsysbed_cb *cb)
{
	vsysbed_interrupt(cb);
}

/* The bypass entry found sigpending set on its way out: deliver over the
 * call's return (result ret), or give ret back. */
long vsysbed_bypass_pending(long ret)
{
	static const long none[6];
	struct vsysbed_cb *cb = gs_cb();
	cb->ret = (uint64_t)ret;
	cb->flags |= CB_FLAG_DONE;
	return kernel_call(cb, CB_NR_RETURN, none, 0, CB_KIND_BYPASS);
}

/* Save the interrupted guest context from a signal frame into cb->trap. */
static void save_context(struct vsysbed_cb *cb, const greg_t *g)
{
	struct cb_regs *r = &cb->trap;
	r->rax = g[REG_RAX];
	r->rbx = g[REG_RBX];
	r->rcx = g[REG_RCX];
	r->rdx = g[REG_RDX];
	r->rsi = g[REG_RSI];
	r->rdi = g[REG_RDI];
	r->rbp = g[REG_RBP];
	r->rsp = g[REG_RSP];
	r->r8 = g[REG_R8];
	r->r9 = g[REG_R9];
	r->r10 = g[REG_R10];
	r->r11 = g[REG_R11];
	r->r12 = g[REG_R12];
	r->r13 = g[REG_R13];
	r->r14 = g[REG_R14];
	r->r15 = g[REG_R15];
	r->rip = g[REG_RIP];
	r->rflags = g[REG_EFL];
}

/*
 * SIGSYS: a raw syscall from guest code. Save the guest's registers and
 * make the kernel's sigreturn resume on the trap trampoline, on the host
 * stack; the trampoline finishes the call outside signal context (so Go
 * may run, block and take signals) and returns to the guest itself.
 */
static void sigsys_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct vsysbed_cb *cb = gs_cb();
	cb->t_trap = vsysbed_timing ? rdtsc() : 0;
	/* SUD would trap the handler's own rt_sigreturn: open the selector. */
	cb->selector = CB_SUD_ALLOW;
	cb->state = CB_STATE_ENTRY;
	save_context(cb, g);
	cb->trap.rax = (uint64_t)si->si_syscall; /* gregs[REG_RAX] holds -ENOSYS */
	if (si->si_arch != AUDIT_ARCH_X86_64_)
		cb->flags |= CB_FLAG_IA32;
	g[REG_RIP] = (greg_t)vsysbed_trap_trampoline;
	g[REG_RSP] = (greg_t)cb->host_sp;
}

/* Is rip guest code (not our trampolines, which the kick must not split)? */
static inline int in_region(uint64_t rip)
{
	return rip >= (uint64_t)vsysbed_region_start && rip < (uint64_t)vsysbed_region_end;
}

/*
 * Redirect a thread interrupted in guest code to the interrupt trampoline:
 * kernelsim then delivers the pending guest signal at that instruction.
 */
static void interrupt_guest(struct vsysbed_cb *cb, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	cb->selector = CB_SUD_ALLOW;
	cb->state = CB_STATE_ENTRY;
	save_context(cb, g);
	g[REG_RIP] = (greg_t)vsysbed_interrupt_trampoline;
	g[REG_RSP] = (greg_t)cb->host_sp;
}

/*
 * The kick: kernelsim made a guest signal pending for this thread and
 * wants it delivered. In guest code, interrupt it now. Anywhere else the
 * signal is noticed on the way back to the guest: a blocking syscall
 * returns EINTR (the kick has no SA_RESTART), the fast routes check
 * cb->sigpending after their syscall, Go checks before returning.
 */
/*
 * Interrupt a guest thread for a pending guest signal, if it is running
 * guest code: in the guest proper, or in the two stretches of the region
 * between marking the thread GUEST and resuming it (the context being
 * resumed is then in cb->trap, or the bypass call's return). Anywhere else
 * the way back to the guest checks sigpending.
 */
static void interrupt_if_guest(struct vsysbed_cb *cb, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	if (cb->state != CB_STATE_GUEST)
		return;
	uint64_t rip = g[REG_RIP];
	if (rip >= (uint64_t)vsysbed_tail_guest && rip < (uint64_t)vsysbed_tail_guest_end) {
		/* Between the state store and the jump: the context being resumed
		 * is all in cb->trap (the extended state is already back). */
		const struct cb_regs *r = &cb->trap;
		g[REG_RAX] = r->rax, g[REG_RBX] = r->rbx, g[REG_RCX] = r->rcx, g[REG_RDX] = r->rdx;
		g[REG_RSI] = r->rsi, g[REG_RDI] = r->rdi, g[REG_RBP] = r->rbp, g[REG_RSP] = r->rsp;
		g[REG_R8] = r->r8, g[REG_R9] = r->r9, g[REG_R10] = r->r10, g[REG_R11] = r->r11;
		g[REG_R12] = r->r12, g[REG_R13] = r->r13, g[REG_R14] = r->r14, g[REG_R15] = r->r15;
		g[REG_RIP] = r->rip, g[REG_EFL] = r->rflags;
	} else if (rip >= (uint64_t)vsysbed_bypass_check && rip < (uint64_t)vsysbed_bypass_guest_end) {
		/* On the way out of a bypass call: as if it had returned. */
		g[REG_RIP] = *(const uint64_t *)cb->guest_sp;
		g[REG_RSP] = cb->guest_sp + 8;
	} else if (in_region(rip)) {
		return; /* elsewhere in the region the state is never GUEST */
	}
	interrupt_guest(cb, uc);
}

/* The kick: kernelsim made a guest signal pending for this thread. */
static void kick_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	struct vsysbed_cb *cb = thread_cb();
	if (cb != NULL)
		interrupt_if_guest(cb, ucv);
}

/*
 * Signals from the host meant for the guest: sent to the vsysbed process
 * (a terminal, kill, alarm) or to one of its threads (a timer with
 * SIGEV_THREAD_ID, tgkill from outside). On a guest thread the signal is
 * the guest's: it is recorded in cb->hostsig for kernelsim and delivered
 * now or on the way back to the guest. On Go's threads it goes to Go's
 * handler, which hands it to kernelsim through os/signal.
 */
static struct sigaction go_relay[65];

/*
 * Record si in slot. A POSIX timer's signal that arrives again before
 * kernelsim took the last one is one signal whose overrun counts both (and
 * the expiry between), as Linux counts expiries while its signal is
 * pending: the host kernel, which dequeued the first at once, cannot.
 */
static void note_siginfo(uint8_t *slot, const siginfo_t *si, int pending)
{
	const siginfo_t *old = (const siginfo_t *)slot;
	if (pending && si->si_code == SI_TIMER && old->si_code == SI_TIMER && old->si_timerid == si->si_timerid) {
		long o = (long)old->si_overrun + 1 + (long)si->si_overrun;
		memcpy(slot, si, 128);
		((siginfo_t *)slot)->si_overrun = o > 0x7fffffff ? 0x7fffffff : (int)o;
		return;
	}
	memcpy(slot, si, 128);
}

/*
 * Real-time signals queue: each one sent is one delivered, in order. The
 * block records one siginfo a signal number, so the relay takes a
 * real-time signal one at a time: once recorded, the signal stays blocked
 * on this thread (in the context the handler returns to) until kernelsim
 * has taken the record (absorbHostSignals unblocks it), and the kernel
 * keeps the next ones queued meanwhile. One that arrives anyway (a mask
 * restored under us) goes back into the kernel's queue for this thread.
 * A timer's signal is one signal whose overrun grows: one that arrives
 * again while its record is untaken is merged into it, and kernelsim keeps
 * it blocked while the guest blocks it (the kernel counts the expiries).
 */
static inline int is_rt(int sig) { return sig >= 32; }

static void block_after(void *ucv, int sig)
{
	sigaddset(&((ucontext_t *)ucv)->uc_sigmask, sig);
}

static void relay_to_guest(struct vsysbed_cb *cb, int sig, siginfo_t *si, void *ucv)
{
	int pending = (__atomic_load_n(&cb->hostsig, __ATOMIC_SEQ_CST) >> (sig - 1)) & 1;
	if (is_rt(sig) && pending) {
		const siginfo_t *old = (const siginfo_t *)cb->hostinfo[sig - 1];
		if (!(si->si_code == SI_TIMER && old->si_code == SI_TIMER && old->si_timerid == si->si_timerid)) {
			RAW4(SYS_rt_tgsigqueueinfo, RAW0(SYS_getpid), RAW0(SYS_gettid), sig, si);
			block_after(ucv, sig);
			return;
		}
	}
	note_siginfo(cb->hostinfo[sig - 1], si, pending);
	/* Linux's prepare_signal at the moment of arrival, which kernelsim
	 * cannot see: a SIGCONT discards the stop signals recorded before it.
	 * A stop recorded while a SIGCONT is is the later one (kernelsim
	 * takes the SIGCONT first). */
	if (sig == SIGCONT)
		__atomic_fetch_and(&cb->hostsig, ~(1ULL << (SIGTSTP - 1) | 1ULL << (SIGTTIN - 1) | 1ULL << (SIGTTOU - 1)), __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&cb->hostsig, 1ULL << (sig - 1), __ATOMIC_SEQ_CST);
	cb->sigpending = 1;
	if (is_rt(sig))
		block_after(ucv, sig); /* a timer's too: kernelsim keeps it blocked while the guest does (timerHeld) */
	interrupt_if_guest(cb, ucv);
}

int vsysbed_go_profiling;

/*
 * The siginfo of the last guest signal that arrived on a thread in Go
 * (Go's own, or a guest thread inside kernelsim): os/signal passes on the
 * number only, and kernelsim's ForwardHostSignals reads the rest here (a
 * child's pid and status for SIGCHLD, the sender for kill).
 */
static uint8_t go_siginfo[65][128];

static int64_t go_overrun_extra[65]; /* a timer's expiries since the record, from other threads' handlers */

/* Takes the record: a timer's next signal starts a new overrun count. */
void vsysbed_go_siginfo(int sig, void *out)
{
	if (sig > 0 && sig < 65) {
		memcpy(out, go_siginfo[sig], sizeof go_siginfo[0]);
		__atomic_store_n((int *)go_siginfo[sig], 0, __ATOMIC_SEQ_CST); /* si_signo */
		int64_t extra = __atomic_exchange_n(&go_overrun_extra[sig], 0, __ATOMIC_SEQ_CST);
		siginfo_t *r = out;
		if (r->si_code == SI_TIMER && extra > 0) {
			int64_t o = (int64_t)r->si_overrun + extra;
			r->si_overrun = o > 0x7fffffff ? 0x7fffffff : (int)o;
		}
	}
}

/* Signals reach Go's handler on any of its threads at once: a timer's
 * expiries while its record is untaken are added atomically. */
static uint64_t go_seen[65]; /* signals that reached Go's handler, each number's count */

uint64_t vsysbed_go_seen(int sig)
{
	return sig > 0 && sig < 65 ? __atomic_load_n(&go_seen[sig], __ATOMIC_SEQ_CST) : 0;
}

static void note_go_siginfo(int sig, const siginfo_t *si)
{
	if (sig <= 0 || sig >= 65)
		return;
	__atomic_fetch_add(&go_seen[sig], 1, __ATOMIC_SEQ_CST);
	const siginfo_t *old = (const siginfo_t *)go_siginfo[sig];
	if (si->si_code == SI_TIMER && __atomic_load_n(&old->si_signo, __ATOMIC_SEQ_CST) != 0 &&
	    old->si_code == SI_TIMER && old->si_timerid == si->si_timerid) {
		__atomic_fetch_add(&go_overrun_extra[sig], 1 + (int64_t)si->si_overrun, __ATOMIC_SEQ_CST);
		return;
	}
	memcpy(go_siginfo[sig], si, sizeof go_siginfo[0]);
}

/*
 * The guest thread that takes the signals Go cannot: kernelsim keeps it
 * set to a live guest thread of the process (its main one while it lives).
 */
int32_t vsysbed_relay_tid;

void vsysbed_set_relay_tid(int32_t tid)
{
	__atomic_store_n(&vsysbed_relay_tid, tid, __ATOMIC_SEQ_CST);
}

static void relay_handler(int sig, siginfo_t *si, void *ucv)
{
	struct vsysbed_cb *cb = thread_cb();
	struct sigaction *go = &go_relay[sig];
	int go_takes = (go->sa_flags & SA_SIGINFO) || (go->sa_handler != SIG_DFL && go->sa_handler != SIG_IGN);
	int relay_only = is_rt(sig) || (VSYSBED_RELAY_ONLY >> (sig - 1) & 1);
	if (cb != NULL && (cb->state != CB_STATE_HOST || !go_takes || relay_only)) {
		relay_to_guest(cb, sig, si, ucv);
		return;
	}
	if (!go_takes || relay_only) {
		/*
		 * On one of Go's threads: a signal Go neither handles nor lets
		 * os/signal have (34, musl's SIGSYNCCALL, which is glibc's
		 * SIGRTMIN), and every real-time one (os/signal merges them), is
		 * queued again, siginfo and all, for the relay thread, where the
		 * relay records it. Dropped, a guest's SIGRTMIN (a timer's, a
		 * sigqueue's) was lost whenever the kernel chose a Go thread.
		 */
		int32_t tid = __atomic_load_n(&vsysbed_relay_tid, __ATOMIC_SEQ_CST);
		if (tid > 0)
			RAW4(SYS_rt_tgsigqueueinfo, RAW0(SYS_getpid), tid, sig, si);
		/* Go's thread takes no more of it: the kernel keeps the next
		 * ones, in order, for the relay thread. */
		if (is_rt(sig) && si->si_code != SI_TIMER)
			block_after(ucv, sig);
		return;
	}
	note_go_siginfo(sig, si);
	if (go->sa_flags & SA_SIGINFO)
		go->sa_sigaction(sig, si, ucv);
	else
		go->sa_handler(sig);
}

/* Relayed: every signal but those the host keeps for itself. */
static int relayed(int sig)
{
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL:
	case SIGTRAP: case SIGPIPE: case SIGSYS: case SIGURG: case SIGPROF:
	case 33: /* glibc's SIGSETXID, the host libc's own */
	case VSYSBED_KICK_SIG:
		return 0;
	}
	return 1;
}

/* Go's handlers for the synchronous signals, to chain to for host faults. */
static struct sigaction go_action[65];
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGPIPE};

/*
 * A synchronous fault. In guest code, the guest dies by it (its own
 * handlers arrive with the signals issue): record it in the shard, restore
 * the default action and let the signal kill the process. Anywhere else it
 * is the host's: hand it to Go.
 */
static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct vsysbed_cb *cb = thread_cb();
	if ((sig == SIGSEGV || sig == SIGBUS) && uc->uc_mcontext.gregs[REG_RIP] == (greg_t)vsysbed_probe_insn) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)vsysbed_probe_fixup;
		return;
	}
	/*
	 * An int3 of a site kernelsim is rewriting (or has: the signal may
	 * arrive late): resume at its stub, which does what the site's
	 * replaced bytes did. The int3 was the first byte: nothing of the
	 * span ran, every register is as at the site's head.
	 */
	if (sig == SIGTRAP && si->si_code == SI_KERNEL && cb && cb->state == CB_STATE_GUEST) {
		uint64_t stub = poke_target((uint64_t)uc->uc_mcontext.gregs[REG_RIP] - 1);
		if (stub != 0) {
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)stub;
			return;
		}
	}
	/*
	 * SIGPIPE is raised on the thread whose write hit a closed pipe: on the
	 * guest thread it is the guest's, from either route (raw syscall in
	 * guest code or the kernel's pass-through in Go). kernelsim queues it
	 * when the write returns: the guest's mask and disposition decide
	 * (blocked, it stays pending and the write fails with EPIPE).
	 */
	if (sig == SIGPIPE && cb && cb->state != CB_STATE_HOST) {
		if (vsysbed_guest_disposition[SIGPIPE] == GUEST_SIG_IGNORE)
			return;
		cb->fault_sig = sig;
		cb->fault_code = si->si_code;
		cb->fault_addr = 0;
		cb->sigpending = 1;
		return;
	}
	/*
	 * A "fault" signal that another process sent with kill() (si_code
	 * SI_USER, SI_QUEUE, SI_TKILL: not positive) is an ordinary signal:
	 * the guest's, relayed as any other. On Go's threads Go's handler hands
	 * it to kernelsim through os/signal (Go treats a SIGSEGV sent by kill
	 * as asynchronous).
	 */
	if (sig != SIGPIPE && si->si_code <= 0 && cb && cb->state != CB_STATE_HOST) {
		relay_to_guest(cb, sig, si, ucv);
		return;
	}
	if (sig != SIGPIPE && cb && cb->state == CB_STATE_GUEST && !in_region(uc->uc_mcontext.gregs[REG_RIP]) &&
	    (vsysbed_guest_disposition[sig] == GUEST_SIG_HANDLER || (cb->flags & CB_FLAG_VFORK))) {
		/* The guest handles it: kernelsim builds its frame at the fault
		 * (or, for a vfork child, ends only the child by it). */
		cb->fault_sig = sig;
		cb->fault_code = si->si_code;
		cb->fault_addr = (uint64_t)si->si_addr;
		interrupt_guest(cb, uc);
		return;
	}
	if (sig != SIGPIPE && cb && cb->state == CB_STATE_GUEST) {
		cb->selector = CB_SUD_ALLOW;
		cb->exit.signal = sig;
		cb->exit.fault_addr = (uint64_t)si->si_addr;
		cb->exit.fault_rip = uc->uc_mcontext.gregs[REG_RIP];
		cb->exit.done = 1;
		vsysbed_die_by_signal(sig);
		return;
	}
	if (sig != SIGPIPE && si->si_code <= 0)
		note_go_siginfo(sig, si); /* a kill()'s: os/signal takes it on */
	struct sigaction *go = &go_action[sig];
	if (go->sa_flags & SA_SIGINFO)
		go->sa_sigaction(sig, si, ucv);
	else if (go->sa_handler != SIG_DFL && go->sa_handler != SIG_IGN)
		go->sa_handler(sig);
}

/*
 * Reset sig to its default action and make it pending on this thread: it
 * is delivered when the current handler (if any) returns, or at once.
 */
void vsysbed_die_by_signal(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = {0};
	RAW4(SYS_rt_sigaction, sig, &dfl, 0, 8);
	uint64_t unblock = 1ULL << (sig - 1);
	RAW4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, 0, 8);
	vsysbed_raw_syscall6(SYS_tgkill, RAW0(SYS_getpid), RAW0(SYS_gettid), sig, 0, 0, 0);
}

/*
 * Stop the process by sig (SIGTSTP, SIGTTIN, SIGTTOU), as its default
 * action: at SIG_DFL and unblocked on this thread only, raised on it, so
 * the kernel stops the whole process with that signal before the tgkill
 * returns (a parent's waitpid sees WSTOPSIG sig, a shell says "Stopped"),
 * or discards it in an orphaned process group, as Linux does for these
 * three and not for SIGSTOP. The relay's action and the mask come back
 * once the process has been continued (or at once, after a discard).
 */
int vsysbed_stop_by_signal(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = {0}, old;
	if (RAW4(SYS_rt_sigaction, sig, &dfl, &old, 8) != 0)
		return -1;
	uint64_t bit = 1ULL << (sig - 1), oldmask = 0;
	RAW4(SYS_rt_sigprocmask, SIG_UNBLOCK, &bit, &oldmask, 8);
	long r = vsysbed_raw_syscall6(SYS_tgkill, RAW0(SYS_getpid), RAW0(SYS_gettid), sig, 0, 0, 0);
	RAW4(SYS_rt_sigprocmask, SIG_SETMASK, &oldmask, 0, 8);
	RAW4(SYS_rt_sigaction, sig, &old, 0, 8);
	return r == 0 ? 0 : -1;
}

/*
 * Go's SIGURG (async preemption) and SIGPROF (CPU profiler) are sent to
 * particular threads, guest threads included, so they stay unblocked
 * there. Go's handlers find g through FS: this wrapper runs first, loads
 * the host FS when the guest's is live (ARCHITECTURE.md, "Hazards"), opens the SUD
 * selector for Go's own syscalls, and puts both back before the
 * interrupted code resumes. Go sees a thread in a cgo call: its preemption
 * request is a no-op, its profiler counts the sample as external code.
 */
static struct sigaction go_async[65];
static const int go_thread_signals[] = {SIGURG, SIGPROF};
void vsysbed_restore_rt(void);

static void fs_swap_handler(int sig, siginfo_t *si, void *ucv)
{
	struct vsysbed_cb *cb = thread_cb();
	if (sig == SIGPROF && !vsysbed_go_profiling && cb != NULL && cb->state != CB_STATE_HOST) {
		/* Go's profiler is off: a SIGPROF on a guest thread is the
		 * guest's own (setitimer(ITIMER_PROF)), relayed as any other. */
		relay_to_guest(cb, sig, si, ucv);
		return;
	}
	uint64_t fs = 0;
	uint8_t selector = 0;
	int swapped = 0;
	if (cb != NULL) {
		selector = cb->selector;
		cb->selector = CB_SUD_ALLOW;
		RAW2(SYS_arch_prctl, ARCH_GET_FS, &fs);
		if (fs != cb->host_fs) {
			set_fs(cb, cb->host_fs);
			swapped = 1;
		}
	}
	struct sigaction *go = &go_async[sig];
	if (go->sa_flags & SA_SIGINFO)
		go->sa_sigaction(sig, si, ucv);
	else if (go->sa_handler != SIG_DFL && go->sa_handler != SIG_IGN)
		go->sa_handler(sig);
	if (cb != NULL) {
		if (swapped)
			set_fs(cb, fs);
		cb->selector = selector;
	}
}

/* Install a handler with vsysbed_restore_rt as its restorer (raw, since
 * libc's sigaction would put its own __restore_rt there). */
static int install_raw(int sig, void (*fn)(int, siginfo_t *, void *), unsigned long extra, struct sigaction *old)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} ksa = {(void *)fn, SA_SIGINFO | SA_ONSTACK | extra | 0x04000000 /* SA_RESTORER */,
		 (void *)vsysbed_restore_rt, ~0ULL};
	if (old != NULL && sigaction(sig, NULL, old) != 0)
		memset(old, 0, sizeof(*old)); /* glibc hides its own 32 and 33: SIG_DFL */
	return RAW4(SYS_rt_sigaction, sig, &ksa, 0, 8) == 0 ? 0 : -1;
}

/*
 * Natively a process whose SIGCHLD is SIG_IGN, or has SA_NOCLDWAIT, leaves
 * no zombies: the kernel reaps its children, and wait() waits for them all
 * and fails with ECHILD. A guest's children are the host process's own, so
 * that takes SA_NOCLDWAIT on the host's real SIGCHLD action; its handler
 * (the relay) stays, and the guest's disposition drops what it relays.
 */
int vsysbed_child_autoreap(int on)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} ksa;
	if (RAW4(SYS_rt_sigaction, SIGCHLD, 0, &ksa, 8) != 0)
		return -1;
	if (on)
		ksa.flags |= SA_NOCLDWAIT;
	else
		ksa.flags &= ~(unsigned long)SA_NOCLDWAIT;
	return RAW4(SYS_rt_sigaction, SIGCHLD, &ksa, 0, 8) == 0 ? 0 : -1;
}

int vsysbed_install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return -1;
	/*
	 * These may return to a guest thread whose SUD selector is BLOCK: their
	 * restorer must be the one in the trampoline region.
	 */
	for (unsigned i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++) {
		int sig = fault_signals[i];
		if (install_raw(sig, fault_handler, 0, &go_action[sig]) != 0)
			return -1;
	}
	/* No SA_RESTART for the kick: blocking calls return EINTR. */
	if (install_raw(VSYSBED_KICK_SIG, kick_handler, 0, NULL) != 0)
		return -1;
	for (unsigned i = 0; i < sizeof(go_thread_signals) / sizeof(go_thread_signals[0]); i++) {
		int sig = go_thread_signals[i];
		if (install_raw(sig, fs_swap_handler, SA_RESTART, &go_async[sig]) != 0)
			return -1;
	}
	for (int sig = 1; sig <= 64; sig++) {
		/* No SA_RESTART, like the kick: a guest thread blocked in a host
		 * syscall must come back (EINTR) for the signal to be delivered. */
		if (relayed(sig) && install_raw(sig, relay_handler, 0, &go_relay[sig]) != 0)
			return -1;
	}
	return 0;
}

/*
 * Run the guest on this (locked) thread until kernelsim asks it to leave.
 * Only the host libc's own SIGSETXID stays blocked while the guest runs:
 * the synchronous faults, SIGSYS and the kick have handlers that know guest
 * threads, Go's thread-directed SIGURG and SIGPROF run behind the
 * FS-swapping wrapper, and every other signal is relayed to the guest.
 */
/*
 * A fork child's first trapped call (glibc's set_robust_list) builds its
 * SIGSYS frame on this thread's signal stack (Go's, SA_ONSTACK), whose
 * pages the new process has not touched yet. The page fault takes the
 * mmap lock, and while one of Go's threads holds it for writing (a new
 * thread's stack), the parent read D in the child's /proc/PID/stat where
 * a native child is R. Written once before "ready", the pages are there.
 */
#define PREFAULT_SIGSTACK (16 * 1024)
static void prefault_signal_stack(void)
{
	stack_t ss;
	if (RAW2(SYS_sigaltstack, 0, &ss) != 0 || (ss.ss_flags & SS_DISABLE) || ss.ss_sp == NULL)
		return;
	size_t n = ss.ss_size < PREFAULT_SIGSTACK ? ss.ss_size : PREFAULT_SIGSTACK;
	volatile char *top = (volatile char *)ss.ss_sp + ss.ss_size;
	for (size_t off = 1; off <= n; off += 4096)
		top[-(long)off] = top[-(long)off];
}

long vsysbed_run(struct vsysbed_cb *cb, int ready_fd)
{
	sigset_t block, old;
	sigfillset(&block);
	for (unsigned i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		sigdelset(&block, fault_signals[i]);
	sigdelset(&block, SIGSYS);
	sigdelset(&block, VSYSBED_KICK_SIG);
	for (unsigned i = 0; i < sizeof(go_thread_signals) / sizeof(go_thread_signals[0]); i++)
		sigdelset(&block, go_thread_signals[i]);
	for (int sig = 1; sig <= 64; sig++)
		if (relayed(sig))
			sigdelset(&block, sig);
	/*
	 * The block is this thread's before the signals are unblocked: one
	 * that waited (sent to a fork child before it ran, blocked on its
	 * first thread from the start, tls/inherit.c) is then recorded for
	 * kernelsim, which delivers it at the guest's next kernel entry.
	 * Without the block the relay queued it again for the relay thread,
	 * which is this one, and kept it blocked here: a real-time signal
	 * sent right after fork was lost (11 of 20 arrived).
	 */
	cb->tid = (uint64_t)RAW0(SYS_gettid);
	cb->patched_entry = (uint64_t)vsysbed_patched_entry;
	RAW2(SYS_arch_prctl, ARCH_GET_FS, &cb->host_fs);
	RAW2(SYS_arch_prctl, ARCH_SET_GS, cb);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	/*
	 * A fork child tells its parent here, the last step before the guest's
	 * first instruction: from then on the thread is the guest's, runnable
	 * as a native child that has not run yet. Told from Go, the thread
	 * could still park in the Go scheduler (a GC assist, a P to wait for
	 * at the cgo call), and the parent read S in /proc/PID/stat.
	 */
	if (ready_fd >= 0) {
		prefault_signal_stack();
		static const char msg[] = "ready\n";
		size_t done = 0;
		while (done < sizeof msg - 1) {
			long n = vsysbed_raw_syscall6(SYS_sendto, ready_fd, (long)(msg + done), (long)(sizeof msg - 1 - done), MSG_NOSIGNAL, 0, 0);
			if (n == -EINTR_)
				continue;
			if (n == -EAGAIN_) { /* the link is non-blocking (its reader is Go's netpoller) */
				struct { int fd; short events, revents; } pfd = {ready_fd, 4 /* POLLOUT */, 0};
				RAW4(SYS_poll, &pfd, 1, -1, 0);
				continue;
			}
			if (n <= 0)
				RAW2(SYS_exit_group, VSYSBED_EXIT_FAILED, 0); /* the parent gave up on the fork */
			done += (size_t)n;
		}
	}
	vsysbed_enter_guest(cb);
	/*
	 * Back from vsysbed_leave_guest, on the host FS. The mask goes back
	 * before GS base: from then on the relay finds no block here, and
	 * on one of Go's threads it can only queue a signal again for the
	 * relay thread, which the kernel refuses for a kill()'s siginfo
	 * (rt_tgsigqueueinfo with si_code >= 0 is for the sender's own
	 * thread: EPERM), so a process-directed SIGUSR1 the kernel put on a
	 * thread in between was lost (e2e/guests/sigexit.c). Blocked here,
	 * the kernel gives it to another thread; what the relay recorded
	 * in the block until then kernelsim hands on (Task.left).
	 */
	cb->selector = CB_SUD_ALLOW;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	RAW2(SYS_arch_prctl, ARCH_SET_GS, 0);
	return 0;
}

uint64_t vsysbed_bypass_address(void) { return (uint64_t)vsysbed_bypass_entry; }
uint64_t vsysbed_patched_entry_address(void) { return (uint64_t)vsysbed_patched_entry; }
uint64_t vsysbed_region_start_address(void) { return (uint64_t)vsysbed_region_start; }
uint64_t vsysbed_region_end_address(void) { return (uint64_t)vsysbed_region_end; }

/* The XSAVE features the OS enabled (XCR0) and the area size they need. */
uint64_t vsysbed_xsave_features(uint32_t *size)
{
	unsigned a, b, c, d;
	__cpuid_count(0xd, 0, a, b, c, d);
	*size = b;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}
