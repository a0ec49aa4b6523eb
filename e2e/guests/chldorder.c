/*
 * A child's SIGCHLD is queued before the wait that collects the child
 * returns, so a SIGCHLD handler has run by the time waitpid() is back in
 * the caller (a shell counts on it: busybox sh's handler otherwise ran
 * after its next wait4(WNOHANG), one more wait than natively). 200 forks,
 * each child exiting at once and the parent in a blocking waitpid; the
 * same with waitid(P_ALL).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_chld(int sig) { (void)sig; got++; }

int main(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	int late_wait4 = 0, late_waitid = 0;
	for (int i = 0; i < 200; i++) {
		got = 0;
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (i % 2 == 0) {
			if (waitpid(pid, NULL, 0) != pid)
				return 1;
			late_wait4 += got == 0;
		} else {
			siginfo_t si;
			if (waitid(P_ALL, 0, &si, WEXITED) != 0)
				return 1;
			late_waitid += got == 0;
		}
	}
	printf("SIGCHLD handler not yet run when the wait returned: waitpid %d of 100, waitid %d of 100\n", late_wait4, late_waitid);
	return 0;
}
