/*
 * vforkstate - what a vfork child changes is its own, and its memory is
 * its parent's.
 *
 *   vforkstate          run every check (the parent)
 *   vforkstate report   print the state an exec'd child sees
 *   vforkstate exit3    exit with status 3
 *
 * Checks: a child (vfork, and clone(CLONE_VM|CLONE_VFORK) on its own stack
 * as posix_spawn does) that dup2s, closes, chdirs, sets its umask, its
 * mask and its dispositions before execve: the exec'd program sees them,
 * the parent keeps its own. getpid/getppid in the child. A failed execve
 * returns to the child (its errno lands in the parent's memory), which
 * then execs another program. posix_spawn with POSIX_SPAWN_SETSID and
 * POSIX_SPAWN_SETPGROUP. A clone(CLONE_VM) child without CLONE_VFORK runs
 * beside its parent in the same memory: the parent watches it count.
 * Output has no pids, so it is the same natively and under vsysbed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static char self[4096];

static void printState(const char *who)
{
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "?");
	printf("%s: cwd=%s fds=", who, strcmp(who, "child") == 0 ? cwd : "(parent's)");
	for (int fd = 0; fd < 10; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			printf("%d,", fd);
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	printf(" blocked=%s%s%s", sigismember(&m, SIGUSR1) ? "USR1," : "",
	       sigismember(&m, SIGUSR2) ? "USR2," : "", sigismember(&m, SIGTERM) ? "TERM," : "");
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	printf(" USR1=%s", sa.sa_handler == SIG_IGN ? "ign" : sa.sa_handler == SIG_DFL ? "dfl" : "handler");
	sigaction(SIGHUP, NULL, &sa);
	printf(" HUP=%s", sa.sa_handler == SIG_IGN ? "ign" : sa.sa_handler == SIG_DFL ? "dfl" : "handler");
	mode_t u = umask(0);
	umask(u);
	printf(" umask=%03o", (unsigned)u);
	struct rlimit rl;
	getrlimit(RLIMIT_CORE, &rl);
	printf(" core=%s\n", rl.rlim_cur == 4096 ? "4096" : "unchanged");
	fflush(stdout);
}

static void onHup(int sig) { (void)sig; }

static volatile int execErrno;

/* The child's changes, then execve(self, "report"). */
static int changeAndExec(void *arg)
{
	(void)arg;
	dup2(3, 9);
	close(3);
	if (chdir("/") != 0)
		_exit(90);
	umask(077);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_BLOCK, &m, NULL);
	signal(SIGUSR1, SIG_IGN);
	struct sigaction sa = {0};
	sa.sa_handler = onHup;
	sigaction(SIGHUP, &sa, NULL);
	/* Limits are per process: the child's own, not its parent's. */
	struct rlimit rl;
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = 4096;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4096)
		rl.rlim_max = 4096; /* root may raise it */
	setrlimit(RLIMIT_CORE, &rl);
	char *argv[] = {self, "report", NULL};
	execve(self, argv, environ);
	_exit(127);
}

static int waitFor(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void checkChanges(void)
{
	int fd = open("/dev/null", O_RDONLY);
	if (fd != 3) {
		printf("open gave %d, not 3\n", fd);
		exit(1);
	}
	umask(022);
	printState("parent before");

	pid_t pid = vfork();
	if (pid == 0)
		changeAndExec(NULL);
	printf("vfork child exit=%d\n", waitFor(pid));
	printState("parent after vfork");

	static char stack[64 << 10];
	pid = clone(changeAndExec, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	printf("clone(CLONE_VM|CLONE_VFORK) child exit=%d\n", waitFor(pid));
	printState("parent after clone");
	close(3);
}

static volatile pid_t childPid, childPpid;

static void checkIdentity(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		childPid = getpid();
		childPpid = getppid();
		_exit(7);
	}
	int code = waitFor(pid);
	printf("vfork child: getpid is the child's pid: %s, getppid is ours: %s, exit=%d\n",
	       childPid == pid ? "yes" : "no", childPpid == getpid() ? "yes" : "no", code);
}

static void checkFailedExec(void)
{
	execErrno = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		char *bad[] = {"/nonexistent/prog", NULL};
		execve(bad[0], bad, environ);
		execErrno = errno;
		char *argv[] = {self, "exit3", NULL};
		execve(self, argv, environ);
		_exit(127);
	}
	int code = waitFor(pid);
	printf("failed execve in the child: errno=%s, then exit=%d\n",
	       execErrno == ENOENT ? "ENOENT" : strerror(execErrno), code);
}

static void checkSpawnFlags(const char *name, short flags)
{
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, flags);
	posix_spawnattr_setpgroup(&attr, 0);
	char *argv[] = {self, "ids", NULL};
	pid_t pid;
	int r = posix_spawn(&pid, self, NULL, &attr, argv, environ);
	if (r != 0) {
		printf("%s: posix_spawn: %s\n", name, strerror(r));
		return;
	}
	printf("%s: exit=%d\n", name, waitFor(pid));
	posix_spawnattr_destroy(&attr);
}

static volatile long counter;
static volatile int stop;

static int count(void *arg)
{
	(void)arg;
	while (!stop)
		counter++;
	return 0;
}

static void checkSharedMemory(void)
{
	static char stack[64 << 10];
	pid_t pid = clone(count, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone");
		return;
	}
	/* A copy could never show the child's counting while it runs. */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int seen = 0;
	for (;;) {
		if (counter > 1000000) {
			seen = 1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10)
			break;
	}
	stop = 1;
	printf("clone(CLONE_VM) child counts in our memory while it runs: %s, exit=%d\n",
	       seen ? "yes" : "no", waitFor(pid));
}

/* A vfork child that faults before exec dies alone; its parent goes on. */
static void checkChildFault(void)
{
	pid_t pid = vfork();
	if (pid == 0) {
		int *volatile bad = (int *)8;
		*bad = 1;
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("vfork child that faults: %s\n",
	       WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "did not die by a signal");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "report") == 0) {
		printState("child");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "exit3") == 0)
		return 3;
	if (argc > 1 && strcmp(argv[1], "ids") == 0) {
		printf("  spawned: sid==pid %s, pgid==pid %s\n", getsid(0) == getpid() ? "yes" : "no",
		       getpgid(0) == getpid() ? "yes" : "no");
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[n] = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	checkChanges();
	checkIdentity();
	checkFailedExec();
	checkSpawnFlags("POSIX_SPAWN_SETSID", POSIX_SPAWN_SETSID);
	checkSpawnFlags("POSIX_SPAWN_SETPGROUP", POSIX_SPAWN_SETPGROUP);
	checkSharedMemory();
	checkChildFault();
	return 0;
}
