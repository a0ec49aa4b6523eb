/* semantics: small Linux behaviours a syscall sweep found different under
 * vsysbed, one line each (deterministic: native and vsysbed compare).
 *  - mmap's and munmap's argument checks in Linux's order;
 *  - clone3's checks of its struct and flags;
 *  - a vfork child starts with an empty pending set;
 *  - a fork child's own fd at 1500 (inherited, and one it makes) closes;
 *  - rt_sigtimedwait with an empty set returns EINTR for a caught signal;
 *  - a timer's overrun counts every expiry while its signal is pending;
 *  - a fork child is R in /proc/PID/stat until it blocks, then S. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(long r)
{
	if (r >= 0)
		return "ok";
	switch (errno) {
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case E2BIG: return "E2BIG";
	case EFAULT: return "EFAULT";
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case ENODEV: return "ENODEV";
	default: return strerror(errno);
	}
}

static long mm(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return -1;
	munmap(p, len ? len : 1);
	return 0;
}

static long clone3_with(struct clone_args *a, size_t size)
{
	long r = syscall(SYS_clone3, a, size);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, __WALL);
	return r;
}

static void on_alarm(int s) { (void)s; }

/* The state letter of /proc/PID/stat (field 3). */
static char proc_state(int pid)
{
	char path[64], b[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return '?';
	b[n] = 0;
	char *q = strrchr(b, ')');
	return q && q[1] == ' ' ? q[2] : '?';
}

/* Twenty fork children that spin until told to stop, each read at once
 * after fork returns: a child that has not run yet, or runs, is R (a
 * parent that waits for its children to be asleep relies on it). Then a
 * child that blocks in a futex wait: S once it is there. */
static void fork_states(void)
{
	volatile uint32_t *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int running = 0;
	for (int i = 0; i < 20; i++) {
		*flag = 0;
		pid_t pid = fork();
		if (pid == 0) {
			while (!*flag)
				;
			_exit(0);
		}
		running += proc_state(pid) == 'R';
		*flag = 1;
		waitpid(pid, NULL, 0);
	}
	printf("fork children R before they block: %d of 20\n", running);
	*flag = 0;
	pid_t pid = fork();
	if (pid == 0) {
		while (!*flag)
			syscall(SYS_futex, flag, FUTEX_WAIT, 0, NULL, NULL, 0);
		_exit(0);
	}
	char s = 'R';
	for (int i = 0; i < 20000 && (s = proc_state(pid)) == 'R'; i++)
		usleep(100);
	*flag = 1;
	syscall(SYS_futex, flag, FUTEX_WAKE, 1, NULL, NULL, 0);
	int st;
	waitpid(pid, &st, 0);
	printf("fork child asleep in a futex: %c, woken and exited %d\n", s, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int closed = 700; /* never opened */

	/* mmap: the length first (EINVAL), then the fd (EBADF)... */
	printf("mmap len 0, closed fd: %s\n", ename(mm(0, PROT_READ, MAP_PRIVATE, closed, 0)));
	printf("mmap len 4096, closed fd: %s\n", ename(mm(4096, PROT_READ, MAP_PRIVATE, closed, 0)));
	printf("mmap len 0, anonymous: %s\n", ename(mm(0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	printf("mmap no type flags: %s\n", ename(mm(4096, PROT_READ, MAP_ANONYMOUS, -1, 0)));
	printf("mmap unaligned offset: %s\n", ename(mm(4096, PROT_READ, MAP_PRIVATE, 0, 5)));
	int dfd = open("/", O_RDONLY | O_DIRECTORY);
	printf("mmap a directory: %s\n", ename(mm(4096, PROT_READ, MAP_PRIVATE, dfd, 0)));
	close(dfd);
	/* munmap of a range that is not mapped is no error. */
	char *hole = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 3 * 4096);
	printf("munmap of nothing mapped: %s\n", ename(munmap(hole, 4096)));
	printf("munmap length 0: %s\n", ename(munmap(hole, 0)));
	printf("munmap unaligned: %s\n", ename(munmap(hole + 1, 4096)));

	/* clone3's checks. */
	struct {
		struct clone_args a;
		uint64_t extra[4];
	} big;
	memset(&big, 0, sizeof big);
	big.a.exit_signal = SIGCHLD;
	printf("clone3 size 0: %s\n", ename(clone3_with(&big.a, 0)));
	printf("clone3 size 63: %s\n", ename(clone3_with(&big.a, 63)));
	printf("clone3 larger, zero tail: %s\n", ename(clone3_with(&big.a, sizeof big)));
	big.extra[2] = 1;
	printf("clone3 larger, non-zero tail: %s\n", ename(clone3_with(&big.a, sizeof big)));
	big.extra[2] = 0;
	printf("clone3 size above a page: %s\n", ename(clone3_with(&big.a, 8192)));
	struct clone_args a = {0};
	a.exit_signal = 65;
	printf("clone3 exit_signal 65: %s\n", ename(clone3_with(&a, sizeof a)));
	memset(&a, 0, sizeof a);
	a.flags = CLONE_THREAD;
	printf("clone3 CLONE_THREAD alone: %s\n", ename(clone3_with(&a, sizeof a)));
	a.flags = CLONE_SIGHAND;
	printf("clone3 CLONE_SIGHAND without CLONE_VM: %s\n", ename(clone3_with(&a, sizeof a)));
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGCHLD;
	a.stack_size = 4096;
	printf("clone3 stack_size without stack: %s\n", ename(clone3_with(&a, sizeof a)));
	memset(&a, 0, sizeof a);
	a.flags = CLONE_NEWUSER | CLONE_FS;
	printf("clone3 CLONE_NEWUSER|CLONE_FS: %s\n", ename(clone3_with(&a, sizeof a)));
	memset(&a, 0, sizeof a);
	a.flags = 1ULL << 40;
	printf("clone3 unknown flag: %s\n", ename(clone3_with(&a, sizeof a)));
	printf("clone3 bad pointer: %s\n", ename(syscall(SYS_clone3, (void *)8, sizeof a)));

	/* A vfork child's pending set is its own: empty. */
	sigset_t m, pend;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	kill(getpid(), SIGUSR1);
	fflush(stdout);
	pid_t c = vfork();
	if (c == 0) {
		sigpending(&pend);
		_exit(sigismember(&pend, SIGUSR1) ? 1 : 0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("vfork child sees the parent's pending SIGUSR1: %s\n", WEXITSTATUS(st) ? "yes" : "no");
	sigpending(&pend);
	printf("parent still has it: %s\n", sigismember(&pend, SIGUSR1) ? "yes" : "no");
	int sig;
	sigwait(&m, &sig);

	/* A fork child's fds up there are its own. */
	dup2(1, 1500);
	c = fork();
	if (c == 0) {
		int a1 = close(1500) == 0;
		int nfd = fcntl(1, F_DUPFD, 1600);
		int a2 = nfd >= 1600 && close(nfd) == 0;
		_exit(a1 && a2 ? 0 : 1);
	}
	waitpid(c, &st, 0);
	printf("fork child closes its fd 1500 and one it made at 1600+: %s\n", WEXITSTATUS(st) == 0 ? "yes" : "no");
	close(1500);

	/* rt_sigtimedwait with an empty set: a caught signal interrupts it. */
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 200000}};
	setitimer(ITIMER_REAL, &it, NULL);
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = {5, 0};
	long r = sigtimedwait(&none, NULL, &ts);
	printf("sigtimedwait(empty set) and a caught SIGALRM: %s\n", ename(r));

	/* A timer every 10 us, its signal blocked for 300 ms: one signal,
	 * whose overrun is every expiry after the first (about 30,000). */
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	timer_t tm;
	timer_create(CLOCK_MONOTONIC, &ev, &tm);
	struct itimerspec its = {{0, 10000}, {0, 10000}};
	timer_settime(tm, 0, &its, NULL);
	usleep(300000);
	siginfo_t si;
	sigwaitinfo(&rt, &si);
	int over = timer_getoverrun(tm);
	timer_delete(tm);
	printf("timer overrun after 300 ms at 10 us: above 20000 %d, timer_getoverrun the same %d\n",
	       si.si_overrun > 20000, over == si.si_overrun);
	fork_states();
	return 0;
}
