/* sigroute: a process-directed signal from another process reaches the
 * thread that can take it, whichever thread the kernel first put it on.
 * Every thread blocks SIGUSR1; one waits for it with sigtimedwait while
 * the main thread keeps running and short-lived threads come and go. A
 * child sends SIGUSR1 to this process ROUNDS times, each after the
 * previous one was taken (a byte on a pipe), so none can merge with
 * another. Linux hands each to the waiter (a blocked process-directed
 * signal stays in the shared queue, and an exiting thread's share moves
 * on). Every line is deterministic: native and vsysbed runs compare. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 500

static int ack[2];
static volatile int done;

static void *waiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	struct timespec ts = {10, 0};
	int got = 0;
	for (int i = 0; i < ROUNDS; i++) {
		siginfo_t si;
		int sig = sigtimedwait(&s, &si, &ts);
		if (sig != SIGUSR1) {
			printf("round %d: sigtimedwait: %s\n", i, sig < 0 ? strerror(errno) : "another signal");
			break;
		}
		got++;
		if (write(ack[1], "x", 1) != 1)
			break;
	}
	printf("waiter took %d of %d\n", got, ROUNDS);
	done = 1;
	return NULL;
}

static void *brief(void *arg) { return arg; }

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL); /* every thread inherits it */
	if (pipe(ack) != 0)
		return 1;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		close(ack[1]);
		for (int i = 0; i < ROUNDS; i++) {
			char c;
			kill(parent, SIGUSR1);
			if (read(ack[0], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(ack[0]);
	pthread_t w;
	pthread_create(&w, NULL, waiter, NULL);
	/* The main thread keeps running, and threads keep starting and
	 * ending: the kernel may put the signal on any of them. */
	int threads = 0;
	while (!done) {
		pthread_t b;
		if (pthread_create(&b, NULL, brief, NULL) == 0) {
			pthread_join(b, NULL);
			threads++;
		}
	}
	pthread_join(w, NULL);
	close(ack[1]);
	int status;
	waitpid(child, &status, 0);
	printf("sender: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "done" : "failed");
	printf("short-lived threads: %s\n", threads > 0 ? "some" : "none");
	return 0;
}
