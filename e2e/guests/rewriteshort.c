/*
 * rewriteshort: short call sites vsysbed's --rewrite=lazy rewrites
 * (kernelsim/rewriteshort.go; ARCHITECTURE.md, "Rewritten call sites"):
 * a 2-byte instruction before the syscall, no room for a 5-byte jmp, made
 * the way glibc 2.36 makes read:
 *
 *  - sh_read: glibc's read byte for byte but the symbols: `cmpb $0,single;
 *    je 2f; xor %eax,%eax; syscall; cmp $-4096,%rax; ja; ret`, a 10-byte
 *    padding, then the cancellable path at 2: (taken while threads live)
 *    whose site is followed by a mov, a call, an add and a ret before its
 *    padding;
 *  - sh_getpgid0: `mov $121,%eax; xor %edi,%edi; syscall; cmp; ja; ret`
 *    (the xor of an argument register).
 *
 * The cases a rewrite must survive: loops of calls from one thread; an
 * interval timer firing through them (handlers with and without
 * SA_RESTART, which call the same site again), so that signals arrive
 * with rip in the rewritten span (the jmp rel8, the hole's jmp, the stub);
 * a blocking read through the site interrupted by a signal, restarted
 * with SA_RESTART, EINTR without; a fork child running the inherited
 * sites. `rewriteshort threads` instead calls both sites from THREADS
 * threads at once from the start, so that they are rewritten while the
 * other threads execute them (the e2e spec holds each step of the
 * rewrite with VSYSBED_REWRITE_POKE_PAUSE=1).
 *
 * Every line printed is the same natively and under vsysbed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define LOOP 20000
#define THREADS 4

/* long sh_read(int fd, void *buf, size_t n): read, -1 and sh_err set on
 * an error; through the single-threaded path if sh_single, else the
 * cancellable one (which calls sh_enable and sh_disable around it). */
long sh_read(int fd, void *buf, size_t n);
/* long sh_getpgid0(void): getpgid(0). */
long sh_getpgid0(void);
unsigned char sh_single = 1;
int sh_err;
int sh_bad; /* sh_disable called without sh_enable's answer */
__asm__(".text\n"
	".globl sh_read\n"
	".type sh_read,@function\n"
	".p2align 4\n"
	"sh_read:\n"
	"	cmpb $0, sh_single(%rip)\n"
	"	je 2f\n"
	"	xorl %eax, %eax\n"
	"	syscall\n"
	"	cmpq $-4096, %rax\n"
	"	ja 1f\n"
	"	ret\n"
	"sh_hole1:\n"
	".p2align 4\n"
	"2:	subq $0x28, %rsp\n"
	"	movq %rdx, 0x18(%rsp)\n"
	"	movq %rsi, 0x10(%rsp)\n"
	"	movl %edi, 0x8(%rsp)\n"
	"	call sh_enable\n"
	"	movq 0x18(%rsp), %rdx\n"
	"	movq 0x10(%rsp), %rsi\n"
	"	movl %eax, %r8d\n"
	"	movl 0x8(%rsp), %edi\n"
	"	xorl %eax, %eax\n"
	"	syscall\n"
	"	cmpq $-4096, %rax\n"
	"	ja 3f\n"
	"4:	movl %r8d, %edi\n"
	"	movq %rax, 0x8(%rsp)\n"
	"	call sh_disable\n"
	"	movq 0x8(%rsp), %rax\n"
	"	addq $0x28, %rsp\n"
	"	ret\n"
	"sh_hole2:\n"
	".p2align 4\n"
	"1:	negl %eax\n"
	"	movl %eax, sh_err(%rip)\n"
	"	movq $-1, %rax\n"
	"	ret\n"
	".p2align 4\n"
	"3:	negl %eax\n"
	"	movl %eax, sh_err(%rip)\n"
	"	movq $-1, %rax\n"
	"	jmp 4b\n"
	".size sh_read, .-sh_read\n"
	".globl sh_getpgid0\n"
	".type sh_getpgid0,@function\n"
	".p2align 4\n"
	"sh_getpgid0:\n"
	"	movl $121, %eax\n"
	"	xorl %edi, %edi\n"
	"	syscall\n"
	"	cmpq $-4096, %rax\n"
	"	ja 1f\n"
	"	ret\n"
	".p2align 4\n"
	"1:	movq $-1, %rax\n"
	"	ret\n"
	".size sh_getpgid0, .-sh_getpgid0\n"
	".type sh_enable,@function\n"
	".p2align 4\n"
	"sh_enable:\n"
	"	movl $7, %eax\n"
	"	ret\n"
	".size sh_enable, .-sh_enable\n"
	".type sh_disable,@function\n"
	".p2align 4\n"
	"sh_disable:\n"
	"	cmpl $7, %edi\n"
	"	je 1f\n"
	"	lock addl $1, sh_bad(%rip)\n"
	"1:	ret\n"
	".size sh_disable, .-sh_disable\n");

static int zero_fd;
static pid_t pgid;

/* One read of a byte of /dev/zero through sh_read, and a getpgid(0):
 * 0 if both are right. */
static int calls(void)
{
	unsigned char c = 0xff;
	return (sh_read(zero_fd, &c, 1) != 1 || c != 0) | (sh_getpgid0() != pgid);
}

static volatile sig_atomic_t alarms, handler_bad;

/* Where the alarms found the thread outside the program's text: in a
 * stub page (an executable mapping of no file, vsysbed's) or in one of
 * sh_read's paddings (a hole), told apart at the end (stderr only: not
 * natively). */
extern char __executable_start[], etext[], sh_hole1[], sh_hole2[];
#define RIPS 4096
static unsigned long rips[RIPS];
static volatile sig_atomic_t nrips;

static void on_alarm(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	unsigned long rip = (unsigned long)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
	if ((rip < (unsigned long)__executable_start || rip >= (unsigned long)etext ||
	     rip == (unsigned long)sh_hole1 || rip == (unsigned long)sh_hole2) && nrips < RIPS)
		rips[nrips++] = rip;
	alarms++;
	int saved = sh_err;
	if (calls() != 0) /* the same sites, from the handler */
		handler_bad = 1;
	sh_err = saved;
}

static void set_handler(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

static void timer(long usec)
{
	struct itimerval it = {{0, usec}, {0, usec}};
	setitimer(ITIMER_REAL, &it, NULL);
}

static int loop(const char *what)
{
	for (int i = 0; i < LOOP; i++) {
		if (calls() != 0) {
			printf("%s: call %d wrong\n", what, i);
			return 1;
		}
	}
	printf("%s: %d calls ok\n", what, LOOP);
	fflush(stdout);
	return 0;
}

/* A read through sh_read blocks until a child writes, 30 ms later, under
 * a 5 ms timer: restarted with SA_RESTART, EINTR without. */
static int blocking_read(int restart)
{
	int p[2];
	char c = 0;
	if (pipe(p) != 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		usleep(30000);
		if (write(p[1], "y", 1) != 1)
			_exit(1);
		_exit(0);
	}
	set_handler(restart);
	alarms = 0;
	timer(5000);
	long r;
	int eintr = 0;
	for (;;) {
		r = sh_read(p[0], &c, 1);
		if (r == -1 && sh_err == EINTR && !restart) {
			eintr = 1;
			continue;
		}
		break;
	}
	timer(0);
	int st;
	waitpid(child, &st, 0);
	close(p[0]);
	close(p[1]);
	printf("read %s: %ld '%c', interrupted %s, alarms %s\n", restart ? "SA_RESTART" : "no SA_RESTART", r, c,
	       eintr ? "with EINTR" : "never by EINTR", alarms > 0 ? "yes" : "no");
	return r == 1 && c == 'y' ? 0 : 1;
}

/* How many of rips lie in an anonymous executable mapping (a stub) or in
 * one of sh_read's holes, on stderr. */
static void rewritten_rips(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long lo, hi;
	char perm[8];
	int stub = 0, hole = 0, other = 0;
	for (int i = 0; i < nrips; i++) {
		if (rips[i] == (unsigned long)sh_hole1 || rips[i] == (unsigned long)sh_hole2) {
			hole++;
			continue;
		}
		int found = 0;
		rewind(f);
		while (fgets(line, sizeof line, f)) {
			int n = 0;
			if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perm, &n) >= 3 && rips[i] >= lo &&
			    rips[i] < hi && perm[2] == 'x' && (n == 0 || line[n] == '\n' || line[n] == 0))
				found = 1;
		}
		if (found)
			stub++;
		else
			other++;
	}
	fclose(f);
	fprintf(stderr, "rewriteshort: alarms in a stub %d, in a hole %d, elsewhere outside the text %d\n", stub, hole,
		other);
}

static pthread_barrier_t start;

static void *hammer(void *arg)
{
	long bad = 0;
	(void)arg;
	pthread_barrier_wait(&start);
	for (int i = 0; i < LOOP; i++)
		bad += calls();
	return (void *)bad;
}

static int threads(void)
{
	pthread_t th[THREADS];
	sh_single = 0;
	if (pthread_barrier_init(&start, NULL, THREADS) != 0)
		return 1;
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, hammer, NULL) != 0)
			return 1;
	long bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		if (pthread_join(th[i], &r) != 0)
			return 1;
		bad += (long)r;
	}
	printf("%d threads x %d calls of each site: %ld wrong, %d unpaired\n", THREADS, LOOP, bad, sh_bad);
	return bad != 0 || sh_bad != 0;
}

int main(int argc, char **argv)
{
	pgid = getpgid(0);
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "threads") == 0)
		return threads();
	int bad = loop("single-threaded path");
	sh_single = 0;
	bad |= loop("cancellable path");
	for (int restart = 0; restart <= 1 && !bad; restart++) {
		set_handler(restart);
		for (int path = 0; path <= 1 && !bad; path++) {
			sh_single = (unsigned char)path;
			alarms = 0;
			timer(100);
			for (int round = 0; round < 3 && !bad; round++)
				bad |= loop(restart ? "alarms with SA_RESTART" : "alarms without SA_RESTART");
			timer(0);
			printf("alarms %s\n", alarms > 0 && !handler_bad ? "seen, handler's calls ok" : "missing or wrong");
		}
	}
	rewritten_rips();
	sh_single = 1;
	bad |= blocking_read(1);
	bad |= blocking_read(0);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0)
		_exit(loop("fork child"));
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = 1;
	return bad;
}
