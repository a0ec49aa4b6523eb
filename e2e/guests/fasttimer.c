/*
 * A fast POSIX timer whose signal the guest blocks: natively the kernel
 * keeps the one signal pending and counts each further expiry as overrun,
 * so the process is not interrupted at all. vsysbed must not turn each
 * expiry into a host signal on the sleeping thread (a 10 µs timer made
 * 100,000 of them a second, and under load the sleep never ended). Then
 * the guest unblocks the signal: its handler runs at once, with the
 * overrun of the expiries while it was pending.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled, handled_overrun;

static void on_timer(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	if (handled++ == 0)
		handled_overrun = si->si_overrun; /* the first: a slow path may see the next expiry too */
}

static void *sleeper(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 500000000};
	nanosleep(&ts, NULL); /* a second thread that blocks it too */
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
		;
}

int main(void)
{
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	timer_t tm;
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm) != 0) {
		perror("timer_create");
		return 1;
	}
	struct itimerspec its = {{0, 10000}, {0, 10000}};
	timer_settime(tm, 0, &its, NULL);
	pthread_t th;
	pthread_create(&th, NULL, sleeper, NULL);
	sleep_ms(500);
	pthread_join(th, NULL);
	siginfo_t si;
	int sig = sigwaitinfo(&rt, &si);
	int over = timer_getoverrun(tm);
	/* 50,000 expiries in 0.5 s; a loaded machine misses some */
	printf("sigwaitinfo: %d, one signal for many expiries: %d, timer_getoverrun agrees: %d\n",
	       sig == SIGRTMIN, si.si_overrun > 10000, over == si.si_overrun);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN, &sa, NULL);
	struct itimerspec slow = {{0, 1000000}, {0, 1000000}};
	timer_settime(tm, 0, &slow, NULL);
	sleep_ms(100);
	int before = handled;
	sigprocmask(SIG_UNBLOCK, &rt, NULL);
	int after = handled; /* delivered on the way out of sigprocmask */
	sigprocmask(SIG_BLOCK, &rt, NULL);
	timer_delete(tm);
	printf("handler ran while blocked: %d, at the unblock: %d, with the overrun: %d\n",
	       before, after >= 1, handled_overrun >= 20);
	puts("OK fasttimer");
	return 0;
}
