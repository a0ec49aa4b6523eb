/*
 * sleeper - prints "ready", then blocks in nanosleep for 30 s and exits 0.
 *
 * The supervisor specs signal vsysbed or its host process while this guest
 * is blocked: "ready" on stdout tells them the guest runs and has already
 * made its first syscalls (write, then the sleep itself).
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

int main(void)
{
	printf("ready\n");
	if (fflush(stdout) != 0)
		return 1;
	struct timespec ts = { .tv_sec = 30, .tv_nsec = 0 };
	/* Restart after an interruption: only a signal that kills us ends it. */
	while (nanosleep(&ts, &ts) != 0)
		if (errno != EINTR)
			return 1;
	return 0;
}
