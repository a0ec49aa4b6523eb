/* argmax: measures where execve starts to refuse an argument list with
 * E2BIG, by executing itself (with a fixed one-entry environment) in a
 * forked child with growing arguments, under the stack limit given:
 *
 *   argmax STACK_KIB   (0 = keep RLIMIT_STACK)
 *
 * It prints the largest accepted total of argument bytes made of 4095-byte
 * strings, the largest number of empty arguments, and whether one string of
 * MAX_ARG_STRLEN-1 and of MAX_ARG_STRLEN characters is accepted. Native and
 * vsysbed runs must print the same lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self;
static char *envp[] = {"A=1", NULL};
static char chunk[4096], *big;

/* tryexec: 0 if the exec succeeded, else the errno it failed with. */
static int tryexec(char **argv) {
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		execve(self, argv, envp);
		_exit(errno == E2BIG ? 100 : 101);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 100)
		return E2BIG;
	fprintf(stderr, "argmax: child ended with status %#x\n", st);
	exit(2);
}

static char **argv_buf;

/* filled: argv of "child" then n bytes of 4095-byte strings (the last shorter). */
static char **filled(size_t n) {
	size_t i = 0;
	argv_buf[i++] = (char *)self;
	argv_buf[i++] = "child";
	while (n > 0) {
		size_t k = n < 4095 ? n : 4095;
		argv_buf[i++] = chunk + 4095 - k;
		n -= k;
	}
	argv_buf[i] = NULL;
	return argv_buf;
}

static char **empties(size_t n) {
	size_t i = 0;
	argv_buf[i++] = (char *)self;
	argv_buf[i++] = "child";
	while (n-- > 0)
		argv_buf[i++] = "";
	argv_buf[i] = NULL;
	return argv_buf;
}

/* largest n in [0, hi) for which make(n) is accepted (make(0) must be). */
static size_t largest(char **(*make)(size_t), size_t hi) {
	size_t lo = 0;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tryexec(make(mid)) == 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return 0;
	if (argc != 2) {
		fprintf(stderr, "usage: argmax STACK_KIB\n");
		return 2;
	}
	self = argv[0];
	long kib = atol(argv[1]);
	if (kib > 0) {
		struct rlimit rl;
		getrlimit(RLIMIT_STACK, &rl);
		rl.rlim_cur = (rlim_t)kib * 1024;
		if (setrlimit(RLIMIT_STACK, &rl) != 0) {
			perror("setrlimit");
			return 2;
		}
	}
	memset(chunk, 'x', sizeof chunk - 1);
	argv_buf = malloc(sizeof(char *) * (1u << 20));
	big = malloc(32 * 4096 + 1);
	printf("stack %ld KiB: largest argument bytes %zu\n", kib, largest(filled, 8u << 20));
	printf("stack %ld KiB: most empty arguments %zu\n", kib, largest(empties, (1u << 20) - 3));
	for (size_t n = 32 * 4096 - 1; n <= 32 * 4096; n++) {
		memset(big, 'y', n);
		big[n] = 0;
		char *one[] = {(char *)self, "child", big, NULL};
		printf("stack %ld KiB: one string of %zu bytes: %s\n", kib, n, tryexec(one) ? strerror(E2BIG) : "accepted");
	}
	return 0;
}
