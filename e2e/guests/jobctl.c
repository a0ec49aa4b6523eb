/* jobctl: job control as a shell sees it (issue 12). Every line is
 * deterministic, natively and under vsysbed.
 *
 *   jobctl waitstop       a child stopped by SIGTSTP, SIGTTIN, SIGTTOU and
 *                         SIGSTOP: the parent's waitpid(WUNTRACED) reports
 *                         each by its own signal, then the continue
 *   jobctl count SIG      counts SIG in a handler: prints "ready", and once
 *                         one came waits a second for more, prints the count
 *   jobctl orphan         raises SIGTSTP, SIGTTIN and SIGTTOU at their
 *                         default action: in an orphaned process group
 *                         (run it with setsid) none stops the process
 *   jobctl sleep MS       prints "ready", sleeps, prints "done"
 *   jobctl setpgid        a parent moves its child into a group of its own
 *                         and back until the child calls execve (0), then
 *                         not any more (EACCES)
 *   jobctl waitcmd SIG PROG ARGS
 *                         runs PROG in a process group of its own, sends it
 *                         SIG half a second in: waitpid(WUNTRACED) reports
 *                         its stop by its own signal (vsysbed's, when PROG
 *                         is vsysbed), then SIGCONT and its exit status
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_sig(int sig)
{
	(void)sig;
	got++;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int waitstop(void)
{
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		for (;;)
			pause();
	}
	const int sigs[] = {SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		int st;
		kill(c, sigs[i]);
		if (waitpid(c, &st, WUNTRACED) != c)
			return 2;
		if (WIFSTOPPED(st))
			printf("%s: stopped by %s\n", strsignal(sigs[i]), strsignal(WSTOPSIG(st)));
		else
			printf("%s: not stopped (%#x)\n", strsignal(sigs[i]), st);
		kill(c, SIGCONT);
		if (waitpid(c, &st, WCONTINUED) != c)
			return 3;
		printf("continued %d\n", WIFCONTINUED(st));
	}
	kill(c, SIGTERM);
	int st;
	waitpid(c, &st, 0);
	printf("child ended by %s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
	return 0;
}

static int setpgid_child(void)
{
	int go[2], execd[2];
	if (pipe(go) != 0 || pipe2(execd, O_CLOEXEC) != 0)
		return 1;
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		char b;
		close(go[1]);
		close(execd[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		execl("/bin/sleep", "sleep", "0.3", (char *)0);
		_exit(127);
	}
	close(go[0]);
	close(execd[1]);
	int r = setpgid(c, c);
	printf("before its execve: setpgid(child, child) = %d, its group is its own: %d\n", r, getpgid(c) == c);
	r = setpgid(c, getpgrp());
	printf("before its execve: setpgid(child, ours) = %d, its group is ours: %d\n", r, getpgid(c) == getpgrp());
	if (write(go[1], "x", 1) != 1)
		return 1;
	char b;
	if (read(execd[0], &b, 1) != 0) /* EOF: the execve closed it */
		return 1;
	r = setpgid(c, c);
	printf("after its execve: setpgid(child, child) = %d (%s)\n", r, r ? strerror(errno) : "ok");
	int st;
	waitpid(c, &st, 0);
	printf("child ended: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

static int waitcmd(int sig, char **argv)
{
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		setpgid(0, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	sleep_ms(500);
	kill(c, sig);
	int st;
	if (waitpid(c, &st, WUNTRACED) != c)
		return 2;
	if (WIFSTOPPED(st))
		printf("stopped by %s\n", strsignal(WSTOPSIG(st)));
	else
		printf("not stopped (%#x)\n", st);
	kill(c, SIGCONT);
	if (waitpid(c, &st, 0) != c)
		return 3;
	printf("ended: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 2 && strcmp(argv[1], "waitstop") == 0)
		return waitstop();
	if (argc >= 3 && strcmp(argv[1], "count") == 0) {
		int sig = atoi(argv[2]);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_sig;
		sigaction(sig, &sa, NULL);
		printf("ready\n");
		for (int i = 0; i < 3000 && !got; i++)
			sleep_ms(10);
		sleep_ms(1000);
		printf("%s handled %d time(s)\n", strsignal(sig), (int)got);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "orphan") == 0) {
		const int sigs[] = {SIGTSTP, SIGTTIN, SIGTTOU};
		for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
			kill(getpid(), sigs[i]);
			printf("%s: still running\n", strsignal(sigs[i]));
		}
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "sleep") == 0) {
		printf("ready\n");
		sleep_ms(atol(argv[2]));
		printf("done\n");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "setpgid") == 0)
		return setpgid_child();
	if (argc >= 4 && strcmp(argv[1], "waitcmd") == 0)
		return waitcmd(atoi(argv[2]), argv + 3);
	fprintf(stderr, "usage: jobctl waitstop | count SIG | orphan | sleep MS | setpgid | waitcmd SIG PROG ARGS\n");
	return 2;
}
