/* signals - a handler, the mask, alarm, and recovery from SIGSEGV on an
 * alternate stack with siglongjmp. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include "corpus.h"

static volatile sig_atomic_t usr1, usr2, alrm;
static sigjmp_buf recover;
static volatile void *fault_addr;

static void on_usr(int sig)
{
	if (sig == SIGUSR1)
		usr1++;
	else
		usr2++;
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm++;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_addr = si->si_addr;
	siglongjmp(recover, 1);
}

int main(void)
{
	corpus_name = "signals";
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction SIGUSR2");

	CHECK(raise(SIGUSR1) == 0 && usr1 == 1, "raise runs the handler");
	CHECK(kill(getpid(), SIGUSR1) == 0 && usr1 == 2, "kill to ourselves runs the handler");

	sigset_t block, old, pend;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &block, &old) == 0, "sigprocmask block");
	CHECK(raise(SIGUSR2) == 0, "raise blocked");
	CHECK(usr2 == 0, "a blocked signal waits");
	CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR2), "sigpending shows it");
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0, "sigprocmask unblock");
	CHECK(usr2 == 1, "unblocking delivers it");

	sa.sa_handler = on_alrm;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction SIGALRM");
	sigset_t wait;
	sigemptyset(&wait);
	CHECK(sigprocmask(SIG_BLOCK, &(sigset_t){0}, &wait) == 0, "sigprocmask query");
	sigaddset(&block, SIGALRM);
	CHECK(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "block SIGALRM");
	alarm(1);
	sigdelset(&wait, SIGALRM);
	sigsuspend(&wait);
	CHECK(errno == EINTR && alrm == 1, "alarm's SIGALRM ends sigsuspend");
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0, "restore the mask");

	stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
	CHECK(ss.ss_sp != NULL && sigaltstack(&ss, NULL) == 0, "sigaltstack");
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction SIGSEGV");
	char *guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(guard != MAP_FAILED, "mmap PROT_NONE");
	if (sigsetjmp(recover, 1) == 0) {
		*(volatile char *)(guard + 8) = 1;
		CHECK(0, "a store to a PROT_NONE page did not fault");
	}
	CHECK(fault_addr == guard + 8, "si_addr is the faulting address");
	/* The mask was restored by siglongjmp: a second fault is caught too. */
	fault_addr = NULL;
	if (sigsetjmp(recover, 1) == 0)
		(void)*(volatile char *)(guard + 16);
	CHECK(fault_addr == guard + 16, "a second SIGSEGV is caught");
	CHECK(munmap(guard, 4096) == 0, "munmap");
	corpus_ok();
	return 0;
}
