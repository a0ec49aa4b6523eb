/*
 * cancel - pthread_cancel of threads blocked in cancellation points:
 * read(2) on a pipe nobody writes, pthread_cond_wait, and nanosleep.
 *
 * Each victim pushes a cleanup handler that records it ran; the join must
 * return PTHREAD_CANCELED. libcs cancel differently — musl's SIGCANCEL
 * handler rewrites the interrupted context's instruction pointer, glibc
 * 2.36 unwinds out of its handler through the signal frame — so both must
 * see a correct frame. An alarm watchdog turns a hang into a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static volatile int ready;
static volatile int cleaned;

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "cancel: watchdog expired (hang)\n";
	write(2, msg, sizeof msg - 1);
	_exit(3);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void mark(void *arg)
{
	(void)arg;
	cleaned = 1;
}

static void unlock_and_mark(void *arg)
{
	pthread_mutex_unlock(arg);
	cleaned = 1;
}

static void *in_read(void *arg)
{
	(void)arg;
	char c;
	pthread_cleanup_push(mark, NULL);
	ready = 1;
	read(fds[0], &c, 1);
	pthread_cleanup_pop(0);
	return NULL;
}

static void *in_cond_wait(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	pthread_cleanup_push(unlock_and_mark, &mu);
	ready = 1;
	for (;;)
		pthread_cond_wait(&never, &mu);
	pthread_cleanup_pop(0);
	return NULL;
}

static void *in_sleep(void *arg)
{
	(void)arg;
	pthread_cleanup_push(mark, NULL);
	ready = 1;
	struct timespec ts = { 60, 0 };
	nanosleep(&ts, NULL);
	pthread_cleanup_pop(0);
	return NULL;
}

static void cancel_one(const char *what, void *(*fn)(void *))
{
	ready = 0;
	cleaned = 0;
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, NULL);
	if (err != 0) {
		fprintf(stderr, "cancel: pthread_create (%s): %s\n", what, strerror(err));
		exit(1);
	}
	while (!ready)
		sleep_ms(1);
	sleep_ms(50); /* most likely blocked by now; correct either way */
	err = pthread_cancel(t);
	if (err != 0) {
		fprintf(stderr, "cancel: pthread_cancel (%s): %s\n", what, strerror(err));
		exit(1);
	}
	void *ret;
	err = pthread_join(t, &ret);
	if (err != 0) {
		fprintf(stderr, "cancel: pthread_join (%s): %s\n", what, strerror(err));
		exit(1);
	}
	if (ret != PTHREAD_CANCELED) {
		fprintf(stderr, "cancel: the thread in %s returned %p, not PTHREAD_CANCELED\n", what, ret);
		exit(1);
	}
	if (!cleaned) {
		fprintf(stderr, "cancel: the cleanup handler of the thread in %s did not run\n", what);
		exit(1);
	}
	printf("cancel: %s cancelled, cleanup ran\n", what);
}

int main(void)
{
	signal(SIGALRM, watchdog);
	alarm(20);
	if (pipe(fds) != 0) {
		perror("cancel: pipe");
		return 1;
	}
	cancel_one("read", in_read);
	cancel_one("pthread_cond_wait", in_cond_wait);
	cancel_one("nanosleep", in_sleep);
	/* The mutex the cond_wait victim's cleanup released must be free. */
	if (pthread_mutex_trylock(&mu) != 0) {
		fprintf(stderr, "cancel: the mutex is still held after the cancelled cond_wait\n");
		return 1;
	}
	pthread_mutex_unlock(&mu);
	printf("OK cancel\n");
	return 0;
}
