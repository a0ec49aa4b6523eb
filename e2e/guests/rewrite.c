/*
 * rewrite: call sites vsysbed's --rewrite=lazy rewrites (ARCHITECTURE.md,
 * "Rewritten call sites"), each the exact pattern `mov $nr,%eax; syscall`
 * at a 16-byte boundary, and the cases a rewrite must survive:
 *
 *  - a leaf function keeps 128 bytes of live data in its red zone across
 *    the call (nothing may be written below rsp);
 *  - SIGALRM fires during a loop of calls (handlers with and without
 *    SA_RESTART; the handler calls getpid through glibc);
 *  - a blocking read through a rewritten site, interrupted by a signal:
 *    restarted with SA_RESTART, EINTR without;
 *  - a site called while a second thread lives is rewritten all the same
 *    (rewritemt hammers sites from several threads);
 *  - a fork child runs the rewritten sites it inherited;
 *  - execve: the new image's sites trap again (they are new).
 *
 * Every line printed is the same natively and under vsysbed.
 * `rewrite exec` is the image the last step executes; `rewrite threads`
 * runs the two-thread step alone, first thing in a fork child and then in
 * the parent (processes with a second thread within milliseconds of their
 * start).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOOP 20000

/*
 * long rz_getpid(void): getpid through the pattern, with the red zone
 * full of a known pattern across the syscall; returns -1 if any of it
 * changed.
 */
long rz_getpid(void);
/*
 * long vec_getpid(const void *in, void *out): getpid through the pattern
 * with xmm0-15 loaded from in (256 bytes) and stored to out after the
 * syscall: the patched path must keep the guest's vector state (it leaves
 * it in the CPU on the fast route, saves it before Go).
 */
long vec_getpid(const void *in, void *out);
/* long mt_getpid(void): getpid through the pattern, called while a second
 * thread lives: rewritten at its first trap all the same. */
long mt_getpid(void);
/* long site_read(int fd, void *buf, size_t n): read through the pattern. */
long site_read(int fd, void *buf, size_t n);
__asm__(".text\n"
	".globl rz_getpid\n"
	".type rz_getpid,@function\n"
	".p2align 4\n"
	"rz_getpid:\n"
	"	movq $-128, %rcx\n"
	"1:	leaq 0x5a5a(%rcx), %rdx\n"
	"	movq %rdx, (%rsp,%rcx)\n"
	"	addq $8, %rcx\n"
	"	jnz 1b\n"
	"	jmp 2f\n"
	".p2align 4\n"
	"2:	movl $39, %eax\n"
	"	syscall\n"
	"	movq $-128, %rcx\n"
	"3:	leaq 0x5a5a(%rcx), %rdx\n"
	"	cmpq %rdx, (%rsp,%rcx)\n"
	"	jne 4f\n"
	"	addq $8, %rcx\n"
	"	jnz 3b\n"
	"	ret\n"
	"4:	movq $-1, %rax\n"
	"	ret\n"
	".size rz_getpid, .-rz_getpid\n"
	".globl vec_getpid\n"
	".type vec_getpid,@function\n"
	".p2align 4\n"
	"vec_getpid:\n"
	"	movdqu 0(%rdi), %xmm0\n	movdqu 16(%rdi), %xmm1\n	movdqu 32(%rdi), %xmm2\n"
	"	movdqu 48(%rdi), %xmm3\n	movdqu 64(%rdi), %xmm4\n	movdqu 80(%rdi), %xmm5\n"
	"	movdqu 96(%rdi), %xmm6\n	movdqu 112(%rdi), %xmm7\n	movdqu 128(%rdi), %xmm8\n"
	"	movdqu 144(%rdi), %xmm9\n	movdqu 160(%rdi), %xmm10\n	movdqu 176(%rdi), %xmm11\n"
	"	movdqu 192(%rdi), %xmm12\n	movdqu 208(%rdi), %xmm13\n	movdqu 224(%rdi), %xmm14\n"
	"	movdqu 240(%rdi), %xmm15\n"
	"	jmp 5f\n"
	".p2align 4\n"
	"5:	movl $39, %eax\n"
	"	syscall\n"
	"	movdqu %xmm0, 0(%rsi)\n	movdqu %xmm1, 16(%rsi)\n	movdqu %xmm2, 32(%rsi)\n"
	"	movdqu %xmm3, 48(%rsi)\n	movdqu %xmm4, 64(%rsi)\n	movdqu %xmm5, 80(%rsi)\n"
	"	movdqu %xmm6, 96(%rsi)\n	movdqu %xmm7, 112(%rsi)\n	movdqu %xmm8, 128(%rsi)\n"
	"	movdqu %xmm9, 144(%rsi)\n	movdqu %xmm10, 160(%rsi)\n	movdqu %xmm11, 176(%rsi)\n"
	"	movdqu %xmm12, 192(%rsi)\n	movdqu %xmm13, 208(%rsi)\n	movdqu %xmm14, 224(%rsi)\n"
	"	movdqu %xmm15, 240(%rsi)\n"
	"	ret\n"
	".size vec_getpid, .-vec_getpid\n"
	".globl mt_getpid\n"
	".type mt_getpid,@function\n"
	".p2align 4\n"
	"mt_getpid:\n"
	"	movl $39, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size mt_getpid, .-mt_getpid\n"
	".globl site_read\n"
	".type site_read,@function\n"
	".p2align 4\n"
	"site_read:\n"
	"	movl $0, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size site_read, .-site_read\n");

static volatile sig_atomic_t alarms;
static volatile pid_t handler_pid;

static volatile unsigned char scratch[4096];

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
	handler_pid = getpid();
	/* Clobber the vector registers (glibc's memset uses them): a frame
	 * that did not save the interrupted call's state loses it. */
	memset((void *)scratch, sig + alarms, sizeof scratch);
}

static void set_handler(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
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
	pid_t pid = getpid();
	unsigned char in[256], out[256];
	for (int i = 0; i < LOOP; i++) {
		long r = rz_getpid();
		if (r != pid) {
			printf("%s: call %d: rz_getpid = %ld, want %d\n", what, i, r, (int)pid);
			return 1;
		}
		if (i % 4 == 0) {
			for (int j = 0; j < 256; j++)
				in[j] = (unsigned char)(i + 7 * j);
			memset(out, 0, sizeof out);
			if (vec_getpid(in, out) != pid || memcmp(in, out, sizeof in) != 0) {
				printf("%s: call %d: vec_getpid lost the vector registers\n", what, i);
				return 1;
			}
		}
	}
	printf("%s: %d calls ok\n", what, LOOP);
	fflush(stdout);
	return 0;
}

/* A read through site_read blocks until a child writes, 30 ms later,
 * under a 5 ms timer: restarted with SA_RESTART, EINTR without. */
static int blocking_read(int restart)
{
	int p[2];
	char c = 0;
	if (pipe(p) != 0)
		return 1;
	/* Calls with data ready first, so the site is rewritten before the
	 * call that blocks. */
	for (int i = 0; i < 8; i++) {
		if (write(p[1], "x", 1) != 1 || site_read(p[0], &c, 1) != 1)
			return 1;
	}
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
		r = site_read(p[0], &c, 1);
		if (r == -EINTR && !restart) {
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

static int stop_fd[2];

static void *waiter(void *arg)
{
	char c;
	(void)arg;
	return read(stop_fd[0], &c, 1) == 1 ? NULL : (void *)1;
}

/* 100 calls of mt_getpid while a second thread waits, 100 after it has
 * been joined (and had time to be gone): the site is rewritten at its
 * first trap, with the second thread alive. */
static int two_threads(void)
{
	pthread_t th;
	pid_t pid = getpid();
	if (pipe(stop_fd) != 0 || pthread_create(&th, NULL, waiter, NULL) != 0)
		return 1;
	int bad = 0;
	for (int i = 0; i < 100; i++)
		bad |= mt_getpid() != pid;
	if (write(stop_fd[1], "x", 1) != 1 || pthread_join(th, NULL) != 0)
		return 1;
	usleep(50000);
	for (int i = 0; i < 100; i++)
		bad |= mt_getpid() != pid;
	close(stop_fd[0]);
	close(stop_fd[1]);
	printf("two threads: %s\n", bad ? "wrong pid" : "200 calls ok");
	return bad;
}

/* two_threads first thing in a fork child, then in this process (whose
 * mt_getpid the child's rewrite did not change): each process starts its
 * second thread within milliseconds of its own start. */
static int early_threads(void)
{
	pid_t child = fork();
	if (child == 0) {
		int bad = two_threads();
		fflush(stdout);
		_exit(bad);
	}
	int st;
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	return two_threads();
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec") == 0)
		return loop("after exec");
	if (argc > 1 && strcmp(argv[1], "threads") == 0)
		return early_threads();
	int bad = loop("plain");
	for (int restart = 0; restart <= 1; restart++) {
		set_handler(restart);
		alarms = 0;
		timer(200);
		for (int round = 0; round < 5 && !bad; round++)
			bad |= loop(restart ? "alarms with SA_RESTART" : "alarms without SA_RESTART");
		timer(0);
		if (handler_pid != 0 && handler_pid != getpid())
			bad = 1;
	}
	bad |= blocking_read(1);
	bad |= blocking_read(0);
	bad |= two_threads();
	fflush(stdout);
	pid_t child = fork();
	if (child == 0)
		_exit(loop("fork child"));
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad = 1;
	if (bad)
		return 1;
	fflush(stdout);
	execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
	perror("execl");
	return 1;
}
