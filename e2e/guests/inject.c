// inject: calls whose results `run --inject` (and strace -e inject=)
// change, one result a line, so that the two can be compared.
//
//   inject chdir N    N chdir("/") calls: "chdir i: RET" or "chdir i: -1 ENAME"
//   inject openat N   N opens of /dev/null (each closed again): the fd or the error
//   inject getppid N  N raw getppid calls: "0" for 0 (a value injected), else "pid"
//
// A SIGUSR1 handler counts its signals; the last line is "SIGUSR1 caught K".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void on_usr1(int sig) { (void)sig; caught++; }

static void result(const char *name, int i, long r, int err) {
	if (r == -1)
		printf("%s %d: -1 %s\n", name, i, strerrorname_np(err) ? strerrorname_np(err) : "?");
	else
		printf("%s %d: %ld\n", name, i, r);
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: inject chdir|openat|getppid N\n");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	int n = atoi(argv[2]);
	for (int i = 1; i <= n; i++) {
		long r;
		errno = 0;
		if (!strcmp(argv[1], "chdir")) {
			r = chdir("/");
			result("chdir", i, r, errno);
		} else if (!strcmp(argv[1], "openat")) {
			r = open("/dev/null", O_RDONLY);
			result("openat", i, r, errno);
			if (r >= 0)
				close(r);
		} else if (!strcmp(argv[1], "getppid")) {
			r = syscall(SYS_getppid);
			if (r > 0)
				printf("getppid %d: pid\n", i);
			else
				result("getppid", i, r, errno);
		} else {
			fprintf(stderr, "inject: unknown call %s\n", argv[1]);
			return 2;
		}
	}
	printf("SIGUSR1 caught %d\n", (int)caught);
	return 0;
}
