/*
 * rewritemt: call sites vsysbed's --rewrite=lazy rewrites while other
 * threads run them (ARCHITECTURE.md, "Rewritten call sites"): THREADS
 * threads start together (a barrier) and each calls two sites LOOP times,
 * so the first trap's rewrite happens while the others are executing,
 * trapping at or about to run the same bytes:
 *
 *  - mt_getpid: `mov $39,%eax; syscall` at a 16-byte boundary (the
 *    "function" pattern);
 *  - in_getppid: `mov $110,%eax; syscall; cmp $-4095,%rax` inside a
 *    function, not aligned (the "inline" pattern), with the red zone full
 *    of a known pattern across the syscall;
 *  - di_getpgid: `mov $0,%edi; syscall; cmp $-4096,%rax` (getpgid(0),
 *    eax set two instructions before: the mov replaced is the edi one).
 *
 * Each call's result is checked against getpid()/getppid() made before
 * through glibc. Every line printed is the same natively and under
 * vsysbed; the report must count each of the THREADS * LOOP calls of a
 * site exactly once, as a trap or as patched.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define THREADS 4
#define LOOP 20000

long mt_getpid(void);
/* long in_getppid(void): getppid, or -1 if the red zone changed. */
long in_getppid(void);
long di_getpgid(void);
__asm__(".text\n"
	".globl mt_getpid\n"
	".type mt_getpid,@function\n"
	".p2align 4\n"
	"mt_getpid:\n"
	"	movl $39, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size mt_getpid, .-mt_getpid\n"
	".globl in_getppid\n"
	".type in_getppid,@function\n"
	".p2align 4\n"
	"in_getppid:\n"
	"	movq $-128, %rcx\n"
	"1:	leaq 0x3c3c(%rcx), %rdx\n"
	"	movq %rdx, (%rsp,%rcx)\n"
	"	addq $8, %rcx\n"
	"	jnz 1b\n"
	"	movl $110, %eax\n"
	"	syscall\n"
	"	cmpq $-4095, %rax\n"
	"	jae 4f\n"
	"	movq $-128, %rcx\n"
	"3:	leaq 0x3c3c(%rcx), %rdx\n"
	"	cmpq %rdx, (%rsp,%rcx)\n"
	"	jne 4f\n"
	"	addq $8, %rcx\n"
	"	jnz 3b\n"
	"	ret\n"
	"4:	movq $-1, %rax\n"
	"	ret\n"
	".size in_getppid, .-in_getppid\n"
	".globl di_getpgid\n"
	".type di_getpgid,@function\n"
	".p2align 4\n"
	"di_getpgid:\n"
	"	movl $121, %eax\n"
	"	xorl %esi, %esi\n"
	"	movl $0, %edi\n"
	"	syscall\n"
	"	cmpq $-4096, %rax\n"
	"	ret\n"
	".size di_getpgid, .-di_getpgid\n");

static pthread_barrier_t start;
static pid_t pid, ppid, pgid;

static void *hammer(void *arg)
{
	long bad = 0;
	(void)arg;
	pthread_barrier_wait(&start);
	for (int i = 0; i < LOOP; i++) {
		bad += mt_getpid() != pid;
		bad += in_getppid() != ppid;
		bad += di_getpgid() != pgid;
	}
	return (void *)bad;
}

int main(void)
{
	pthread_t th[THREADS];
	pid = getpid();
	ppid = getppid();
	pgid = getpgid(0);
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
	printf("%d threads x %d calls of each site: %ld wrong\n", THREADS, LOOP, bad);
	return bad != 0;
}
