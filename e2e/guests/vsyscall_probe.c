/*
 * vsyscall_probe - checks both guest entry paths of vsysbed from inside a
 * guest.
 *
 * The bypass path: look up __kernel_vsyscall (LINUX_2.6) in the vDSO named
 * by AT_SYSINFO_EHDR, as Unikraft's patched musl does, and call it for
 * write, getpid, openat (existing and missing file), read and close
 * (including a second close that must fail with EBADF).  On a real Linux
 * x86-64 kernel there is no such symbol, so the probe reports bypass=no and
 * checks only the raw path, unless --require-bypass makes that a failure.
 *
 * The trap path: the same checks through a raw `syscall` instruction, which
 * vsysbed catches with seccomp or Syscall User Dispatch.
 *
 * Last line: "OK vsyscall_probe bypass=<yes|no>" and exit 0, or
 * "FAIL vsyscall_probe bypass=<yes|no>" and exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vdsosym.h"

/* A file every Debian system has; only its first bytes are compared. */
#define PROBE_FILE "/etc/passwd"
#define MISSING_FILE "/nonexistent-vsysbed-probe/missing"

static int failures;

static void fail(const char *path, const char *what, long got, long want)
{
	printf("FAIL %s: %s: got %ld, want %ld\n", path, what, got, want);
	failures++;
}

/*
 * Not inlined: every raw syscall the checks make goes through this one
 * `syscall` instruction, so the report shows one trap site in the guest.
 */
__attribute__((noinline)) static long raw_entry(long nr, long a1, long a2,
						 long a3, long a4, long a5,
						 long a6)
{
	return raw_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

static void check_path(const char *path, kernel_vsyscall_fn sys,
		       const unsigned char *ref, size_t reflen)
{
	char line[128];
	int n = snprintf(line, sizeof line, "vsyscall_probe: write via %s\n",
			 path);
	/* stdio may hold buffered output; keep the lines in order. */
	fflush(stdout);
	long r = sys(SYS_write, 1, (long)line, n, 0, 0, 0);
	if (r != n)
		fail(path, "write", r, n);

	long pid = sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	long libc_pid = getpid();
	long raw_pid = raw_entry(SYS_getpid, 0, 0, 0, 0, 0, 0);
	if (pid != libc_pid)
		fail(path, "getpid vs libc getpid()", pid, libc_pid);
	if (pid != raw_pid)
		fail(path, "getpid vs raw syscall", pid, raw_pid);

	long fd = sys(SYS_openat, AT_FDCWD, (long)PROBE_FILE,
		      O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0) {
		fail(path, "openat " PROBE_FILE, fd, 0);
	} else {
		unsigned char buf[64];
		long got = sys(SYS_read, fd, (long)buf, sizeof buf, 0, 0, 0);
		if (got != (long)reflen)
			fail(path, "read length", got, (long)reflen);
		else if (memcmp(buf, ref, reflen) != 0)
			fail(path, "read bytes differ", 1, 0);
		r = sys(SYS_close, fd, 0, 0, 0, 0, 0);
		if (r != 0)
			fail(path, "close", r, 0);
		r = sys(SYS_close, fd, 0, 0, 0, 0, 0);
		if (r != -EBADF)
			fail(path, "second close", r, -EBADF);
	}

	r = sys(SYS_openat, AT_FDCWD, (long)MISSING_FILE, O_RDONLY, 0, 0, 0);
	if (r != -ENOENT) {
		fail(path, "openat missing file", r, -ENOENT);
		if (r >= 0)
			sys(SYS_close, r, 0, 0, 0, 0, 0);
	}
}

int main(int argc, char **argv)
{
	int require_bypass = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--require-bypass") == 0) {
			require_bypass = 1;
		} else {
			fprintf(stderr, "usage: %s [--require-bypass]\n",
				argv[0]);
			return 2;
		}
	}

	/* Reference bytes, read through libc, whatever path libc takes. */
	unsigned char ref[64];
	size_t reflen = 0;
	FILE *f = fopen(PROBE_FILE, "rb");
	if (f == NULL) {
		printf("FAIL setup: cannot open %s: %s\n", PROBE_FILE,
		       strerror(errno));
		return 1;
	}
	reflen = fread(ref, 1, sizeof ref, f);
	fclose(f);

	kernel_vsyscall_fn vsys =
		(kernel_vsyscall_fn)vdso_sym("LINUX_2.6", "__kernel_vsyscall");

	check_path("syscall", raw_entry, ref, reflen);
	if (vsys != NULL)
		check_path("__kernel_vsyscall", vsys, ref, reflen);
	else if (require_bypass) {
		printf("FAIL __kernel_vsyscall: not found in the vDSO%s\n",
		       vdso_base() ? "" : " (no AT_SYSINFO_EHDR)");
		failures++;
	}

	printf("%s vsyscall_probe bypass=%s\n", failures ? "FAIL" : "OK",
	       vsys ? "yes" : "no");
	return failures ? 1 : 0;
}
