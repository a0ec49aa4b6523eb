/*
 * hostile: calls that must never hurt the host (issue 12). Each mode prints
 * what a program can see of one call, so a run under vsysbed is compared
 * with a native one line by line.
 *
 *   enosys        syscall(-1), x32 numbers, numbers past the table
 *   int80         i386 getpid/gettid/getppid and an unknown i386 number
 *   int80exit     i386 exit(7)
 *   nnp           PR_SET_NO_NEW_PRIVS, then GET here, in a child, after exec
 *   dumpable      PR_SET_DUMPABLE 0, then fork
 *   nproc N       fork up to N children that wait, count until EAGAIN
 *   kill0         setsid, fork a waiting child, kill(0, SIGUSR1)
 *   killall       fork a waiting child, kill(-1, SIGUSR1) (run it as a
 *                 uid of its own: natively it signals every process of it)
 *   execfifo DIR  execve of a FIFO as the program, #! interpreter, PT_INTERP
 *   rtqueue N     a child sigqueues N SIGRTMIN to this process, which blocks
 *                 them, then unblocks: every one is delivered, in order
 *   rtorder       SIGRTMIN+2, +1, SIGRTMIN and SIGUSR1 interleaved, sent
 *                 while blocked by another process, then by the process
 *                 itself: at the unblock the lowest number comes first, each
 *                 number's in the order sent
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long raw(long nr)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static long int80(long nr, long b)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(b) : "memory");
	return ret;
}

static void enosys(void)
{
	static const long nrs[] = {-1, -2, 0x40000000 | 39, 0x40000000 | 512, 512, 1000, 0x7fffffff, 0x80000000L};
	for (unsigned i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		printf("raw %#lx = %ld\n", nrs[i], raw(nrs[i]));
	for (unsigned i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++) {
		errno = 0;
		long r = syscall(nrs[i]);
		printf("syscall %#lx = %ld errno %d\n", nrs[i], r, errno);
	}
}

/* Linux's IA-32 entry: answers with its own table, or -ENOSYS without
 * IA32 emulation. */
static void ia32(void)
{
	long pid = int80(20, 0), tid = int80(224, 0), ppid = int80(64, 0);
	printf("int80 getpid %s\n", pid == getpid() ? "ok" : pid == -ENOSYS ? "ENOSYS" : "wrong");
	printf("int80 gettid %s\n", tid == gettid() ? "ok" : tid == -ENOSYS ? "ENOSYS" : "wrong");
	printf("int80 getppid %s\n", ppid == getppid() ? "ok" : ppid == -ENOSYS ? "ENOSYS" : "wrong");
	printf("int80 9999 = %ld\n", int80(9999, 0));
	printf("int80 -1 = %ld\n", int80(-1, 0));
}

static long nnp(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }

static void nnp_mode(const char *self)
{
	printf("before %ld\n", nnp());
	printf("set %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	errno = 0;
	int r = prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0);
	printf("set 2: %d errno %d\n", r, errno);
	printf("after %ld\n", nnp());
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		printf("child %ld\n", nnp());
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "NoNewPrivs:", 11) == 0)
			printf("status %s", line);
	if (f)
		fclose(f);
	fflush(stdout);
	execl(self, self, "nnp-exec", (char *)NULL);
	perror("execl");
}

static void dumpable(void)
{
	printf("set %d\n", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
	printf("get %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	fflush(stdout);
	pid_t c = fork();
	if (c < 0) {
		printf("fork: %s\n", strerror(errno));
		return;
	}
	if (c == 0) {
		printf("child get %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
		fflush(stdout);
		_exit(3);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child exit %d\n", WEXITSTATUS(st));
}

static void nproc(int n)
{
	int p[2];
	if (pipe(p) != 0)
		return;
	int made = 0, err = 0;
	for (; made < n; made++) {
		pid_t c = fork();
		if (c < 0) {
			err = errno;
			break;
		}
		if (c == 0) {
			char b;
			close(p[1]);
			while (read(p[0], &b, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	close(p[1]);
	while (wait(NULL) > 0)
		;
	printf("forked %d, then %s\n", made, err ? strerror(err) : "none");
}

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got++; }

/* A child that waits for SIGUSR1 (default action: it dies by it). */
static pid_t waiter(void)
{
	pid_t c = fork();
	if (c == 0) {
		signal(SIGUSR1, SIG_DFL);
		alarm(10);
		for (;;)
			pause();
	}
	return c;
}

static void report(pid_t c)
{
	int st;
	waitpid(c, &st, 0);
	if (WIFSIGNALED(st))
		printf("child killed by %d\n", WTERMSIG(st));
	else
		printf("child exit %d\n", WEXITSTATUS(st));
	printf("caller got %d\n", (int)got);
}

static void kill_mode(int all)
{
	signal(SIGUSR1, on_usr1);
	if (!all && setsid() < 0)
		perror("setsid");
	pid_t c = waiter();
	usleep(200000);
	printf("kill %d\n", kill(all ? -1 : 0, SIGUSR1));
	report(c);
	errno = 0;
	int r = kill(-2147483647 - 1, SIGUSR1);
	printf("kill(-2^31) %d errno %d\n", r, errno);
	printf("kill(-pgid 0) %d\n", kill(-getpgrp(), 0));
}

static void try_exec(const char *what, const char *path)
{
	char *argv[] = {(char *)path, NULL};
	execv(path, argv);
	printf("%s: %s\n", what, strerror(errno));
	fflush(stdout);
}

static void execfifo(const char *dir)
{
	char fifo[4096], script[4096], elf[4096];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(script, sizeof(script), "%s/script", dir);
	snprintf(elf, sizeof(elf), "%s/interp-fifo", dir);
	unlink(fifo);
	if (mkfifo(fifo, 0755) != 0) {
		perror("mkfifo");
		return;
	}
	FILE *f = fopen(script, "w");
	fprintf(f, "#!%s\n", fifo);
	fclose(f);
	chmod(script, 0755);
	alarm(5); /* a hang is a failure, not a stuck test */
	try_exec("program", fifo);
	try_exec("interpreter", script);
	if (access(elf, X_OK) == 0)
		try_exec("pt_interp", elf);
	unlink(fifo);
}

static volatile sig_atomic_t rt_got, rt_order_ok = 1;
static volatile long rt_sum;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_value.sival_int != rt_got)
		rt_order_ok = 0;
	rt_got++;
	rt_sum += si->si_value.sival_int;
}

static void rtqueue(int n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN, &sa, NULL);
	sigset_t rt, old;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, &old);
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		int failed = 0;
		for (int i = 0; i < n; i++)
			if (sigqueue(parent, SIGRTMIN, (union sigval){.sival_int = i}) != 0)
				failed++;
		_exit(failed ? 1 : 0);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	printf("sender exit %d\n", WEXITSTATUS(st));
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("delivered %d, sum %ld, in order %d\n", (int)rt_got, (long)rt_sum, (int)rt_order_ok);
}

static int ord_sig[64], ord_val[64];
static volatile sig_atomic_t ord_n;

static void on_ord(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (ord_n < 64) {
		ord_sig[ord_n] = sig;
		ord_val[ord_n] = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
		ord_n++;
	}
}

static void rtorder_send(pid_t to)
{
	static const int offs[] = {2, 1, 0, 2, -1, 1, 0, 2, 0, 1};
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		int sig = offs[i] < 0 ? SIGUSR1 : SIGRTMIN + offs[i];
		if (sigqueue(to, sig, (union sigval){.sival_int = (int)i}) != 0)
			perror("sigqueue");
	}
}

static void rtorder_report(const char *who)
{
	printf("%s:", who);
	for (int i = 0; i < ord_n; i++) {
		if (ord_sig[i] == SIGUSR1)
			printf(" USR1/%d", ord_val[i]);
		else
			printf(" RTMIN+%d/%d", ord_sig[i] - SIGRTMIN, ord_val[i]);
	}
	printf("\n");
	ord_n = 0;
}

static void rtorder(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_ord;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask); /* one handler at a time: the order is the dequeue's */
	sigset_t set, old;
	sigemptyset(&set);
	sigaction(SIGUSR1, &sa, NULL);
	sigaddset(&set, SIGUSR1);
	for (int i = 0; i < 3; i++) {
		sigaction(SIGRTMIN + i, &sa, NULL);
		sigaddset(&set, SIGRTMIN + i);
	}
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		rtorder_send(parent);
		_exit(0);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	/* Every one has reached the process: sigpending shows all four. */
	sigset_t pend;
	sigpending(&pend);
	printf("pending:%s%s%s%s\n", sigismember(&pend, SIGUSR1) ? " USR1" : "", sigismember(&pend, SIGRTMIN) ? " RTMIN" : "",
	       sigismember(&pend, SIGRTMIN + 1) ? " RTMIN+1" : "", sigismember(&pend, SIGRTMIN + 2) ? " RTMIN+2" : "");
	sigprocmask(SIG_SETMASK, &old, NULL);
	rtorder_report("another process");
	sigprocmask(SIG_BLOCK, &set, &old);
	rtorder_send(getpid());
	sigprocmask(SIG_SETMASK, &old, NULL);
	rtorder_report("itself");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *m = argc > 1 ? argv[1] : "";
	if (!strcmp(m, "enosys"))
		enosys();
	else if (!strcmp(m, "int80"))
		ia32();
	else if (!strcmp(m, "int80exit")) {
		fflush(stdout);
		int80(1, 7);
		printf("int80 exit returned\n");
	} else if (!strcmp(m, "nnp"))
		nnp_mode(argv[0]);
	else if (!strcmp(m, "nnp-exec"))
		printf("exec %ld\n", nnp());
	else if (!strcmp(m, "dumpable"))
		dumpable();
	else if (!strcmp(m, "nproc") && argc > 2)
		nproc(atoi(argv[2]));
	else if (!strcmp(m, "kill0"))
		kill_mode(0);
	else if (!strcmp(m, "killall"))
		kill_mode(1);
	else if (!strcmp(m, "rtqueue") && argc > 2)
		rtqueue(atoi(argv[2]));
	else if (!strcmp(m, "rtorder"))
		rtorder();
	else if (!strcmp(m, "execfifo") && argc > 2)
		execfifo(argv[2]);
	else {
		fprintf(stderr, "usage: hostile MODE\n");
		return 2;
	}
	return 0;
}
