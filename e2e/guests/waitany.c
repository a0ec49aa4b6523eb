/*
 * waitany - a wait for any child sees the guest's children only.
 *
 *   waitany
 *
 * Forks a few children and collects each by its pid (under vsysbed the
 * process then keeps a spare host process for its next fork: a child of
 * its host process that is none of the guest's), then waits for any
 * child: WNOHANG, blocking wait(), waitid(P_ALL) — ECHILD each, as there
 * is none. Then one child that exits 7 after a while: wait() collects it
 * (the spare does not take its place). Then a fork, a vfork and a
 * posix_spawn child report their pid and parent and exit; the parent
 * checks them. Output has no pids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void waitNone(const char *what, pid_t r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "a child");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		/* A spawned child: its parent is the pid it was given. */
		return getppid() == atoi(argv[2]) ? 0 : 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < 4; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(i);
		int st;
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != i) {
			perror("waitany: waitpid");
			return 1;
		}
	}
	usleep(300 * 1000); /* time for a spare to start */
	int st;
	waitNone("waitpid(-1, WNOHANG)", waitpid(-1, &st, WNOHANG));
	waitNone("wait", wait(&st));
	siginfo_t si;
	waitNone("waitid(P_ALL)", waitid(P_ALL, 0, &si, WEXITED));

	pid_t late = fork();
	if (late == 0) {
		usleep(100 * 1000);
		_exit(7);
	}
	pid_t r = wait(&st);
	printf("wait: %s, status %d\n", r == late ? "the child" : "another pid", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	/* Children served by spares: their own pid, this process their parent. */
	char self[16];
	snprintf(self, sizeof self, "%d", getpid());
	int pfd[2];
	if (pipe(pfd) != 0)
		return 1;
	pid_t f = fork();
	if (f == 0) {
		pid_t ids[2] = {getpid(), getppid()};
		_exit(write(pfd[1], ids, sizeof ids) == sizeof ids ? 0 : 1);
	}
	pid_t got[2] = {0, 0};
	if (read(pfd[0], got, sizeof got) != sizeof got)
		return 1;
	waitpid(f, &st, 0);
	printf("fork child: pid %s, parent %s\n", got[0] == f ? "its own" : "wrong", got[1] == getpid() ? "us" : "wrong");
	pid_t v = vfork();
	if (v == 0) {
		execl(argv[0], argv[0], "child", self, (char *)NULL);
		_exit(127);
	}
	waitpid(v, &st, 0);
	printf("vfork child: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	pid_t s;
	char *args[] = {argv[0], "child", self, NULL};
	if (posix_spawn(&s, argv[0], NULL, NULL, args, environ) != 0)
		return 1;
	waitpid(s, &st, 0);
	printf("spawned child: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	waitNone("wait at the end", wait(&st));
	return 0;
}
