/* sigfd: a signalfd reads the guest's pending signals of its mask: one
 * pending before it was made, a child's SIGCHLD (util-linux script waits
 * for its shell this way). The signals stay pending until read, as on
 * Linux: sigpending shows them, a standard signal sent twice is one
 * record, sigwaitinfo can take one first, poll sees the fd readable only
 * while one is pending; a fork child's signalfd reads the child's own.
 * Deterministic lines only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &m, NULL);
	raise(SIGUSR1);
	int fd = signalfd(-1, &m, SFD_CLOEXEC);
	struct signalfd_siginfo si;
	ssize_t n = read(fd, &si, sizeof si);
	printf("pending before: n=%zd signo=%u code=%d self=%s\n", n, si.ssi_signo, si.ssi_code,
	       si.ssi_pid == (unsigned)getpid() ? "yes" : "no");
	pid_t c = fork();
	if (!c)
		_exit(7);
	struct pollfd p = {fd, POLLIN, 0};
	int r = poll(&p, 1, 5000);
	n = read(fd, &si, sizeof si);
	printf("child exit: poll=%d n=%zd signo=%u child=%s status=%d\n", r, n, si.ssi_signo,
	       si.ssi_pid == (unsigned)c ? "yes" : "no", si.ssi_status);
	waitpid(c, NULL, 0);

	/* Pending until read: sigpending shows it; twice is once. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	printf("readable with nothing pending: %d\n", readable(fd));
	raise(SIGUSR2);
	raise(SIGUSR2);
	sigset_t pend;
	sigpending(&pend);
	printf("SIGUSR2 pending: %d, readable: %d\n", sigismember(&pend, SIGUSR2), readable(fd));
	struct signalfd_siginfo many[4];
	n = read(fd, many, sizeof many);
	printf("read: %zd bytes (%zd records), first signo=%u\n", n, n / (ssize_t)sizeof si, many[0].ssi_signo);
	sigpending(&pend);
	printf("after read: SIGUSR2 pending %d, readable %d\n", sigismember(&pend, SIGUSR2), readable(fd));
	n = read(fd, &si, sizeof si);
	printf("read again: %zd %s\n", n, n < 0 ? strerror(errno) : "");

	/* Real-time signals queue: three records, in order. */
	for (int i = 0; i < 3; i++)
		sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = 10 + i});
	n = read(fd, many, sizeof many);
	printf("SIGRTMIN x3: %zd records, values", n / (ssize_t)sizeof si);
	for (int i = 0; i < n / (ssize_t)sizeof si; i++)
		printf(" %d", many[i].ssi_int);
	printf("\n");

	/* sigwaitinfo takes it first: the signalfd has nothing left. */
	raise(SIGUSR1);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	printf("sigwaitinfo: %d, then readable %d\n", sigwaitinfo(&one, NULL) == SIGUSR1, readable(fd));

	/* readv, and a buffer too small (EINVAL). */
	raise(SIGUSR1);
	struct iovec v[2] = {{&si, 64}, {(char *)&si + 64, 64}};
	n = readv(fd, v, 2);
	printf("readv: %zd signo=%u\n", n, si.ssi_signo);
	raise(SIGUSR1);
	char small[64];
	n = read(fd, small, sizeof small);
	printf("small buffer: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	n = read(fd, &si, sizeof si);
	printf("then: %zd signo=%u\n", n, si.ssi_signo);

	/* A fork child's signalfd reads the child's signals, not the parent's. */
	c = fork();
	if (!c) {
		n = read(fd, &si, sizeof si);
		printf("child, nothing pending: %zd %s\n", n, n < 0 ? strerror(errno) : "");
		raise(SIGUSR2);
		n = read(fd, &si, sizeof si);
		printf("child reads its own: %zd signo=%u\n", n, si.ssi_signo);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	n = read(fd, &si, sizeof si);
	printf("parent after the child: %zd signo=%u\n", n, n > 0 ? si.ssi_signo : 0);
	return 0;
}
