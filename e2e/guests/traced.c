/*
 * A guest whose syscalls depend on whether it is being traced: it reads
 * TracerPid from /proc/self/status and, when a tracer is there, makes
 * three extra getppid calls. Its output is the same either way, so only
 * the syscall multiset tells a traced run from an untraced one — the
 * divergence `vsysbed diff-run` must find between the in-process and the
 * ptrace platform.
 */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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

int main(void)
{
	if (tracer_pid() > 0)
		for (int i = 0; i < 3; i++)
			syscall(SYS_getppid);
	puts("same output either way");
	return 0;
}
