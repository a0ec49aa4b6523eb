/* restart: calls the kernel restarts are one call each, as the guest sees
 * them. Each case uses a syscall no other part of the program makes, so
 * the report's row for it is that case alone:
 *   readv     raw syscall, 3 SIGUSR1 with an SA_RESTART handler: 1 call, 0 errors
 *   recvfrom  through __kernel_vsyscall (a raw syscall natively), the same
 *   recvmmsg  raw, each handler raising a second signal, delivered at its
 *             rt_sigreturn before the call is issued again: 1, 0
 *   recvmsg   in a child stopped by SIGSTOP and resumed by SIGCONT: 1, 0
 *   nanosleep the same child, stopped while it sleeps (restart_syscall): 1, 0
 *   pause     the same child, across a SIGTSTP stop, then a handler's EINTR: 1, 1
 *   epoll_wait 3 SIGUSR2 the program ignores: 1 call, 0 errors
 * The signals come from a child, one at a time, each once the last one's
 * handler has run; a signal that arrives before the call blocks leaves the
 * counts as they are. Every line is deterministic. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vdsosym.h"

static int ack[2];
static volatile sig_atomic_t handled;

static void handler(int s)
{
	(void)s;
	handled++;
	if (write(ack[1], "a", 1) != 1)
		_exit(3);
}

static volatile sig_atomic_t nested;
static void nested_handler(int s) { (void)s; nested++; }

/* Raises SIGUSR2, which its sa_mask holds back until its rt_sigreturn: the
 * second handler runs before the interrupted call is issued again. */
static void raising_handler(int s)
{
	handler(s);
	raise(SIGUSR2);
}

static void msleep(int ms) { usleep(ms * 1000); }

/* A child that sends sig to the parent n times, each after the last one's
 * handler ran (no handler: ackd=0), then writes one byte to fd. */
static pid_t sender(int sig, int n, int ackd, int fd)
{
	pid_t parent = getpid(), c = fork();
	if (c != 0)
		return c;
	for (int i = 0; i < n; i++) {
		msleep(50);
		kill(parent, sig);
		char b;
		if (ackd && read(ack[0], &b, 1) != 1)
			_exit(2);
	}
	msleep(50);
	if (write(fd, "x", 1) != 1)
		_exit(2);
	_exit(0);
}

static const char *res(long r, int err)
{
	static char b[32];
	if (r >= 0)
		snprintf(b, sizeof b, "%ld", r);
	else
		snprintf(b, sizeof b, "-1 %s", strerrorname_np(err));
	return b;
}

static void restarted_calls(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	int p[2];
	if (pipe(p) != 0)
		return;
	char b[4];
	struct iovec iov = {b, sizeof b};
	handled = 0;
	pid_t c = sender(SIGUSR1, 3, 1, p[1]);
	long r = syscall(SYS_readv, p[0], &iov, 1);
	int e = errno;
	waitpid(c, NULL, 0);
	printf("readv, 3 SA_RESTART handlers meanwhile: %s handled=%d\n", res(r, e), (int)handled);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	kernel_vsyscall_fn vsys = (kernel_vsyscall_fn)vdso_sym("LINUX_2.6", "__kernel_vsyscall");
	handled = 0;
	c = sender(SIGUSR1, 3, 1, sv[1]);
	if (vsys != NULL)
		r = vsys(SYS_recvfrom, sv[0], (long)b, sizeof b, 0, 0, 0);
	else
		r = syscall(SYS_recvfrom, sv[0], b, sizeof b, 0, NULL, NULL);
	e = -r;
	if (vsys == NULL)
		e = errno;
	waitpid(c, NULL, 0);
	printf("recvfrom, 3 SA_RESTART handlers meanwhile: %s handled=%d\n", res(r, e), (int)handled);

	sa.sa_handler = nested_handler;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = raising_handler;
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	struct mmsghdr mm = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
	handled = 0;
	c = sender(SIGUSR1, 3, 1, sv[1]);
	r = syscall(SYS_recvmmsg, sv[0], &mm, 1, 0, NULL);
	e = errno;
	waitpid(c, NULL, 0);
	printf("recvmmsg, 3 SA_RESTART handlers that each raise a second one meanwhile: %s handled=%d nested=%d\n",
	       res(r, e), (int)handled, (int)nested);
	signal(SIGUSR2, SIG_DFL);
}

static void wait_state(pid_t c, int flags, const char *what)
{
	int st;
	pid_t w = waitpid(c, &st, flags);
	int ok = w == c && (flags == WUNTRACED ? WIFSTOPPED(st) : WIFCONTINUED(st));
	printf("  waitpid %s=%d\n", what, ok);
}

static void stop_cont(pid_t c, int sig)
{
	msleep(100);
	kill(c, sig);
	wait_state(c, WUNTRACED, "stopped");
	kill(c, SIGCONT);
	wait_state(c, WCONTINUED, "continued");
}

/* A child blocked in recvmsg, then asleep, then in pause, each across a
 * stop and a continue. */
static void stopped_calls(void)
{
	int sv[2], go[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(go) != 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		handled = 0;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: pause is never restarted anyway */
		char b[4];
		struct iovec iov = {b, sizeof b};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		long r = syscall(SYS_recvmsg, sv[0], &m, 0);
		int e = errno;
		printf("child recvmsg across a stop: %s\n", res(r, e));
		if (write(go[1], "g", 1) != 1)
			_exit(2);
		struct timespec ts = {0, 400000000L};
		r = syscall(SYS_nanosleep, &ts, NULL);
		e = errno;
		printf("child nanosleep(400ms) across a stop: %s\n", res(r, e));
		if (write(go[1], "g", 1) != 1)
			_exit(2);
		r = syscall(SYS_pause);
		e = errno;
		printf("child pause across a stop, then a handler: %s handled=%d\n", res(r, e), (int)handled);
		_exit(0);
	}
	/* Its own process group, not an orphaned one: SIGTSTP stops it
	 * whatever group this process was started in. */
	setpgid(c, c);
	char g;
	stop_cont(c, SIGSTOP);
	if (write(sv[1], "x", 1) != 1 || read(go[0], &g, 1) != 1)
		return;
	stop_cont(c, SIGSTOP);
	if (read(go[0], &g, 1) != 1)
		return;
	stop_cont(c, SIGTSTP);
	msleep(50);
	kill(c, SIGUSR1);
	int st;
	waitpid(c, &st, 0);
	printf("  child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* epoll_wait while the program is sent signals it ignores. */
static void ignored_signals(void)
{
	signal(SIGUSR2, SIG_IGN);
	int p[2];
	if (pipe(p) != 0)
		return;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	pid_t c = sender(SIGUSR2, 3, 0, p[1]);
	long r = epoll_wait(ep, &ev, 1, 5000);
	int e = errno;
	waitpid(c, NULL, 0);
	printf("epoll_wait(5s), 3 ignored SIGUSR2 meanwhile: %s\n", res(r, e));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe(ack) != 0)
		return 1;
	restarted_calls();
	stopped_calls();
	ignored_signals();
	return 0;
}
