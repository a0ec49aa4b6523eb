/* killfault: a "fault" signal sent with kill() by another process is an
 * ordinary signal: the receiver's handler runs, or its default action
 * ends it by the signal; also for a child killed right after fork. A
 * SIGPIPE the kernel raises for a write to a pipe without readers, while
 * the writer blocks SIGPIPE, leaves the write failing with EPIPE and the
 * signal pending. Every line is deterministic: native and vsysbed compare. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const int sigs[] = {SIGSEGV, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGBUS};
static int report[2];

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char rec[2] = {(char)sig, (char)(si->si_code == SI_USER)};
	write(report[1], rec, 2);
}

static void on_quit(int sig)
{
	(void)sig;
	_exit(0); /* not SIGKILL: a kill mid-call would leave its count half made */
}

static void status_line(const char *what, int st)
{
	if (WIFEXITED(st))
		printf("%s: exit %d\n", what, WEXITSTATUS(st));
	else
		printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore); /* no core: the wait status is the same everywhere */

	/* A child with handlers: each signal runs its handler. */
	pipe(report);
	int ready[2];
	pipe(ready);
	pid_t c = fork();
	if (c == 0) {
		struct sigaction sa = {0};
		sa.sa_sigaction = on_sig;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			sigaction(sigs[i], &sa, NULL);
		signal(SIGUSR1, on_quit);
		write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	char b;
	read(ready[0], &b, 1);
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		kill(c, sigs[i]);
		char rec[2];
		if (read(report[0], rec, 2) == 2)
			printf("handler ran for %s, SI_USER=%d\n", strsignal(rec[0]), rec[1]);
	}
	kill(c, SIGUSR1);
	int st;
	waitpid(c, &st, 0);
	status_line("the handlers' child", st);

	/* Default actions: the child ends by the signal. */
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		c = fork();
		if (c == 0) {
			write(ready[1], "r", 1);
			for (;;)
				pause();
		}
		read(ready[0], &b, 1);
		kill(c, sigs[i]);
		waitpid(c, &st, 0);
		char what[64];
		snprintf(what, sizeof what, "default %s", strsignal(sigs[i]));
		status_line(what, st);
	}

	/* Sent at once after fork, before the child ran anything. */
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	kill(c, SIGSEGV);
	waitpid(c, &st, 0);
	status_line("just forked, SIGSEGV", st);

	/* Kernel-raised SIGPIPE while blocked: EPIPE, and it stays pending. */
	sigset_t m, pend;
	sigemptyset(&m);
	sigaddset(&m, SIGPIPE);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int p[2];
	pipe(p);
	close(p[0]);
	ssize_t n = write(p[1], "x", 1);
	printf("write with SIGPIPE blocked: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	sigpending(&pend);
	printf("SIGPIPE pending: %d\n", sigismember(&pend, SIGPIPE));
	int sig = 0;
	sigwait(&m, &sig);
	printf("sigwait took %s\n", strsignal(sig));
	return 0;
}
