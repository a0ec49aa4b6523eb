// inherit: prints what this process got from its execve — its open fds
// (by fcntl over 0..999 and by listing /proc/self/fd), where each fd
// above 2 leads, which signals are SIG_IGN and which are blocked — so
// that a native run and a vsysbed run from the same caller can be
// compared line by line.
//
//   inherit          print the state
//   inherit fork     print it in a forked child too (fork keeps it all)
//   inherit exec     re-exec itself once first (exec keeps it all)
//   inherit spawn    and in a child started by posix_spawn (vfork + exec)

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The kernel's struct sigaction: glibc's sigaction refuses its reserved
// signals 32 and 33, and its masks hide them.
struct ksigaction {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

// Under vsysbed, fds from 1000 up are the host's: /proc/self/fd leaves
// them out, but fcntl, a fast-route call, still reaches them (a gap of
// vsysbed's fd guard, not of what the guest inherits), so the scans stop
// below them.
#define FD_SCAN_END 1000

static void print_state(const char *who) {
	printf("%s fds:", who);
	for (int fd = 0; fd < FD_SCAN_END; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0) {
			printf(" %d%s", fd, (fl & FD_CLOEXEC) ? "(cloexec)" : "");
		}
	}
	printf("\n");

	// The listing's own fd shows up in it: the lowest free number, which
	// must be the same as natively too.
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL) {
		perror("opendir /proc/self/fd");
		exit(1);
	}
	int seen[1024];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && n < 1024) {
			seen[n++] = atoi(e->d_name);
		}
	}
	closedir(d);
	for (int i = 1; i < n; i++) { // insertion sort: the kernel's order is its own
		for (int j = i; j > 0 && seen[j - 1] > seen[j]; j--) {
			int t = seen[j];
			seen[j] = seen[j - 1];
			seen[j - 1] = t;
		}
	}
	printf("%s /proc/self/fd:", who);
	for (int i = 0; i < n; i++) {
		printf(" %d", seen[i]);
	}
	printf("\n");

	for (int fd = 3; fd < FD_SCAN_END; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			continue;
		}
		char path[64], target[256];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t len = readlink(path, target, sizeof target - 1);
		if (len < 0) {
			snprintf(target, sizeof target, "(readlink: %s)", strerror(errno));
		} else {
			target[len] = 0;
			if (strncmp(target, "pipe:", 5) == 0) {
				strcpy(target, "pipe"); // inode numbers differ between runs
			}
		}
		printf("%s fd %d -> %s flags %#o\n", who, fd, target, fcntl(fd, F_GETFL) & ~O_LARGEFILE);
	}

	printf("%s ignored:", who);
	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction old;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, 8) != 0) {
			printf(" %d(error %s)", sig, strerror(errno));
		} else if (old.handler == (uintptr_t)SIG_IGN) {
			printf(" %d", sig);
		}
	}
	printf("\n");

	uint64_t mask;
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, 8) != 0) {
		perror("rt_sigprocmask");
		exit(1);
	}
	printf("%s blocked:", who);
	for (int sig = 1; sig <= 64; sig++) {
		if (mask & (1ull << (sig - 1))) {
			printf(" %d", sig);
		}
	}
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "exec") == 0) {
		execl("/proc/self/exe", argv[0], "exec-done", (char *)NULL);
		perror("execl");
		return 1;
	}
	if (strcmp(mode, "spawned") == 0) {
		print_state("spawned");
		return 0;
	}
	if (strcmp(mode, "spawn") == 0) {
		fflush(stdout);
		char *args[] = {argv[0], "spawned", NULL};
		extern char **environ;
		pid_t pid;
		int err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ);
		if (err != 0) {
			fprintf(stderr, "posix_spawn: %s\n", strerror(err));
			return 1;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "spawned child failed: %#x\n", st);
			return 1;
		}
	}
	if (strcmp(mode, "fork") == 0) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			print_state("child");
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "child failed: %#x\n", st);
			return 1;
		}
	}
	print_state("main");
	return 0;
}
