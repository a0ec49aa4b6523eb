/* sharedanon: shared anonymous memory (mmap MAP_SHARED|MAP_ANONYMOUS, the
 * way PostgreSQL allocates its main shared memory) stays shared with
 * forked children and grandchildren, also after mprotect splits it and
 * munmap trims it (MAP_SHARED_VALIDATE is refused without a file); so
 * do shared mappings of a memfd and of an unlinked file; a private mapping
 * does not. Deterministic output, compared with a native run — as root and as
 * an unprivileged user, who cannot reopen the mapping through
 * /proc/self/map_files. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static void wait_child(const char *what, pid_t pid)
{
	int st;
	if (pid < 0) {
		printf("%s: fork: %s\n", what, strerror(errno));
		exit(1);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("%s: child ended with status %#x\n", what, st);
}

/* A child writes at off, its own child (a grandchild) at off+64. */
static void family(const char *what, char *p, size_t off)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		snprintf(p + off, 64, "%s: child", what);
		pid_t g = fork();
		if (g == 0) {
			snprintf(p + off + 64, 64, "%s: grandchild", what);
			_exit(0);
		}
		wait_child(what, g);
		fflush(stdout);
		_exit(0);
	}
	wait_child(what, pid);
	printf("parent reads \"%s\" and \"%s\"\n", p + off, p + off + 64);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return 1;
	}
	printf("fresh mapping reads %d\n", p[0] + p[4 * PG - 1]);
	family("shared", p, 0);
	family("shared, last page", p, 3 * PG);

	printf("mprotect page 1 read-only: %d\n", mprotect(p + PG, PG, PROT_READ));
	family("split", p, 2 * PG);
	printf("munmap page 0: %d\n", munmap(p, PG));
	family("trimmed", p, 2 * PG + 256);

	char *v = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0);
	printf("MAP_SHARED_VALIDATE: %s\n", v == MAP_FAILED ? strerror(errno) : "ok");
	if (v != MAP_FAILED)
		family("validate", v, 0);

	/* Shared mappings of objects without a name to open again: a memfd
	 * and an unlinked file, whose fds the program keeps. */
	int mfd = memfd_create("sharedanon", MFD_CLOEXEC);
	ftruncate(mfd, PG);
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	printf("memfd mapping: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
	if (m != MAP_FAILED)
		family("memfd", m, 0);
	char tmpl[] = "/tmp/sharedanon-XXXXXX";
	int tfd = mkstemp(tmpl);
	unlink(tmpl);
	ftruncate(tfd, PG);
	char *u = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
	printf("unlinked file mapping: %s\n", u == MAP_FAILED ? strerror(errno) : "ok");
	if (u != MAP_FAILED)
		family("unlinked file", u, 0);

	char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(q, "private: the parent's");
	family("private", q, 0);

	/* Many mappings come and go: the memfds behind them must not pile up
	 * (vsysbed) and every one is its own object. */
	for (int i = 0; i < 300; i++) {
		char *t = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (t == MAP_FAILED || t[0] != 0) {
			printf("mapping %d: %s\n", i, t == MAP_FAILED ? strerror(errno) : "not zeroed");
			return 1;
		}
		t[0] = 1;
		munmap(t, PG);
	}
	printf("300 more mappings: ok\n");
	family("after many", p, 3 * PG + 512);
	printf("done\n");
	return 0;
}
