/*
 * A guest whose syscalls depend on what it finds.
 *
 *   traced        reads TracerPid from /proc/self/status and, when a
 *                 tracer is there, makes three extra getppid calls: the
 *                 ptrace platform hides its tracer (TracerPid 0, as
 *                 natively), so no platform makes them
 *   traced spin   calls getppid for 30 ms: how many times depends on the
 *                 platform's speed
 *
 * Its output is the same either way, so only the syscall multiset tells
 * the runs apart — the divergence `vsysbed diff-run` must find.
 */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long tracer_pid(void)
{
	char line[256];
	long pid = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "spin") == 0) {
		double end = now() + 0.03;
		while (now() < end)
			syscall(SYS_getppid);
	} else if (tracer_pid() > 0) {
		for (int i = 0; i < 3; i++)
			syscall(SYS_getppid);
	}
	puts("same output either way");
	return 0;
}
