/* thread - starts one pthread (clone with CLONE_THREAD) and joins it. */
#include <pthread.h>
#include <stdio.h>

static void *worker(void *arg)
{
	*(int *)arg = 7;
	return NULL;
}

int main(void)
{
	pthread_t t;
	int v = 0;
	int err = pthread_create(&t, NULL, worker, &v);
	if (err != 0) {
		fprintf(stderr, "thread: pthread_create failed: %d\n", err);
		return 1;
	}
	pthread_join(t, NULL);
	printf("thread: worker set %d\n", v);
	return v == 7 ? 0 : 1;
}
