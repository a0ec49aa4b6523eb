/*
 * forkthreads - forks while other threads run.
 *
 * Three worker threads count while the main thread forks four times. On
 * Linux the child holds only the thread that called fork; it checks that,
 * runs a thread of its own, allocates, and exits with a status the parent
 * checks. The parent's workers must keep counting across the forks and are
 * joined at the end.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define FORKS 4

static atomic_int stop;
static atomic_long progress[WORKERS];

static void *worker(void *arg)
{
	long i = (long)arg;
	while (!atomic_load(&stop)) {
		atomic_fetch_add(&progress[i], 1);
		usleep(100);
	}
	return NULL;
}

static void *helper(void *arg)
{
	return (char *)arg + 1;
}

/*
 * child is the forked process. Only the forking thread exists here: it is
 * the new process's main thread (tid == pid), no worker moves its counter,
 * and the child can start and join a thread of its own, allocate and exit.
 * (/proc/self/task is not the test: under vsysbed it lists the host
 * process's runtime threads too.)
 */
static int child(int round)
{
	if (gettid() != getpid()) {
		fprintf(stderr, "forkthreads: child %d: tid %d != pid %d\n", round, gettid(), getpid());
		return 90;
	}
	long before[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		before[i] = atomic_load(&progress[i]);
	usleep(5000);
	for (int i = 0; i < WORKERS; i++)
		if (atomic_load(&progress[i]) != before[i]) {
			fprintf(stderr, "forkthreads: worker %d ran in child %d\n", i, round);
			return 91;
		}
	pthread_t t;
	void *ret;
	char c;
	if (pthread_create(&t, NULL, helper, &c) != 0 || pthread_join(t, &ret) != 0 || ret != &c + 1) {
		fprintf(stderr, "forkthreads: child %d cannot run a thread\n", round);
		return 92;
	}
	char *p = malloc(1 << 16); /* the allocator's locks were reset by fork */
	if (!p)
		return 93;
	memset(p, round, 1 << 16);
	long sum = 0;
	for (int i = 0; i < 1 << 16; i++)
		sum += p[i];
	free(p);
	return sum == (long)round << 16 ? 10 + round : 94;
}

int main(void)
{
	pthread_t th[WORKERS];
	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
			fprintf(stderr, "forkthreads: pthread_create failed\n");
			return 1;
		}
	/* Let every worker start counting before the first fork. */
	for (int i = 0; i < WORKERS; i++)
		while (atomic_load(&progress[i]) == 0)
			usleep(100);

	int bad = 0;
	for (int round = 0; round < FORKS; round++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("forkthreads: fork");
			return 1;
		}
		if (pid == 0)
			_exit(child(round));
		int st;
		if (waitpid(pid, &st, 0) != pid) {
			perror("forkthreads: waitpid");
			return 1;
		}
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		printf("child %d exited %d\n", round, code);
		if (code != 10 + round)
			bad = 1;
	}

	/* The parent's workers must still be running after all the forks. */
	long seen[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		seen[i] = atomic_load(&progress[i]);
	for (int i = 0; i < WORKERS; i++)
		while (atomic_load(&progress[i]) == seen[i])
			usleep(100);
	printf("parent workers still running\n");
	atomic_store(&stop, 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	printf("workers joined\n");
	return bad;
}
