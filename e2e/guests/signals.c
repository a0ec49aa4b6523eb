/*
 * signals - Linux signal semantics a guest relies on, one check at a time.
 *
 * Each check prints one "signals: NAME ok" line; the first wrong result
 * prints a message to stderr and exits 1. "OK signals" ends a good run.
 * The checks run single-threaded first (so a process-directed signal has
 * exactly one thread to go to), then with threads.
 *
 * A POSIX timer (CLOCK_MONOTONIC, SIGEV_SIGNAL with SIGTERM at its default
 * action) is the watchdog: a hang dies by SIGTERM instead of stalling the
 * suite. alarm/ITIMER_REAL stay free for the checks that use SIGALRM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define FAIL(...)                                          \
	do {                                               \
		fprintf(stderr, "signals: " __VA_ARGS__);  \
		fputc('\n', stderr);                       \
		exit(1);                                   \
	} while (0)

static void ok(const char *name)
{
	printf("signals: %s ok\n", name);
	fflush(stdout);
}

static void set_handler(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		FAIL("sigaction(%d): %s", sig, strerror(errno));
}

static void set_default(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
}

static void block(int sig, int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	if (sigprocmask(how, &s, NULL) != 0)
		FAIL("sigprocmask: %s", strerror(errno));
}

static int is_blocked(int sig)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, sig);
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* What the last handler saw. In record, hits goes up last (a release):
 * a thread polling hits must read the other fields only after. */
static volatile int hits;
static volatile int seen_signo, seen_code, seen_pid, seen_value;
static volatile pid_t seen_tid;

static void record(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	(void)sig;
	seen_signo = si->si_signo;
	seen_code = si->si_code;
	seen_pid = si->si_pid;
	seen_value = si->si_value.sival_int;
	seen_tid = my_tid();
	__atomic_add_fetch(&hits, 1, __ATOMIC_RELEASE);
}

static void check_raise(void)
{
	set_handler(SIGUSR1, record, 0);
	hits = 0;
	raise(SIGUSR1);
	if (hits != 1)
		FAIL("raise: handler ran %d times", (int)hits);
	if (seen_signo != SIGUSR1 || seen_code != SI_TKILL || seen_pid != getpid())
		FAIL("raise: siginfo signo %d code %d pid %d, want %d %d %d",
		     seen_signo, seen_code, seen_pid, SIGUSR1, SI_TKILL, (int)getpid());
	ok("raise");
}

static void check_pending(void)
{
	set_handler(SIGUSR1, record, 0);
	hits = 0;
	block(SIGUSR1, SIG_BLOCK);
	raise(SIGUSR1);
	raise(SIGUSR1); /* a standard signal is pending at most once */
	if (hits != 0)
		FAIL("pending: a blocked signal was delivered");
	sigset_t pend;
	sigemptyset(&pend);
	if (sigpending(&pend) != 0 || !sigismember(&pend, SIGUSR1))
		FAIL("pending: sigpending does not list SIGUSR1");
	if (sigismember(&pend, SIGUSR2))
		FAIL("pending: sigpending lists SIGUSR2");
	block(SIGUSR1, SIG_UNBLOCK);
	if (hits != 1)
		FAIL("pending: unblocking delivered %d times, want 1", (int)hits);
	sigemptyset(&pend);
	sigpending(&pend);
	if (sigismember(&pend, SIGUSR1))
		FAIL("pending: SIGUSR1 still pending after delivery");
	ok("masked then unmasked pending");
}

static void check_resethand(void)
{
	set_handler(SIGUSR2, record, SA_RESETHAND);
	hits = 0;
	raise(SIGUSR2);
	if (hits != 1)
		FAIL("SA_RESETHAND: handler ran %d times", (int)hits);
	struct sigaction now;
	sigaction(SIGUSR2, NULL, &now);
	if (now.sa_handler != SIG_DFL)
		FAIL("SA_RESETHAND: the disposition was not reset to SIG_DFL");
	ok("SA_RESETHAND");
}

/* The handler raises its own signal once: with SA_NODEFER the nested call
 * runs inside the first (depth 2), without it only after (depth 1). */
static volatile int depth, max_depth, nested_calls;

static void reraise(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	nested_calls++;
	if (nested_calls == 1)
		raise(sig);
	depth--;
}

static void check_nodefer(void)
{
	for (int nodefer = 0; nodefer <= 1; nodefer++) {
		depth = max_depth = nested_calls = 0;
		set_handler(SIGUSR1, reraise, nodefer ? SA_NODEFER : 0);
		raise(SIGUSR1);
		if (nested_calls != 2)
			FAIL("%s: handler ran %d times, want 2", nodefer ? "SA_NODEFER" : "deferred",
			     nested_calls);
		if (max_depth != (nodefer ? 2 : 1))
			FAIL("%s: nesting depth %d", nodefer ? "SA_NODEFER" : "deferred", max_depth);
	}
	ok("SA_NODEFER");
}

static void on_alarm(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	seen_code = si->si_code;
}

static void check_alarm_pause(void)
{
	set_handler(SIGALRM, on_alarm, 0);
	hits = 0;
	alarm(1);
	int r = pause();
	if (r != -1 || errno != EINTR)
		FAIL("pause returned %d errno %d, want -1 EINTR", r, errno);
	if (hits != 1 || seen_code != SI_KERNEL)
		FAIL("alarm: %d deliveries, si_code %d (want 1, SI_KERNEL)", (int)hits, seen_code);
	ok("alarm + pause");
}

static sigjmp_buf jump;
static volatile void *fault_addr;

static void on_segv_jump(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_addr = si->si_addr;
	seen_code = si->si_code;
	siglongjmp(jump, 1);
}

static void check_segv_longjmp(void)
{
	set_handler(SIGSEGV, on_segv_jump, 0);
	for (int round = 0; round < 2; round++) {
		volatile int *bad = (volatile int *)(uintptr_t)(0x10 + round * 0x100);
		fault_addr = NULL;
		if (sigsetjmp(jump, 1) == 0) {
			*bad = 1;
			FAIL("store to %p did not fault", (void *)bad);
		}
		if (fault_addr != bad)
			FAIL("SIGSEGV si_addr %p, want %p", (void *)fault_addr, (void *)bad);
		if (seen_code != SEGV_MAPERR)
			FAIL("SIGSEGV si_code %d, want SEGV_MAPERR", seen_code);
		if (is_blocked(SIGSEGV))
			FAIL("SIGSEGV still blocked after siglongjmp");
	}
	ok("SIGSEGV + siglongjmp twice");
}

/* Stack overflow: the handler can run only on the alternate stack. */
static char *alt_base;
static size_t alt_size = 1 << 16;
static volatile int on_alt;

static void on_overflow(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	char here;
	stack_t cur;
	on_alt = (&here > alt_base && &here < alt_base + alt_size) ? 1 : -1;
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_ONSTACK))
		on_alt = -2;
	siglongjmp(jump, 1);
}

/* Never set: it only tells the compiler the recursion can end. */
static volatile int recursion_limit;

__attribute__((noinline)) static int recurse(int n)
{
	volatile char pad[512];
	if (recursion_limit != 0 && n >= recursion_limit)
		return 0;
	pad[0] = (char)n;
	pad[511] = (char)n;
	return recurse(n + 1) + pad[0] + pad[511];
}

static void check_altstack(void)
{
	alt_base = malloc(alt_size);
	if (alt_base == NULL)
		FAIL("malloc");
	stack_t ss = { .ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0)
		FAIL("sigaltstack: %s", strerror(errno));
	set_handler(SIGSEGV, on_overflow, SA_ONSTACK);
	on_alt = 0;
	if (sigsetjmp(jump, 1) == 0) {
		recurse(0);
		FAIL("infinite recursion returned");
	}
	if (on_alt != 1)
		FAIL("overflow handler: on_alt %d (1 = on the alternate stack and SS_ONSTACK)", on_alt);
	stack_t cur;
	if (sigaltstack(NULL, &cur) != 0 || (cur.ss_flags & SS_ONSTACK))
		FAIL("still on the alternate stack after siglongjmp");
	if (cur.ss_sp != alt_base || cur.ss_size != alt_size)
		FAIL("sigaltstack reports %p+%zu, want %p+%zu", cur.ss_sp, cur.ss_size,
		     (void *)alt_base, alt_size);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	set_default(SIGSEGV);
	ok("sigaltstack stack overflow");
}

/* SA_RESTART: a read interrupted by SIGALRM restarts; the handler's 2nd
 * call writes the byte the read returns. Without SA_RESTART: EINTR. */
static int rpipe[2];

static void alarm_writer(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	hits++;
	if (hits == 2) {
		char c = 'x';
		write(rpipe[1], &c, 1);
	}
}

static void set_timer(long first_ms, long interval_ms)
{
	struct itimerval it = {
		.it_value = { first_ms / 1000, (first_ms % 1000) * 1000 },
		.it_interval = { interval_ms / 1000, (interval_ms % 1000) * 1000 },
	};
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		FAIL("setitimer: %s", strerror(errno));
}

static void check_restart(void)
{
	if (pipe(rpipe) != 0)
		FAIL("pipe: %s", strerror(errno));
	set_handler(SIGALRM, alarm_writer, SA_RESTART);
	hits = 0;
	set_timer(100, 100);
	char c = 0;
	ssize_t n = read(rpipe[0], &c, 1);
	int e = errno;
	set_timer(0, 0);
	if (n != 1 || c != 'x')
		FAIL("SA_RESTART read returned %zd (%s), want 1 byte", n, strerror(e));
	if (hits < 2)
		FAIL("SA_RESTART read returned after %d alarms, want >= 2", (int)hits);
	ok("SA_RESTART read");

	set_handler(SIGALRM, on_alarm, 0);
	hits = 0;
	set_timer(100, 0);
	n = read(rpipe[0], &c, 1);
	e = errno;
	if (n != -1 || e != EINTR)
		FAIL("read without SA_RESTART returned %zd errno %d, want -1 EINTR", n, e);
	if (hits != 1)
		FAIL("read without SA_RESTART: %d alarms", (int)hits);
	ok("EINTR read");
	close(rpipe[0]);
	close(rpipe[1]);
}

static void check_sigsuspend(void)
{
	set_handler(SIGUSR1, record, 0);
	hits = 0;
	block(SIGUSR1, SIG_BLOCK);
	raise(SIGUSR1);
	sigset_t during;
	sigprocmask(SIG_BLOCK, NULL, &during);
	sigdelset(&during, SIGUSR1);
	int r = sigsuspend(&during);
	if (r != -1 || errno != EINTR)
		FAIL("sigsuspend returned %d errno %d", r, errno);
	if (hits != 1)
		FAIL("sigsuspend: handler ran %d times", (int)hits);
	if (!is_blocked(SIGUSR1))
		FAIL("sigsuspend did not restore the mask");
	block(SIGUSR1, SIG_UNBLOCK);
	ok("sigsuspend");
}

static void check_sigtimedwait(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	block(SIGUSR2, SIG_BLOCK);
	struct timespec ts = { 0, 50 * 1000000L };
	siginfo_t si;
	int r = sigtimedwait(&set, &si, &ts);
	if (r != -1 || errno != EAGAIN)
		FAIL("sigtimedwait with nothing pending returned %d errno %d, want -1 EAGAIN", r, errno);
	raise(SIGUSR2);
	memset(&si, 0, sizeof si);
	ts.tv_sec = 5;
	r = sigtimedwait(&set, &si, &ts);
	/* glibc's sigtimedwait folds the kernel's SI_TKILL into SI_USER. */
	int code_ok = si.si_code == SI_TKILL || si.si_code == SI_USER;
	if (r != SIGUSR2 || si.si_signo != SIGUSR2 || !code_ok || si.si_pid != getpid())
		FAIL("sigtimedwait returned %d, siginfo %d/%d/%d", r, si.si_signo, si.si_code, si.si_pid);
	sigset_t pend;
	sigpending(&pend);
	if (sigismember(&pend, SIGUSR2))
		FAIL("sigtimedwait left SIGUSR2 pending");
	block(SIGUSR2, SIG_UNBLOCK);
	ok("sigtimedwait");
}

/* Real-time signals queue: two sigqueue calls while blocked give two
 * deliveries, in order, each with its value. */
static volatile int rt_values[4];
static volatile int rt_count;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_QUEUE || si->si_pid != getpid())
		rt_values[rt_count & 3] = -1000 - si->si_code;
	else
		rt_values[rt_count & 3] = si->si_value.sival_int;
	rt_count++;
}

static void check_sigqueue(void)
{
	set_handler(SIGUSR1, record, 0);
	hits = 0;
	block(SIGUSR1, SIG_BLOCK);
	if (sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 42 }) != 0)
		FAIL("sigqueue: %s", strerror(errno));
	block(SIGUSR1, SIG_UNBLOCK);
	if (hits != 1 || seen_code != SI_QUEUE || seen_value != 42 || seen_pid != getpid())
		FAIL("sigqueue: %d deliveries, code %d value %d pid %d", (int)hits, seen_code,
		     seen_value, seen_pid);

	int rt = SIGRTMIN + 2;
	set_handler(rt, on_rt, 0);
	rt_count = 0;
	block(rt, SIG_BLOCK);
	for (int v = 1; v <= 3; v++)
		if (sigqueue(getpid(), rt, (union sigval){ .sival_int = v * 10 }) != 0)
			FAIL("sigqueue(SIGRTMIN+2): %s", strerror(errno));
	block(rt, SIG_UNBLOCK);
	if (rt_count != 3 || rt_values[0] != 10 || rt_values[1] != 20 || rt_values[2] != 30)
		FAIL("queued real-time signals: %d deliveries, values %d %d %d", rt_count,
		     rt_values[0], rt_values[1], rt_values[2]);
	set_default(rt);
	ok("sigqueue values");
}

#ifdef REG_RIP
/* The SIGSEGV handler resumes after the faulting load and plants a value
 * in rcx, the way runtimes (Go, JVMs) steer a faulting thread. */
static volatile uintptr_t resume_rip;

static void on_segv_skip(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)resume_rip;
	uc->uc_mcontext.gregs[REG_RCX] = 77;
}

static void check_ucontext(void)
{
	set_handler(SIGSEGV, on_segv_skip, 0);
	long out;
	__asm__ volatile("lea 2f(%%rip), %%rdx\n\t"
			 "mov %%rdx, %1\n\t"
			 "mov $8, %%eax\n\t"
			 "mov $1, %%ecx\n\t"
			 "mov (%%rax), %%rcx\n\t" /* faults: address 8 */
			 "mov $2, %%ecx\n\t"      /* skipped by the handler */
			 "2:\n\t"
			 : "=c"(out), "=m"(resume_rip)
			 :
			 : "rax", "rdx", "memory");
	set_default(SIGSEGV);
	if (out != 77)
		FAIL("ucontext edit: rcx %ld after the handler, want 77", out);
	ok("ucontext edit");
}
#endif

/* Threads: a process-directed kill goes to exactly one thread; a
 * pthread_kill goes to the thread named. */
#define NWORKERS 4
static volatile int stop_workers;
static volatile pid_t worker_tids[NWORKERS];
static pthread_barrier_t ready_barrier;

static void *idle_worker(void *arg)
{
	worker_tids[(intptr_t)arg] = my_tid();
	pthread_barrier_wait(&ready_barrier);
	while (!stop_workers) {
		struct timespec ts = { 0, 1000000L };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void wait_hits(int want)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&hits, __ATOMIC_ACQUIRE) < want; i++) {
		struct timespec ts = { 0, 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void check_threads(void)
{
	set_handler(SIGUSR2, record, 0);
	set_handler(SIGUSR1, record, 0);
	pthread_barrier_init(&ready_barrier, NULL, NWORKERS + 1);
	pthread_t t[NWORKERS];
	for (intptr_t i = 0; i < NWORKERS; i++)
		if (pthread_create(&t[i], NULL, idle_worker, (void *)i) != 0)
			FAIL("pthread_create");
	pthread_barrier_wait(&ready_barrier);

	hits = 0;
	if (kill(getpid(), SIGUSR2) != 0)
		FAIL("kill: %s", strerror(errno));
	wait_hits(1);
	/* A second delivery would be a bug; give it a moment to show. */
	struct timespec ts = { 0, 100 * 1000000L };
	nanosleep(&ts, NULL);
	if (hits != 1 || seen_code != SI_USER || seen_pid != getpid())
		FAIL("kill to a 5-thread process: %d deliveries, code %d pid %d (want 1, SI_USER)",
		     (int)hits, seen_code, seen_pid);
	ok("kill delivered to one thread");

	for (int i = 0; i < NWORKERS; i++) {
		hits = 0;
		seen_tid = 0;
		if (pthread_kill(t[i], SIGUSR1) != 0)
			FAIL("pthread_kill");
		wait_hits(1);
		if (hits != 1 || seen_tid != worker_tids[i] || seen_code != SI_TKILL)
			FAIL("pthread_kill to worker %d (tid %d): %d deliveries, ran on tid %d code %d",
			     i, (int)worker_tids[i], (int)hits, (int)seen_tid, seen_code);
	}
	ok("pthread_kill to a chosen thread");

	stop_workers = 1;
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(t[i], NULL);
}

static void arm_watchdog(int seconds)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGTERM;
	timer_t id;
	if (timer_create(CLOCK_MONOTONIC, &sev, &id) != 0)
		FAIL("timer_create: %s", strerror(errno));
	struct itimerspec its = { .it_value = { seconds, 0 } };
	if (timer_settime(id, 0, &its, NULL) != 0)
		FAIL("timer_settime: %s", strerror(errno));
}

int main(void)
{
	arm_watchdog(30);
	check_raise();
	check_pending();
	check_resethand();
	check_nodefer();
	check_alarm_pause();
	check_segv_longjmp();
	check_altstack();
	check_restart();
	check_sigsuspend();
	check_sigtimedwait();
	check_sigqueue();
#ifdef REG_RIP
	check_ucontext();
#endif
	check_threads();
	printf("OK signals\n");
	return 0;
}
