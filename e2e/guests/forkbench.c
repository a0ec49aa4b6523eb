/*
 * forkbench - what starting a process costs.
 *
 *   forkbench [N [GAP_MS]]
 *
 * Prints one "name ns_per_op" line per benchmark: fork+_exit+waitpid;
 * vfork+execve(/bin/true)+waitpid; posix_spawn(/bin/true)+waitpid; and
 * fork+_exit+waitpid after touching 1, 16 and 256 MiB of private anonymous
 * memory, the cost that grows with what a fork must copy (under vsysbed
 * the child host process receives every page; natively the kernel only
 * copies page tables). N (default 40) is the iteration count of the first
 * three; the memory rows run fewer, the 256 MiB one only a few times, so
 * that the whole bench stays well under a minute under vsysbed. Each row
 * has one untimed warm-up. GAP_MS (default 0) sleeps that long, untimed,
 * before each timed op: a program that forks now and then, which a spare
 * host process started in the background can serve.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char truePath[] = "/bin/true";

static long long now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* reap waits for pid and fails the bench unless it exited 0. */
static void reap(pid_t pid, const char *what)
{
	int st;
	if (pid < 0) {
		perror(what);
		exit(1);
	}
	if (waitpid(pid, &st, 0) != pid) {
		perror("forkbench: waitpid");
		exit(1);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkbench: %s: child status 0x%x\n", what, st);
		exit(1);
	}
}

static void forkExit(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	reap(pid, "fork");
}

static void vforkExec(void)
{
	char *argv[] = {(char *)truePath, NULL};
	pid_t pid = vfork();
	if (pid == 0) {
		execve(truePath, argv, environ);
		_exit(127);
	}
	reap(pid, "vfork+exec");
}

static void spawn(void)
{
	char *argv[] = {(char *)truePath, NULL};
	pid_t pid;
	int err = posix_spawn(&pid, truePath, NULL, NULL, argv, environ);
	if (err != 0) {
		fprintf(stderr, "forkbench: posix_spawn: %s\n", strerror(err));
		exit(1);
	}
	reap(pid, "posix_spawn");
}

/* gapMs: milliseconds asleep before each op (not timed), as a program
 * that forks now and then rather than in a tight loop. */
static int gapMs;

/* bench runs op once untimed, then n times, and prints the mean. */
static void bench(const char *name, void (*op)(void), int n)
{
	op();
	long long total = 0;
	for (int i = 0; i < n; i++) {
		if (gapMs > 0)
			usleep(gapMs * 1000);
		long long t0 = now();
		op();
		total += now() - t0;
	}
	printf("%s %lld\n", name, total / n);
	fflush(stdout);
}

/* benchMemory times forks of a process holding mib MiB of touched memory. */
static void benchMemory(int mib, int n)
{
	size_t size = (size_t)mib << 20;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("forkbench: mmap");
		exit(1);
	}
	/* Distinct non-zero bytes, so no page is left as the shared zero page. */
	for (size_t off = 0; off < size; off += 4096)
		p[off] = (char)(off >> 12 | 1);
	char name[32];
	snprintf(name, sizeof name, "fork_touched_%dMiB", mib);
	bench(name, forkExit, n);
	munmap(p, size);
}

int main(int argc, char **argv)
{
	int n = 40;
	if ((argc > 1 && (n = atoi(argv[1])) <= 0) || (argc > 2 && (gapMs = atoi(argv[2])) < 0)) {
		fprintf(stderr, "usage: forkbench [N [GAP_MS]]\n");
		return 2;
	}
	bench("fork_exit_wait", forkExit, n);
	bench("vfork_exec_true_wait", vforkExec, n);
	bench("posix_spawn_true_wait", spawn, n);
	benchMemory(1, n);
	benchMemory(16, n / 4 > 0 ? n / 4 : 1);
	benchMemory(256, n / 10 > 0 ? n / 10 : 1);
	return 0;
}
