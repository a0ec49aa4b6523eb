// A host process's fd table, grown to its final size before the process
// has a second thread.
//
// Linux grows a process's fd table (kernel's fs/file.c, expand_fdtable)
// when an fd past its size is made, and when the table is shared — any
// multi-threaded process — it waits for an RCU grace period before the
// old table may go: 10-25 ms on the 2-vCPU machine of docs/BENCHMARKS.md,
// against ~10 µs with one thread. A host process's own fds go far up
// (the links of fork and vfork at its base + 100, a token pipe at
// + 400, a fork child's link at 1500; the base itself is 1000), so its
// first fork or thread paid a grace period each time. glibc's _start
// runs this constructor before the Go runtime starts a thread; the
// table never shrinks.

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "entry.h"

// Every fd a host process makes itself lies below this (FDBase() + 500,
// 1500, and the guest's table before them); above it the kernel grows the
// table again as it would.
#define VSYSBED_HOST_FDTABLE 4096

__attribute__((constructor)) static void vsysbed_grow_fdtable(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc < 2 || !vsysbed_is_host_command(argv[1])) {
		return;
	}
	// Any open fd will do (0 is /dev/null in every host process); the
	// lowest free number from the top one up is never one in use. Fails
	// harmlessly under a lower RLIMIT_NOFILE (FDBase is lower then too).
	long src = 0, opened = -1;
	if (syscall(SYS_fcntl, 0, F_GETFD) < 0) {
		src = opened = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	}
	long fd = src < 0 ? -1 : syscall(SYS_fcntl, src, F_DUPFD_CLOEXEC, VSYSBED_HOST_FDTABLE - 1);
	if (fd >= 0) {
		syscall(SYS_close, fd);
	}
	if (opened >= 0) {
		syscall(SYS_close, opened);
	}
}
