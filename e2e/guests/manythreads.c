/*
 * manythreads [WIDTH [COUNT [leader-exits]]] - COUNT threads (default
 * 2,000), WIDTH alive at a time (default 1). With leader-exits, main starts
 * one driver thread that does all that and then exit()s, and main itself
 * leaves at once with pthread_exit: the process lives on without its
 * leader, whose thread resources (in vsysbed, its control block) the
 * later threads may reuse.
 *
 * Threads come in rounds: WIDTH are created, then all of them joined, so
 * at most WIDTH+1 threads (with main) are ever alive. Each makes exactly
 * three getppid calls through a raw `syscall` instruction (never libc's
 * wrapper, which a libc could cache or route elsewhere) and checks each
 * answer against the one main got the same way, once. So the process
 * makes exactly 3 * COUNT + 1 getppid calls: the spec holds vsysbed's
 * report to that number and to strace's count of the native run, and the
 * run directory to a bound set by WIDTH, not by COUNT. With WIDTH 1, a run
 * killed at any moment has made 3 getppid per exited thread, plus 0-3 of
 * the one in flight, plus main's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CALLS 3

static long parent;
static int width, count;

static long raw_getppid(void)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_getppid) : "rcx", "r11", "memory");
	return ret;
}

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "manythreads: watchdog expired (hang)\n";
	write(2, msg, sizeof msg - 1);
	_exit(3);
}

static void *body(void *arg)
{
	for (int i = 0; i < CALLS; i++)
		if (raw_getppid() != parent)
			return (void *)(intptr_t)-1;
	return arg;
}

static int drive(void)
{
	pthread_t t[64];
	long joined = 0;
	for (int round = 0; round < count / width; round++) {
		for (int i = 0; i < width; i++) {
			int err = pthread_create(&t[i], NULL, body, (void *)(intptr_t)(round * width + i));
			if (err != 0) {
				fprintf(stderr, "manythreads: pthread_create #%d: %s\n", round * width + i, strerror(err));
				return 1;
			}
		}
		for (int i = 0; i < width; i++) {
			void *ret;
			int err = pthread_join(t[i], &ret);
			if (err != 0) {
				fprintf(stderr, "manythreads: pthread_join #%d: %s\n", round * width + i, strerror(err));
				return 1;
			}
			if ((intptr_t)ret != round * width + i) {
				fprintf(stderr, "manythreads: thread #%d returned %ld (a getppid answer was wrong)\n",
					round * width + i, (long)(intptr_t)ret);
				return 1;
			}
			joined++;
		}
	}
	printf("manythreads: %ld threads joined, %d alive at a time, %d getppid calls each agreed\n",
	       joined, width, CALLS);
	return 0;
}

static void *driver(void *arg)
{
	(void)arg;
	exit(drive());
}

int main(int argc, char **argv)
{
	width = argc > 1 ? atoi(argv[1]) : 1;
	count = argc > 2 ? atoi(argv[2]) : 2000;
	int leader_exits = argc > 3 && strcmp(argv[3], "leader-exits") == 0;
	if (width < 1 || width > 64 || count < 1 || count % width != 0 || (argc > 3 && !leader_exits)) {
		fprintf(stderr, "usage: manythreads [WIDTH [COUNT [leader-exits]]], WIDTH 1..64 dividing COUNT\n");
		return 2;
	}
	signal(SIGALRM, watchdog);
	alarm(50);
	parent = raw_getppid();
	if (!leader_exits)
		return drive();
	pthread_t d;
	int err = pthread_create(&d, NULL, driver, NULL);
	if (err != 0) {
		fprintf(stderr, "manythreads: pthread_create (driver): %s\n", strerror(err));
		return 1;
	}
	pthread_exit(NULL);
}
