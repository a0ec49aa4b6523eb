/* pwait: pselect6, ppoll and epoll_pwait make their mask argument the
 * thread's mask for the call's duration, atomically. A signal pending
 * before the call that the temporary mask lets through interrupts it at
 * once (make's jobserver waits for SIGCHLD this way); a signal the
 * temporary mask blocks does not interrupt it, and is delivered after.
 * Every line is deterministic. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void handler(int s) { (void)s; handled++; }

static const char *res(long r)
{
	static char b[32];
	if (r >= 0)
		snprintf(b, sizeof b, "%ld", r);
	else
		snprintf(b, sizeof b, "-1 %s", errno == EINTR ? "EINTR" : strerror(errno));
	return b;
}

static int blocked_now(int sig)
{
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, sig);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr1, none;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	int ep = epoll_create1(0);
	struct epoll_event ev;

	/* A pending signal the temporary mask lets through: EINTR at once. */
	for (int i = 0; i < 3; i++) {
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		raise(SIGUSR1);
		handled = 0;
		long r;
		const char *name;
		struct timespec one = {1, 0};
		if (i == 0) {
			name = "pselect";
			r = pselect(0, NULL, NULL, NULL, &one, &none);
		} else if (i == 1) {
			name = "ppoll";
			r = ppoll(NULL, 0, &one, &none);
		} else {
			name = "epoll_pwait";
			r = epoll_pwait(ep, &ev, 1, 1000, &none);
		}
		printf("%s, SIGUSR1 pending and let through: %s handled=%d blocked after=%s\n", name, res(r), (int)handled,
		       blocked_now(SIGUSR1) ? "yes" : "no");
		sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	}

	/* A signal the temporary mask blocks, sent during the call: it times
	 * out, and the signal is delivered once the call has returned. */
	handled = 0;
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	long r = epoll_pwait(ep, &ev, 1, 300, &usr1);
	int during = handled;
	waitpid(c, NULL, 0);
	printf("epoll_pwait(300ms) blocking SIGUSR1 sent meanwhile: %s handled during=%d after=%d\n", res(r), during,
	       (int)handled);

	/* The same with epoll_pwait2, and the sender's exit (its SIGCHLD,
	 * ignored by default) during the call too. */
	handled = 0;
	c = fork();
	if (c == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	struct timespec ms300 = {0, 300000000L};
	r = syscall(SYS_epoll_pwait2, ep, &ev, 1, &ms300, &usr1, 8);
	during = handled;
	waitpid(c, NULL, 0);
	printf("epoll_pwait2(300ms) blocking SIGUSR1 sent meanwhile: %s handled during=%d after=%d blocked after=%s\n",
	       res(r), during, (int)handled, blocked_now(SIGUSR1) ? "yes" : "no");

	/* The temporary mask lets through a signal the thread blocks. */
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	handled = 0;
	c = fork();
	if (c == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	struct timespec five = {5, 0};
	r = pselect(0, NULL, NULL, NULL, &five, &none);
	waitpid(c, NULL, 0);
	printf("pselect(5s) letting through a blocked SIGUSR1 sent meanwhile: %s handled=%d blocked after=%s\n", res(r),
	       (int)handled, blocked_now(SIGUSR1) ? "yes" : "no");
	return 0;
}
