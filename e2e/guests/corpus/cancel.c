/* cancel - pthread_cancel of a thread blocked in read: the cancellation
 * point must act while the call blocks, and the cleanup handler must run.
 * A watchdog fails the guest instead of letting a missed cancel hang it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include "corpus.h"

static int pipefd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started;
static volatile int cleaned;

static void cleanup(void *arg)
{
	(void)arg;
	cleaned = 1;
}

static void *reader(void *arg)
{
	(void)arg;
	char c;
	ssize_t n;
	pthread_cleanup_push(cleanup, NULL);
	pthread_mutex_lock(&mu);
	started = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	/* Nothing is ever written: only cancellation ends this read. */
	n = read(pipefd[0], &c, 1);
	pthread_cleanup_pop(0);
	return (void *)(long)(n == 1 ? 1 : 2);
}

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL cancel: watchdog: the blocked read was never cancelled\n";
	(void)write(2, msg, sizeof msg - 1);
	_exit(3);
}

int main(void)
{
	corpus_name = "cancel";
	signal(SIGALRM, watchdog);
	alarm(20);
	CHECK(pipe(pipefd) == 0, "pipe");

	pthread_t t;
	CHECK((errno = pthread_create(&t, NULL, reader, NULL)) == 0, "pthread_create");
	pthread_mutex_lock(&mu);
	while (!started)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	/* Give the reader time to block inside read; cancellation is correct
	 * either way (read is a cancellation point), this only makes the
	 * blocked case the one we test. */
	struct timespec nap = {0, 50 * 1000000};
	nanosleep(&nap, NULL);

	CHECK((errno = pthread_cancel(t)) == 0, "pthread_cancel");
	void *ret;
	CHECK((errno = pthread_join(t, &ret)) == 0, "pthread_join");
	CHECK(ret == PTHREAD_CANCELED, "the reader was cancelled, not returned");
	CHECK(cleaned, "the cleanup handler ran");

	/* The pipe is intact: a later read in this thread still works. */
	CHECK(write(pipefd[1], "z", 1) == 1, "write");
	char c;
	CHECK(read(pipefd[0], &c, 1) == 1 && c == 'z', "read after the cancel");
	alarm(0);
	corpus_ok();
	return 0;
}
