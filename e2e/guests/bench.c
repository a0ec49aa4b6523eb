/*
 * bench - per-call cost of the guest entry paths, for scripts/bench.sh.
 *
 * Usage: bench [ITERATIONS [threads|signals]]   (ITERATIONS default 200000)
 *
 * Prints one "name ns_per_call" line per path:
 *   getpid_raw        inline-asm `syscall` (native: the kernel; under
 *                     vsysbed: the seccomp/SUD trap path)
 *   getpid_wrapper    a call of a function that is `mov $39,%eax; syscall;
 *                     ret` at a 16-byte boundary, as glibc's and musl's
 *                     getpid wrappers are: under vsysbed a trap, or with
 *                     --rewrite=lazy a rewritten site after the first
 *   getpid_vsyscall   __kernel_vsyscall from the vDSO (only when the vDSO
 *                     exports it, i.e. under vsysbed: the bypass path)
 *   clock_gettime     libc clock_gettime(CLOCK_MONOTONIC), which libc
 *                     sends to the vDSO's __vdso_clock_gettime
 *   arch_prctl_set_fs raw arch_prctl(ARCH_SET_FS, current FS): natively the
 *                     cost of one FS switch without wrfsbase (vsysbed makes
 *                     two per entry into Go on such CPUs); under vsysbed an
 *                     emulated call
 *   thread_create_join pthread_create + pthread_join of a thread that returns
 *                     at once (THREAD_ITERATIONS, 200): clone, the new
 *                     thread's start, its exit and the CLEARTID futex wake
 *   signal_roundtrip  raise(SIGUSR1) to an empty handler and back through
 *                     rt_sigreturn (SIGNAL_ITERATIONS, 20000): the delivery
 *                     of a signal frame and its return
 *
 * `bench ITERATIONS threads` and `bench ITERATIONS signals` run only that
 * one path (fixed iteration counts), so a failure in it cannot cost the
 * rows of the others.
 *
 * Each loop is timed with clock_gettime(CLOCK_MONOTONIC) around it after a
 * short warm-up, so the numbers include the loop overhead (a few ns).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "vdsosym.h"

static volatile long sink;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static void loop_raw(long n)
{
	for (long i = 0; i < n; i++)
		sink = raw_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
}

/* getpid as glibc's libc.so.6 and musl's wrappers have it. */
long wrapper_getpid(void);
__asm__(".text\n"
	".type wrapper_getpid,@function\n"
	".p2align 4\n"
	"wrapper_getpid:\n"
	"	movl $39, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size wrapper_getpid, .-wrapper_getpid\n");

__attribute__((noinline)) static void loop_wrapper(long n)
{
	for (long i = 0; i < n; i++)
		sink = wrapper_getpid();
}

__attribute__((noinline)) static void loop_vsyscall(kernel_vsyscall_fn f,
						    long n)
{
	for (long i = 0; i < n; i++)
		sink = f(SYS_getpid, 0, 0, 0, 0, 0, 0);
}

__attribute__((noinline)) static void loop_clock(long n)
{
	struct timespec ts;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sink = ts.tv_nsec;
	}
}

__attribute__((noinline)) static void loop_set_fs(long n, long fs)
{
	for (long i = 0; i < n; i++)
		sink = raw_syscall6(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, fs, 0, 0, 0, 0);
}

static void report(const char *name, double t0, double t1, long n)
{
	printf("%s %.1f\n", name, (t1 - t0) / (double)n);
}

#define THREAD_ITERATIONS 200
#define SIGNAL_ITERATIONS 20000

static void *empty_thread(void *arg)
{
	return arg;
}

/* Returns -1 on the first failure, so the row is missing, not wrong. */
__attribute__((noinline)) static int loop_threads(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, empty_thread, NULL) != 0)
			return -1;
		if (pthread_join(t, NULL) != 0)
			return -1;
	}
	return 0;
}

static volatile sig_atomic_t handled;

static void empty_handler(int sig)
{
	(void)sig;
	handled++;
}

__attribute__((noinline)) static void loop_signals(long n)
{
	for (long i = 0; i < n; i++)
		raise(SIGUSR1);
}

static int bench_threads(void)
{
	double t0, t1;
	if (loop_threads(THREAD_ITERATIONS / 10) != 0) {
		fprintf(stderr, "bench: pthread_create/join failed\n");
		return 1;
	}
	t0 = now_ns();
	if (loop_threads(THREAD_ITERATIONS) != 0) {
		fprintf(stderr, "bench: pthread_create/join failed\n");
		return 1;
	}
	t1 = now_ns();
	report("thread_create_join", t0, t1, THREAD_ITERATIONS);
	return 0;
}

static int bench_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = empty_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("bench: sigaction");
		return 1;
	}
	double t0, t1;
	long warm = SIGNAL_ITERATIONS / 10;
	loop_signals(warm);
	t0 = now_ns();
	loop_signals(SIGNAL_ITERATIONS);
	t1 = now_ns();
	if (handled != warm + SIGNAL_ITERATIONS) {
		fprintf(stderr, "bench: %ld signals raised, %ld handled\n",
			warm + SIGNAL_ITERATIONS, (long)handled);
		return 1;
	}
	report("signal_roundtrip", t0, t1, SIGNAL_ITERATIONS);
	return 0;
}

int main(int argc, char **argv)
{
	long n = 200000;
	if (argc > 1) {
		char *end;
		n = strtol(argv[1], &end, 10);
		if (*end != '\0' || n <= 0 || argc > 3) {
			fprintf(stderr, "usage: %s [ITERATIONS [threads|signals]]\n", argv[0]);
			return 2;
		}
	}
	if (argc > 2) {
		if (strcmp(argv[2], "threads") == 0)
			return bench_threads();
		if (strcmp(argv[2], "signals") == 0)
			return bench_signals();
		fprintf(stderr, "usage: %s [ITERATIONS [threads|signals]]\n", argv[0]);
		return 2;
	}
	long warm = n / 10 + 1;
	double t0, t1;

	loop_raw(warm);
	t0 = now_ns();
	loop_raw(n);
	t1 = now_ns();
	report("getpid_raw", t0, t1, n);

	loop_wrapper(warm);
	t0 = now_ns();
	loop_wrapper(n);
	t1 = now_ns();
	report("getpid_wrapper", t0, t1, n);

	kernel_vsyscall_fn f =
		(kernel_vsyscall_fn)vdso_sym("LINUX_2.6", "__kernel_vsyscall");
	if (f != NULL) {
		loop_vsyscall(f, warm);
		t0 = now_ns();
		loop_vsyscall(f, n);
		t1 = now_ns();
		report("getpid_vsyscall", t0, t1, n);
	}

	loop_clock(warm);
	t0 = now_ns();
	loop_clock(n);
	t1 = now_ns();
	report("clock_gettime", t0, t1, n);

	long fs = 0;
	raw_syscall6(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, (long)&fs, 0, 0, 0, 0);
	loop_set_fs(warm, fs);
	t0 = now_ns();
	loop_set_fs(n, fs);
	t1 = now_ns();
	report("arch_prctl_set_fs", t0, t1, n);
	return 0;
}
