// The SYNC_CORE membarrier a host process needs to rewrite a call site
// while other threads run (kernelsim/rewrite.go, pokeCode), registered
// before the process has a second thread.
//
// Registering (MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) is
// one memory barrier while the mm has a single user; once it has more,
// the kernel makes every runqueue see the new state first and waits for
// an RCU grace period (kernel/sched/membarrier.c,
// sync_runqueues_membarrier_state): 12-25 ms on the 2-vCPU machine of
// docs/BENCHMARKS.md, and a process's exit waits for the thread that is
// in it. A Go process always has several threads by main, but glibc's
// _start runs this constructor before the Go runtime starts any: here it
// costs about a microsecond. The registration lives in the mm, so a
// fork() inherits it and an execve drops it; every host process is an
// execve of vsysbed (__host, __fork), so each registers here itself.

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "entry.h"

#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE (1 << 6)

// -1: not tried (not a host process); 0: registered; else the errno.
int vsysbed_sync_core_errno = -1;

__attribute__((constructor)) static void vsysbed_register_sync_core(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc < 2 || !vsysbed_is_host_command(argv[1])) {
		return; // the supervisor and the other subcommands rewrite nothing
	}
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0) {
		vsysbed_sync_core_errno = 0;
	} else {
		vsysbed_sync_core_errno = errno; // EINVAL: a kernel without it
	}
}
