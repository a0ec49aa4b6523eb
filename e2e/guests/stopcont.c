/* stopcont: SIGSTOP (and SIGTSTP) stop a whole multi-threaded process —
 * a thread spinning in user code, one asleep in nanosleep, one blocked in
 * read — and SIGCONT resumes it. The parent sends them from another
 * process and watches: every thread's /proc state is T, no thread makes
 * progress while stopped, all do again after SIGCONT, and waitpid reports
 * the stop and the continue. Every line is deterministic. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	volatile unsigned long spins, sleeps, reads;
	volatile int tids[3];
};
static struct shared *sh;
static int pipefd[2];

static void *spinner(void *a)
{
	(void)a;
	sh->tids[0] = (int)syscall(SYS_gettid);
	for (;;)
		sh->spins++;
	return NULL;
}

static void *sleeper(void *a)
{
	(void)a;
	sh->tids[1] = (int)syscall(SYS_gettid);
	struct timespec ts = {0, 2000000L};
	for (;;) {
		nanosleep(&ts, NULL);
		sh->sleeps++;
	}
	return NULL;
}

static void *reader(void *a)
{
	(void)a;
	sh->tids[2] = (int)syscall(SYS_gettid);
	char c;
	for (;;)
		if (read(pipefd[0], &c, 1) == 1)
			sh->reads++;
	return NULL;
}

static char state(int pid, int tid)
{
	char path[64], b[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(b, 1, sizeof b - 1, f);
	fclose(f);
	b[n] = 0;
	char *q = strrchr(b, ')');
	return q && q[1] == ' ' ? q[2] : '?';
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* All four threads of pid in state want, within 5 s. */
static int all_in(int pid, char want)
{
	for (int i = 0; i < 500; i++) {
		int n = state(pid, pid) == want;
		for (int t = 0; t < 3; t++)
			n += state(pid, sh->tids[t]) == want;
		if (n == 4)
			return 1;
		msleep(10);
	}
	return 0;
}

static void round_of(pid_t c, int sig, const char *name)
{
	kill(c, sig);
	int st;
	pid_t w = waitpid(c, &st, WUNTRACED);
	/* (The stop signal itself is left out for SIGTSTP: the in-process
	 * platform's host process stops by SIGSTOP, the one it cannot catch.) */
	int stopped = w == c && WIFSTOPPED(st) && (sig != SIGSTOP || WSTOPSIG(st) == sig);
	int allT = all_in(c, 'T');
	unsigned long s0 = sh->spins, n0 = sh->sleeps, r0 = sh->reads;
	if (write(pipefd[1], "x", 1) != 1)
		return;
	msleep(200);
	int still = s0 == sh->spins && n0 == sh->sleeps && r0 == sh->reads;
	printf("%s: waitpid stopped=%d, all threads T=%d, no progress while stopped=%d\n", name, stopped, allT, still);
	kill(c, SIGCONT);
	w = waitpid(c, &st, WCONTINUED);
	int cont = w == c && WIFCONTINUED(st);
	int moved = 0;
	for (int i = 0; i < 500 && !moved; i++) {
		msleep(10);
		moved = sh->spins != s0 && sh->sleeps != n0 && sh->reads != r0;
	}
	printf("%s then SIGCONT: waitpid continued=%d, every thread runs again=%d\n", name, cont, moved);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pipe(pipefd) != 0)
		return 1;
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		/* A spinning child must not outlive a parent that was killed
		 * (a test's timeout). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		setpgid(0, 0);
		pthread_t t;
		pthread_create(&t, NULL, spinner, NULL);
		pthread_create(&t, NULL, sleeper, NULL);
		pthread_create(&t, NULL, reader, NULL);
		for (;;)
			pause();
	}
	/* The child's own process group, whose parent (this process) is in
	 * another group of the session: not orphaned, so SIGTSTP stops it
	 * whatever group and session this process was started in (Linux
	 * discards SIGTSTP for an orphaned group, and a test's runner may
	 * well start us in one). */
	setpgid(c, c);
	alarm(60); /* a child that never stops ends the run, not the suite */
	while (!sh->tids[0] || !sh->tids[1] || !sh->tids[2] || !sh->spins || !sh->sleeps)
		msleep(5);
	round_of(c, SIGSTOP, "SIGSTOP");
	round_of(c, SIGTSTP, "SIGTSTP");
	kill(c, SIGKILL);
	int st;
	waitpid(c, &st, 0);
	printf("killed: %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	return 0;
}
