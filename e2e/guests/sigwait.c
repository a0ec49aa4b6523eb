/* sigwait: when Linux interrupts a blocking call, and when it does not.
 * A blocking call is interrupted only by a signal that runs a handler (or
 * whose default action ends or stops the process); an ignored,
 * default-ignored or blocked signal never interrupts it. The signals come
 * from another process (a child's kill), as a terminal's or a timer's
 * would. Every line is deterministic; times are compared coarsely. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child that sends sig to us after ms milliseconds, then exits. */
static pid_t signal_later(int sig, int ms)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (sig)
			kill(parent, sig);
		_exit(0);
	}
	return pid;
}

static const char *res(long r)
{
	static char b[64];
	if (r >= 0)
		snprintf(b, sizeof b, "%ld", r);
	else
		snprintf(b, sizeof b, "-1 %s", errno == EINTR ? "EINTR" : errno == EAGAIN ? "EAGAIN" : strerror(errno));
	return b;
}

static volatile sig_atomic_t handled;
static void handler(int sig)
{
	(void)sig;
	handled++;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	double t0;

	/* 1. SIGCHLD (default: ignored) from a child that exits during a
	 * sleep: the sleep goes on (perl's sleep(2) printed 0 under vsysbed). */
	pid_t c = signal_later(0, 50);
	t0 = now();
	unsigned left = sleep(1);
	printf("sleep(1) with a child exiting: left=%u full=%s\n", left, now() - t0 >= 0.95 ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* 2. poll with SIGCHLD blocked: times out, SIGCHLD stays pending. */
	sigset_t chld, pend;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	c = signal_later(0, 30);
	t0 = now();
	long r = poll(NULL, 0, 300);
	printf("poll(300ms) with SIGCHLD blocked: %s after the timeout=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	sigpending(&pend);
	printf("SIGCHLD pending: %s\n", sigismember(&pend, SIGCHLD) ? "yes" : "no");
	sigprocmask(SIG_UNBLOCK, &chld, NULL);

	/* 3. epoll_wait and nanosleep while an ignored SIGUSR1 arrives. */
	signal(SIGUSR1, SIG_IGN);
	int ep = epoll_create1(0);
	struct epoll_event ev;
	c = signal_later(SIGUSR1, 30);
	t0 = now();
	r = epoll_wait(ep, &ev, 1, 300);
	printf("epoll_wait(300ms) with SIGUSR1 ignored: %s after the timeout=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	c = signal_later(SIGUSR1, 30);
	struct timespec req = {0, 300000000L}, rem = {0, 0};
	t0 = now();
	r = nanosleep(&req, &rem);
	printf("nanosleep(300ms) with SIGUSR1 ignored: %s full=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* 4. ... and with a handler: interrupted, the handler ran, rem > 0. */
	signal(SIGUSR1, handler);
	c = signal_later(SIGUSR1, 50);
	req.tv_sec = 5;
	req.tv_nsec = 0;
	t0 = now();
	r = nanosleep(&req, &rem);
	printf("nanosleep(5s) with a SIGUSR1 handler: %s handled=%d rem>3s=%s early=%s\n", res(r), (int)handled,
	       rem.tv_sec >= 3 ? "yes" : "no", now() - t0 < 2 ? "yes" : "no");
	waitpid(c, NULL, 0);

	/* 5. sigtimedwait(5s) for SIGALRM; alarm(1) ends it after 1 s. */
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	struct timespec five = {5, 0};
	alarm(1);
	t0 = now();
	r = sigtimedwait(&alrm, NULL, &five);
	double took = now() - t0;
	printf("sigtimedwait(SIGALRM, 5s) with alarm(1): %s%s after 1s=%s\n", r == SIGALRM ? "SIGALRM" : res(r), "",
	       took >= 0.9 && took < 2.5 ? "yes" : "no");

	/* 6. sigtimedwait for SIGUSR2 is interrupted by a caught SIGTERM. */
	signal(SIGTERM, handler);
	handled = 0;
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, NULL);
	c = signal_later(SIGTERM, 50);
	r = sigtimedwait(&usr2, NULL, &five);
	printf("sigtimedwait(SIGUSR2, 5s) and a caught SIGTERM: %s handled=%d\n", res(r), (int)handled);
	waitpid(c, NULL, 0);

	/* 7. setitimer(ITIMER_PROF): the guest's SIGPROF handler runs. */
	signal(SIGPROF, handler);
	handled = 0;
	struct itimerval it = {{0, 10000}, {0, 10000}};
	setitimer(ITIMER_PROF, &it, NULL);
	t0 = now();
	while (handled < 3 && now() - t0 < 10)
		;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_PROF, &it, NULL);
	printf("ITIMER_PROF: SIGPROF handled=%s\n", handled >= 3 ? "yes" : "no");

	/* 8. Calls Linux never restarts (they fail with EINTR for a handler)
	 * go on through an ignored or default-ignored signal. */
	signal(SIGUSR1, SIG_IGN);
	c = signal_later(0, 30); /* its SIGCHLD: ignored by default */
	t0 = now();
	r = epoll_wait(ep, &ev, 1, 300);
	printf("epoll_wait(300ms) with a child exiting: %s after the timeout=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	c = signal_later(SIGUSR1, 30);
	struct timespec ms300 = {0, 300000000L};
	t0 = now();
	r = syscall(SYS_epoll_pwait2, ep, &ev, 1, &ms300, NULL, 8);
	printf("epoll_pwait2(300ms) with SIGUSR1 ignored: %s after the timeout=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	c = signal_later(SIGUSR1, 30);
	t0 = now();
	r = sigtimedwait(&usr2, NULL, &ms300);
	printf("sigtimedwait(SIGUSR2, 300ms) with SIGUSR1 ignored: %s after the timeout=%s\n", res(r),
	       now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	int sem = semget(IPC_PRIVATE, 1, 0600);
	struct sembuf down = {0, -1, 0};
	c = signal_later(SIGWINCH, 30); /* ignored by default */
	t0 = now();
	r = semtimedop(sem, &down, 1, &ms300);
	printf("semtimedop(300ms) with a SIGWINCH: %s after the timeout=%s\n", res(r), now() - t0 >= 0.29 ? "yes" : "no");
	waitpid(c, NULL, 0);
	semctl(sem, 0, IPC_RMID);
	/* An ignored signal and then a caught one: the caught one interrupts. */
	handled = 0;
	pid_t parent = getpid();
	c = fork();
	if (c == 0) {
		struct timespec ts = {0, 30000000L};
		nanosleep(&ts, NULL);
		kill(parent, SIGUSR1);
		nanosleep(&ts, NULL);
		kill(parent, SIGTERM);
		_exit(0);
	}
	r = epoll_wait(ep, &ev, 1, 5000);
	printf("epoll_wait(5s), an ignored SIGUSR1 then a caught SIGTERM: %s handled=%d\n", res(r), (int)handled);
	waitpid(c, NULL, 0);
	return 0;
}
