/*
 * threads1000 - creates and joins 1,000 threads, one after the other.
 *
 * Each thread checks its zero-initialised `__thread` slot (a reused stack
 * or TLS block must come back clean from libc), sets it, and returns its
 * index, which main checks at the join. The thread ids must be fresh
 * while the previous thread is gone, so the count of distinct joins is
 * the proof that create/exit/join cycled 1,000 times. A SIGALRM watchdog
 * turns a hang into a failure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT 1000

static __thread long slot;

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "threads1000: watchdog expired (hang)\n";
	write(2, msg, sizeof msg - 1);
	_exit(3);
}

static void *body(void *arg)
{
	if (slot != 0)
		return (void *)(intptr_t)-1;
	slot = (long)(intptr_t)arg;
	return arg;
}

int main(void)
{
	signal(SIGALRM, watchdog);
	alarm(50);
	long sum = 0;
	for (int i = 0; i < COUNT; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, body, (void *)(intptr_t)i);
		if (err != 0) {
			fprintf(stderr, "threads1000: pthread_create #%d: %s\n", i, strerror(err));
			return 1;
		}
		void *ret;
		err = pthread_join(t, &ret);
		if (err != 0) {
			fprintf(stderr, "threads1000: pthread_join #%d: %s\n", i, strerror(err));
			return 1;
		}
		if ((intptr_t)ret != i) {
			fprintf(stderr, "threads1000: thread #%d returned %ld\n", i, (long)(intptr_t)ret);
			return 1;
		}
		sum += (long)(intptr_t)ret;
	}
	if (sum != (long)COUNT * (COUNT - 1) / 2) {
		fprintf(stderr, "threads1000: sum of return values %ld\n", sum);
		return 1;
	}
	printf("threads1000: %d threads created and joined, sum %ld\n", COUNT, sum);
	printf("OK threads1000\n");
	return 0;
}
