/*
 * threads - a pthread workout: N worker threads (8..64, argv[1], default
 * 16) using a mutex, condition variables, a barrier and `__thread`
 * variables, joined with return values checked; a detached thread; and
 * pthread_cancel of a thread blocked in read(2) on a pipe, whose cleanup
 * handler must run.
 *
 * Prints deterministic lines and "OK threads"; exits non-zero with a
 * message on the first wrong result. A SIGALRM watchdog turns a hang into
 * a failure (the e2e suite compares runs, it must not wait on one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 3
#define ITERS 2000

static int nthreads;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static int started;   /* guarded by mu: main's "go" */
static long counter;  /* guarded by mu */
static int arrived;   /* guarded by mu: workers waiting for "go" */
static pthread_cond_t arrived_cv = PTHREAD_COND_INITIALIZER;

static pthread_barrier_t barrier;
static int serial_count[ROUNDS]; /* guarded by mu */

static __thread long tls_value = 5; /* initialised TLS (.tdata) */
static __thread int tls_zero;       /* zero-initialised TLS (.tbss) */
static uintptr_t tls_addrs[64];

#define FAIL(...)                                          \
	do {                                               \
		fprintf(stderr, "threads: " __VA_ARGS__);  \
		fputc('\n', stderr);                       \
		exit(1);                                   \
	} while (0)

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "threads: watchdog expired (hang)\n";
	write(2, msg, sizeof msg - 1);
	_exit(3);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	if (tls_value != 5 || tls_zero != 0)
		return (void *)(intptr_t)-1;
	tls_addrs[id] = (uintptr_t)&tls_value;

	pthread_mutex_lock(&mu);
	arrived++;
	pthread_cond_signal(&arrived_cv);
	while (!started)
		pthread_cond_wait(&start_cv, &mu);
	pthread_mutex_unlock(&mu);

	for (int i = 0; i < ITERS; i++) {
		tls_value++;
		tls_zero += 2;
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	if (tls_value != 5 + ITERS || tls_zero != 2 * ITERS)
		return (void *)(intptr_t)-2;

	for (int r = 0; r < ROUNDS; r++) {
		int rc = pthread_barrier_wait(&barrier);
		if (rc == PTHREAD_BARRIER_SERIAL_THREAD) {
			pthread_mutex_lock(&mu);
			serial_count[r]++;
			pthread_mutex_unlock(&mu);
		} else if (rc != 0) {
			return (void *)(intptr_t)-3;
		}
	}
	return (void *)(intptr_t)(id * 3 + 1);
}

/* The cancelled reader: blocked in read on a pipe nobody writes. */
static int cancel_pipe[2];
static volatile int cleanup_ran;
static volatile int reader_ready;

static void reader_cleanup(void *arg)
{
	*(volatile int *)arg = 1;
}

static void *reader(void *arg)
{
	(void)arg;
	char c;
	pthread_cleanup_push(reader_cleanup, (void *)&cleanup_ran);
	reader_ready = 1;
	ssize_t n = read(cancel_pipe[0], &c, 1);
	/* Only a broken cancel gets here. */
	fprintf(stderr, "threads: read in the cancelled thread returned %zd\n", n);
	pthread_cleanup_pop(0);
	return (void *)(intptr_t)7;
}

/* The detached thread tells main it ran through a condition variable. */
static pthread_cond_t detached_cv = PTHREAD_COND_INITIALIZER;
static int detached_done; /* guarded by mu */

static void *detached(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	detached_done = tls_value == 5 ? 1 : -1;
	pthread_cond_signal(&detached_cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	nthreads = 16;
	if (argc > 1) {
		char *end;
		long n = strtol(argv[1], &end, 10);
		if (*end != '\0' || n < 8 || n > 64) {
			fprintf(stderr, "usage: %s [THREADS 8..64]\n", argv[0]);
			return 2;
		}
		nthreads = (int)n;
	}
	signal(SIGALRM, watchdog);
	alarm(30);

	int err = pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	if (err != 0)
		FAIL("pthread_barrier_init: %s", strerror(err));

	pthread_t tids[64];
	for (int i = 0; i < nthreads; i++) {
		err = pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i);
		if (err != 0)
			FAIL("pthread_create %d: %s", i, strerror(err));
	}

	/* Every worker waits on start_cv before anyone counts. */
	pthread_mutex_lock(&mu);
	while (arrived < nthreads)
		pthread_cond_wait(&arrived_cv, &mu);
	if (counter != 0)
		FAIL("counter moved before the start: %ld", counter);
	started = 1;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&mu);

	for (int i = 0; i < nthreads; i++) {
		void *ret;
		err = pthread_join(tids[i], &ret);
		if (err != 0)
			FAIL("pthread_join %d: %s", i, strerror(err));
		if ((intptr_t)ret != i * 3 + 1)
			FAIL("thread %d returned %ld, want %d", i, (long)(intptr_t)ret, i * 3 + 1);
	}
	if (counter != (long)nthreads * ITERS)
		FAIL("counter %ld, want %ld", counter, (long)nthreads * ITERS);
	for (int r = 0; r < ROUNDS; r++)
		if (serial_count[r] != 1)
			FAIL("barrier round %d had %d serial threads, want 1", r, serial_count[r]);
	for (int i = 0; i < nthreads; i++)
		for (int j = i + 1; j < nthreads; j++)
			if (tls_addrs[i] == tls_addrs[j])
				FAIL("threads %d and %d share a __thread variable", i, j);
	if (tls_value != 5 || tls_zero != 0)
		FAIL("main's __thread variables changed: %ld %d", tls_value, tls_zero);
	printf("threads: %d workers, counter %ld, barrier rounds %d\n", nthreads, counter, ROUNDS);

	/* Detached: never joined; it reports back through a condition variable. */
	pthread_t d;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&d, &attr, detached, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0)
		FAIL("pthread_create (detached): %s", strerror(err));
	pthread_mutex_lock(&mu);
	while (detached_done == 0)
		pthread_cond_wait(&detached_cv, &mu);
	pthread_mutex_unlock(&mu);
	if (detached_done != 1)
		FAIL("the detached thread saw a wrong __thread value");
	printf("threads: detached thread ran\n");

	/* Cancel a reader blocked in read(2). */
	if (pipe(cancel_pipe) != 0)
		FAIL("pipe: %s", strerror(errno));
	pthread_t r;
	err = pthread_create(&r, NULL, reader, NULL);
	if (err != 0)
		FAIL("pthread_create (reader): %s", strerror(err));
	/* Deferred cancellation acts at read() whether it is already blocked
	 * or not; the wait only makes the blocked case the likely one. */
	while (!reader_ready)
		sleep_ms(1);
	sleep_ms(50);
	err = pthread_cancel(r);
	if (err != 0)
		FAIL("pthread_cancel: %s", strerror(err));
	void *ret;
	err = pthread_join(r, &ret);
	if (err != 0)
		FAIL("pthread_join (reader): %s", strerror(err));
	if (ret != PTHREAD_CANCELED)
		FAIL("the cancelled reader returned %p, not PTHREAD_CANCELED", ret);
	if (!cleanup_ran)
		FAIL("the cancelled reader's cleanup handler did not run");
	printf("threads: cancelled reader, cleanup ran\n");

	printf("OK threads\n");
	return 0;
}
