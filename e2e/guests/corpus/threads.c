/* threads - mutex, condvar, __thread and join; detached threads too,
 * whose exit unmaps their own stack (musl's __unmapself). */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
#include "corpus.h"

#define NWORKERS 4
#define NROUNDS 10000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int arrived, go, detached_done;
static __thread long mine = -1;

static void *worker(void *arg)
{
	long id = (long)arg;
	if (mine != -1)
		return (void *)-1L; /* __thread must start at its initial value */
	mine = id;
	pthread_mutex_lock(&mu);
	arrived++;
	pthread_cond_broadcast(&cv);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < NROUNDS; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	return (void *)(mine * 100);
}

static void *detached(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	detached_done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(void)
{
	corpus_name = "threads";
	alarm(30); /* watchdog: a lost wake-up must fail, not hang */
	mine = 42;

	pthread_t t[NWORKERS];
	for (long i = 0; i < NWORKERS; i++)
		CHECK((errno = pthread_create(&t[i], NULL, worker, (void *)(i + 1))) == 0, "pthread_create");

	pthread_mutex_lock(&mu);
	while (arrived < NWORKERS)
		pthread_cond_wait(&cv, &mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);

	for (long i = 0; i < NWORKERS; i++) {
		void *ret;
		CHECK((errno = pthread_join(t[i], &ret)) == 0, "pthread_join");
		CHECK((long)ret == (i + 1) * 100, "each worker saw its own __thread value");
	}
	CHECK(counter == (long)NWORKERS * NROUNDS, "the mutex kept every increment");
	CHECK(mine == 42, "the workers left main's __thread alone");

	/* One detached thread after another: creating the next one takes the
	 * thread list lock that the previous one's exit released. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < 3; i++) {
		pthread_t d;
		CHECK((errno = pthread_create(&d, &attr, detached, NULL)) == 0, "pthread_create detached");
		pthread_mutex_lock(&mu);
		while (detached_done <= i)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
	}
	pthread_attr_destroy(&attr);
	corpus_ok();
	return 0;
}
