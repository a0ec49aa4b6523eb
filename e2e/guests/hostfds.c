/* hostfds: the host's fds do not exist for the guest. For every fd from
 * 1000 to 1199 (where vsysbed keeps its own), each family of calls that
 * takes an fd must answer as Linux does for a closed fd, and every
 * spelling of an fd listing must show only the guest's own fds. Then the
 * guest's own fds up there (a dup2 to 1400, F_DUPFD from 1000) work.
 * Every line is deterministic: native and vsysbed runs compare exactly. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define LO 1000
#define HI 1200

static const char *ename(int e)
{
	switch (e) {
	case 0: return "ok";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case ENOTSOCK: return "ENOTSOCK";
	case ENOTDIR: return "ENOTDIR";
	default: return strerror(e);
	}
}

/* One family: how many fds of [LO, HI) answered each way. */
static void family(const char *name, long (*call)(int fd))
{
	int ok = 0, ebadf = 0, other = 0, first_other = 0;
	for (int fd = LO; fd < HI; fd++) {
		errno = 0;
		long r = call(fd);
		if (r >= 0)
			ok++;
		else if (errno == EBADF)
			ebadf++;
		else if (!other++)
			first_other = errno;
	}
	printf("%-12s ebadf=%d ok=%d other=%d%s%s\n", name, ebadf, ok, other, other ? " " : "", other ? ename(first_other) : "");
}

static char buf[64];
static long c_read(int fd) { return read(fd, buf, 0); }
static long c_write(int fd) { return write(fd, buf, 0); }
static long c_pread(int fd) { return pread(fd, buf, 1, 0); }
static long c_readv(int fd) { struct iovec v = {buf, 1}; return readv(fd, &v, 1); }
static long c_fstat(int fd) { struct stat st; return fstat(fd, &st); }
static long c_fcntl(int fd) { return fcntl(fd, F_GETFD); }
static long c_ioctl(int fd) { int n; return ioctl(fd, FIONREAD, &n); }
static long c_lseek(int fd) { return lseek(fd, 0, SEEK_CUR); }
static long c_dup(int fd) { long r = dup(fd); if (r >= 0) close((int)r); return r; }
static long c_dup2src(int fd) { return dup2(fd, 900); }
static long c_fsync(int fd) { return fsync(fd); }
static long c_fchdir(int fd) { return fchdir(fd); }
static long c_getdents(int fd) { return syscall(SYS_getdents64, fd, buf, sizeof buf); }
static long c_mmap(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	munmap(p, 4096);
	return 0;
}
static long c_sendmsg(int fd)
{
	struct msghdr m = {0};
	return sendmsg(fd, &m, MSG_DONTWAIT);
}
static long c_getsockname(int fd)
{
	struct sockaddr_storage ss;
	socklen_t n = sizeof ss;
	return getsockname(fd, (struct sockaddr *)&ss, &n);
}
static int ep;
static long c_epoll_ctl(int fd) { struct epoll_event e = {.events = EPOLLIN}; return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e); }
static long c_epoll_wait(int fd) { struct epoll_event e; return epoll_wait(fd, &e, 1, 0); }
static long c_openat(int fd) { long r = openat(fd, ".", O_RDONLY); if (r >= 0) close((int)r); return r; }
static long c_fstatat(int fd) { struct stat st; return fstatat(fd, "", &st, AT_EMPTY_PATH); }
static long c_fchmod(int fd) { return fchmod(fd, 0644); }
static long c_ftruncate(int fd) { return ftruncate(fd, 0); }
static long c_close(int fd) { return close(fd); }
static int sp[2];
static long c_scm_rights(int fd)
{
	/* The fd travels inside the message: SCM_RIGHTS. */
	char data = 'x';
	struct iovec v = {&data, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(sp[0], &m, MSG_DONTWAIT);
}
static long c_sendfile_out(int fd) { return syscall(SYS_sendfile, fd, 0, NULL, 0); }
static long c_splice(int fd) { return syscall(SYS_splice, fd, NULL, 1, NULL, 1, 0); }
static long c_readlink(int fd)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return readlink(p, buf, sizeof buf);
}
static long c_openproc(int fd)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	long r = open(p, O_RDONLY | O_NONBLOCK);
	if (r >= 0)
		close((int)r);
	return r;
}

/* The fds inside memory: poll's array and select's sets. A closed fd is
 * POLLNVAL (an event: poll returns at once, a 5 s timeout notwithstanding)
 * next to a pipe end with data. select ignores a bit at or above the size
 * of the caller's fd table (64 here: fds 1000+ were never open), so a
 * zero timeout returns 0 at once; below it, a closed fd is EBADF. */
static int pp[2];
static long poll_pair(int fd, int use_ppoll)
{
	struct pollfd p[3] = {{pp[0], POLLIN, 0}, {fd, POLLIN, 0}, {-1, POLLIN, 0}};
	struct timespec ts = {5, 0};
	long r = use_ppoll ? ppoll(p, 3, &ts, NULL) : poll(p, 3, 5000);
	/* Anything but "2 ready: the pipe readable, fd POLLNVAL" is printed. */
	if (r == 2 && p[0].revents == POLLIN && p[1].revents == POLLNVAL && p[2].revents == 0)
		return 0;
	if (r >= 0) {
		printf("  poll fd %d: %ld, revents %#x %#x %#x\n", fd, r, p[0].revents, p[1].revents, p[2].revents);
		errno = EINVAL;
	}
	return -1;
}
static long c_poll(int fd) { return poll_pair(fd, 0) ? -1 : (errno = EBADF, -1); }
static long c_ppoll(int fd) { return poll_pair(fd, 1) ? -1 : (errno = EBADF, -1); }
static long select_one(int fd, int use_pselect, int which)
{
	/* Sets as large as HI: fd_set stops at FD_SETSIZE (1024). */
	unsigned long sets[3][(HI + 63) / 64];
	memset(sets, 0, sizeof sets);
	sets[which][fd / 64] |= 1UL << (fd % 64);
	struct timeval tv = {0, 0};
	struct timespec ts = {0, 0};
	if (use_pselect)
		return syscall(SYS_pselect6, fd + 1, sets[0], sets[1], sets[2], &ts, NULL);
	return syscall(SYS_select, fd + 1, sets[0], sets[1], sets[2], &tv);
}
static long c_select_r(int fd) { return select_one(fd, 0, 0); }
static long c_select_w(int fd) { return select_one(fd, 0, 1); }
static long c_pselect_x(int fd) { return select_one(fd, 1, 2); }

/* The fds a directory lists, as one line. */
static void listing(const char *label, const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("%s: %s\n", label, ename(errno));
		return;
	}
	int fds[256], n = 0, self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.' && atoi(e->d_name) != self)
			fds[n++] = atoi(e->d_name);
	closedir(d);
	/* readdir's order is the kernel's; sort for a stable line. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	printf("%s:", label);
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : " ", fds[i]);
	printf("\n");
}

static void listings(const char *who)
{
	char p[64], l[96];
	snprintf(l, sizeof l, "%s /proc/self/fd", who);
	listing(l, "/proc/self/fd");
	snprintf(l, sizeof l, "%s /proc/self/fd/", who);
	listing(l, "/proc/self/fd/");
	snprintf(l, sizeof l, "%s /proc/thread-self/fd", who);
	listing(l, "/proc/thread-self/fd");
	snprintf(p, sizeof p, "/proc/%d/fd", getpid());
	snprintf(l, sizeof l, "%s /proc/PID/fd", who);
	listing(l, p);
	snprintf(p, sizeof p, "/proc/%d/task/%d/fd", getpid(), getpid());
	snprintf(l, sizeof l, "%s /proc/PID/task/TID/fd", who);
	listing(l, p);
	snprintf(l, sizeof l, "%s /proc/self/fdinfo", who);
	listing(l, "/proc/self/fdinfo");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Only what this program opens: whatever the caller left open goes
	 * (the host's fds stay, under vsysbed: close_range skips them). */
	syscall(SYS_close_range, 3, ~0U, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	printf("epoll fd: %d\n", ep);

	family("read", c_read);
	family("write", c_write);
	family("pread", c_pread);
	family("readv", c_readv);
	family("fstat", c_fstat);
	family("fcntl", c_fcntl);
	family("ioctl", c_ioctl);
	family("lseek", c_lseek);
	family("dup", c_dup);
	family("dup2-src", c_dup2src);
	family("fsync", c_fsync);
	family("fchdir", c_fchdir);
	family("getdents64", c_getdents);
	family("mmap", c_mmap);
	family("sendmsg", c_sendmsg);
	family("getsockname", c_getsockname);
	family("epoll_ctl", c_epoll_ctl);
	family("epoll_wait", c_epoll_wait);
	family("openat-dir", c_openat);
	family("fstatat", c_fstatat);
	family("fchmod", c_fchmod);
	family("ftruncate", c_ftruncate);
	family("sendfile", c_sendfile_out);
	family("splice", c_splice);
	family("readlink", c_readlink);
	family("open-proc", c_openproc);
	socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp);
	family("SCM_RIGHTS", c_scm_rights);
	close(sp[0]);
	close(sp[1]);
	pipe2(pp, O_CLOEXEC);
	write(pp[1], "x", 1);
	family("poll", c_poll); /* ebadf: POLLNVAL next to the pipe, at once */
	family("ppoll", c_ppoll);
	family("select-r", c_select_r);
	family("select-w", c_select_w);
	family("pselect-x", c_pselect_x);
	{
		/* A bad array is EFAULT (the probe, not a host crash). */
		struct pollfd *volatile bad = (struct pollfd *)8;
		long r = poll(bad, 1, 0);
		printf("poll(bad address): %ld %s\n", r, r < 0 ? ename(errno) : "");
		struct pollfd big[2] = {{pp[0], POLLIN, 0}, {LO + 3, POLLIN, 0}};
		r = syscall(SYS_poll, big, 2, 0);
		printf("raw poll with fd %d: %ld, revents %#x %#x\n", LO + 3, r, big[0].revents, big[1].revents);
	}
	close(pp[0]);
	close(pp[1]);
	family("close", c_close);

	listings("parent");

	/* A vfork child lists its own table (Python's close_fds fallback). */
	fflush(stdout);
	pid_t pid = vfork();
	if (pid == 0) {
		listings("vfork child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) {
		listings("fork child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	/* The guest's own fds up there are real fds. */
	int hi = dup2(1, 1400);
	printf("dup2(1, 1400) = %d\n", hi);
	printf("write to 1400: %ld\n", (long)write(1400, "", 0));
	int d = fcntl(1, F_DUPFD, 5000);
	printf("F_DUPFD from %d: %s\n", 5000, d >= 5000 ? "at or above it" : ename(errno));
	printf("fstat of it: %s\n", fstat(d, &(struct stat){0}) == 0 ? "ok" : ename(errno));
	listings("with high fds");
	pid = fork();
	if (pid == 0) {
		printf("fork child writes to 1400: %ld\n", (long)write(1400, "", 0));
		listing("fork child with high fds /proc/self/fd", "/proc/self/fd");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	int c1 = close(1400);
	int c2 = close(1400);
	printf("close 1400: %d, again: %s\n", c1, c2 ? ename(errno) : "ok");
	printf("close_range(%d, ~0): %ld\n", LO, (long)syscall(SYS_close_range, LO, ~0U, 0));
	printf("fstat after: %s\n", fstat(d, &(struct stat){0}) == 0 ? "ok" : ename(errno));
	listings("at the end");
	return 0;
}
