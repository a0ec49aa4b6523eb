/* forkthread: fork, vfork, posix_spawn and clone without CLONE_THREAD made
 * from a thread that is not the main thread, in the first process and in a
 * forked child, and after the guest changed its own personality.
 *
 * personality(2) is per thread and inherited by a new process: a host
 * process started from any thread must come up with the layout the trap
 * filter allows, whatever the guest's personality is. Every line it prints
 * is deterministic, so native and vsysbed runs compare exactly. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_of(pid_t pid)
{
	int ws;
	if (waitpid(pid, &ws, 0) != pid)
		return -1000 - errno;
	if (WIFSIGNALED(ws))
		return -WTERMSIG(ws);
	return WEXITSTATUS(ws);
}

static int by_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -2000 - errno;
	if (pid == 0)
		_exit(7);
	return status_of(pid);
}

static int by_vfork(void)
{
	pid_t pid = vfork();
	if (pid < 0)
		return -2000 - errno;
	if (pid == 0) {
		char *argv[] = {"true", NULL};
		execve("/bin/true", argv, environ);
		_exit(99);
	}
	return status_of(pid);
}

static int by_spawn(void)
{
	pid_t pid;
	char *argv[] = {"sh", "-c", "exit 5", NULL};
	int e = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	if (e != 0)
		return -2000 - e;
	return status_of(pid);
}

static int by_clone(void)
{
	/* clone(2) without CLONE_THREAD or CLONE_VM: a fork by another name. */
	long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (pid < 0)
		return -2000 - errno;
	if (pid == 0)
		syscall(SYS_exit_group, 3);
	return status_of((pid_t)pid);
}

static void *all_four(void *arg)
{
	const char *who = arg;
	printf("%s: fork=%d vfork=%d spawn=%d clone=%d\n", who, by_fork(), by_vfork(), by_spawn(), by_clone());
	fflush(stdout);
	return NULL;
}

static void from_thread(const char *who)
{
	pthread_t t;
	if (pthread_create(&t, NULL, all_four, (void *)who) != 0) {
		perror("pthread_create");
		exit(1);
	}
	pthread_join(t, NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	all_four("main thread");
	from_thread("second thread");

	/* In a child process of the tree, from one of its threads. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		from_thread("child's thread");
		_exit(0);
	}
	printf("child: %d\n", status_of(pid));

	/* The guest's own personality: it starts as the caller's (0 here),
	 * changes only for the guest, and forks still work. */
	int before = personality(0xffffffff);
	int old = personality(ADDR_NO_RANDOMIZE);
	int now = personality(0xffffffff);
	printf("personality: start=%#x set-returned=%#x now=%#x\n", before, old, now);
	from_thread("thread after personality()");
	personality(before);
	return 0;
}
