/* syscallbench - N getpid calls timed with CLOCK_MONOTONIC: the cost of
 * one syscall on whatever path the libc takes (raw, trapped, bypassed).
 * usage: syscallbench [N]   (default 100000) */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "corpus.h"

int main(int argc, char **argv)
{
	corpus_name = "syscallbench";
	long n = 100000;
	if (argc > 1) {
		char *end;
		n = strtol(argv[1], &end, 10);
		CHECK(*end == 0 && n > 0, "usage: syscallbench [N>0]");
	}
	pid_t me = getpid();
	struct timespec t0, t1;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0, "clock_gettime");
	for (long i = 0; i < n; i++)
		CHECK(getpid() == me, "getpid");
	CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0, "clock_gettime");
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	/* On stderr: stdout stays the same from run to run. */
	fprintf(stderr, "syscallbench: %ld getpid, %.1f ns/call\n", n, ns / (double)n);
	corpus_ok();
	return 0;
}
