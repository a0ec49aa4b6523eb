// What this process inherited from its execve, read before Go's runtime
// changes it. vsysbed's supervisor must hand the guest the signal state
// its caller gave vsysbed, but by the time Go's main runs, the runtime has
// installed handlers over every ignored signal but SIGHUP and SIGINT (and
// a fork from Go resets those handlers to SIG_DFL), and the main thread's
// mask has had the signals Go needs unblocked; and the runtime opens
// /dev/null on any of fds 0-2 that was closed, so those look inherited.
// vsysbed is linked by the
// system linker, so glibc's _start runs this constructor before it calls
// the Go runtime's main.

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "entry.h"

// The kernel's struct sigaction (not glibc's, whose mask is 128 bytes).
struct vsysbed_ksigaction {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

uint64_t vsysbed_start_ignored; // bit N-1: signal N was SIG_IGN
uint64_t vsysbed_start_mask;    // the main thread's blocked mask
int vsysbed_start_recorded;
int vsysbed_start_stdio_closed; // bit N: fd N (0-2) was closed

// The real-time signals 34-64 a host process leaves to its guest threads:
// blocked on every one of Go's threads, which inherit this thread's mask
// at start (Go's initSigmask; 32 and 33 are Go's unblockable ones). The
// kernel's queue is the only FIFO there is: a signal one of Go's threads
// took from it could only be queued again for a guest thread, behind the
// ones sent after it (two such threads race), so none takes one.
// The kick (62) is sent to guest threads only and stays as it was.
static const uint64_t vsysbed_guest_rt = 0xfffffffe00000000ull & ~(1ull << (VSYSBED_KICK_SIG - 1)); // 34..64

// The signals the supervisor forwards (VSYSBED_RELAY_ONLY, entry.h: the
// job-control signals and SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2) it
// takes from the kernel itself, never through os/signal, which passes on
// the number only: it reads them from a signalfd in one goroutine
// (tracer/jobctl.go), with their senders, forwards them in the order they
// came and stops the supervisor after every one already sent to it. A
// host process leaves them to its guest threads. Both make them blockable
// on Go's threads first (tls/gosigtab.c); vsysbed_relay_blocked says so.
int vsysbed_relay_blocked;

static int supervisor_mode(int argc, char **argv) {
	return argc > 1 && strcmp(argv[1], "run") == 0;
}

// The hidden subcommands of the host processes (internal/reexec's Host
// and Fork; TestHostCommandsAreReexecs checks the names).
int vsysbed_is_host_command(const char *arg) {
	return strcmp(arg, "__host") == 0 || strcmp(arg, "__fork") == 0;
}

static int host_mode(int argc, char **argv) {
	// The host processes. Everything else this binary runs (the
	// supervisor, the ptrace stub, diff-run) starts native programs that
	// must inherit the caller's mask.
	return argc > 1 && vsysbed_is_host_command(argv[1]);
}

// glibc calls the executable's constructors with main's arguments.
__attribute__((constructor)) static void vsysbed_record_start(int argc, char **argv, char **envp) {
	(void)envp;
	uint64_t ignored = 0, mask = 0;
	for (int fd = 0; fd < 3; fd++) {
		if (syscall(SYS_fcntl, fd, F_GETFD) < 0) {
			vsysbed_start_stdio_closed |= 1 << fd;
		}
	}
	// Raw calls: glibc's sigaction refuses its own reserved signals 32
	// and 33, which a caller may still have ignored.
	for (int sig = 1; sig <= 64; sig++) {
		struct vsysbed_ksigaction old;
		if (syscall(SYS_rt_sigaction, sig, (void *)0, &old, 8) == 0 &&
		    old.handler == (uintptr_t)SIG_IGN) {
			ignored |= 1ull << (sig - 1);
		}
	}
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)0, &mask, 8) != 0) {
		return; // not recorded: the Go side says so
	}
	vsysbed_start_ignored = ignored;
	vsysbed_start_mask = mask;
	vsysbed_start_recorded = 1;
	uint64_t block = 0;
	if (host_mode(argc, argv)) {
		block = vsysbed_guest_rt;
	}
	if ((host_mode(argc, argv) || supervisor_mode(argc, argv)) && vsysbed_gosigtab_blockable(VSYSBED_RELAY_ONLY, 0)) {
		block |= VSYSBED_RELAY_ONLY;
		vsysbed_relay_blocked = 1;
	}
	if (block != 0) {
		syscall(SYS_rt_sigprocmask, SIG_BLOCK, &block, (void *)0, 8);
	}
	if (host_mode(argc, argv)) {
		// One malloc arena: glibc's first malloc or free on a new thread
		// (cgo's threadentry frees its argument on every thread Go
		// starts) may size the arena list from get_nprocs(), which opens
		// /sys/devices/system/cpu/online at the lowest free fd, at any
		// moment of the guest's run: the guest saw an fd 3 it never
		// opened (vforkstate). With a fixed arena limit glibc never asks.
		mallopt(M_ARENA_MAX, 1);
	}
}
