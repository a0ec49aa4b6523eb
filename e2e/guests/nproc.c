/* nproc: RLIMIT_NPROC as the guest's own limit. Forks children that wait
 * until fork fails, then threads that wait until pthread_create fails;
 * prints how many of each and the error. Run it as an unprivileged user
 * under `ulimit -Su N`: natively the counts are N less the user's other
 * tasks, and so under vsysbed, whose own threads do not count. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX = 400 };

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	static pid_t kids[MAX];
	int n = 0;
	int err = 0;
	for (; n < MAX; n++) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			for (;;)
				pause();
		}
		kids[n] = pid;
	}
	printf("forks: %d, then %s\n", n, err ? strerror(err) : "none failed");
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);

	int t = 0;
	err = 0;
	for (; t < MAX; t++) {
		pthread_t th;
		err = pthread_create(&th, NULL, idle, NULL);
		if (err)
			break;
	}
	printf("threads: %d, then %s\n", t, err ? strerror(err) : "none failed");
	return 0;
}
