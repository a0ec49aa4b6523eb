/* procview: the /proc files that describe memory and the program are the
 * guest's, however they are named.
 *
 *   procview mem   opens every spelling of its mem (and a fork child's)
 *                  for writing and, where that works, writes a variable
 *                  of its own through it; read-only opens
 *   procview maps  reads every spelling of maps, smaps and numa_maps and
 *                  prints what must match a native run: the (file, perms)
 *                  of every file mapping, [stack], [heap], [vdso], its own
 *                  mappings, pthread_getattr_np's stack (glibc reads maps)
 *   procview mapfiles  lists /proc/self/map_files: every entry is a range
 *                  of /proc/self/maps, none leads to vsysbed or a shard,
 *                  each opens (as root) or none does
 *   procview exe   stat, statx, open+fstat, read, readlink of /proc/self/exe
 *                  in every spelling: the image, not the runtime it runs in
 *   procview fds   /proc/self/fd/1000 opened with O_TRUNC, write and fcntl
 *                  on fd 1000: there is no such fd
 * Every line is deterministic. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/procview-XXXXXX";

static const char *err(int e)
{
	switch (e) {
	case 0:
		return "ok";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EBADF:
		return "EBADF";
	case ELOOP:
		return "ELOOP";
	case EINVAL:
		return "EINVAL";
	}
	static char b[32];
	snprintf(b, sizeof b, "errno %d", e);
	return b;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][PATH_MAX];
	static int i;
	char *b = bufs[i++ % 8];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, PATH_MAX, f, ap);
	va_end(ap);
	return b;
}

static void mklink(const char *name, const char *target)
{
	char *p = fmt("%s/%s", tmpdir, name);
	unlink(p);
	if (symlink(target, p) != 0)
		perror("symlink");
}

/* ---- mem ---- */

static volatile uint64_t victim = 1;

/* Open label's path for writing; if that works, write victim through it. */
static void mem_rw(const char *label, int dirfd, const char *path)
{
	victim = 1;
	int fd = openat(dirfd, path, O_RDWR);
	if (fd < 0) {
		printf("%s: open rw: %s\n", label, err(errno));
		return;
	}
	uint64_t v = 42;
	ssize_t n = pwrite(fd, &v, sizeof v, (off_t)(uintptr_t)&victim);
	printf("%s: open rw: ok, pwrite %zd, victim %s\n", label, n, victim == 42 ? "changed" : "unchanged");
	close(fd);
}

static void *idle(void *arg)
{
	pause();
	return arg;
}

static int mem(void)
{
	pid_t me = getpid();
	pid_t tid = (pid_t)syscall(SYS_gettid);
	pthread_t th;
	pthread_create(&th, NULL, idle, NULL);
	pid_t other = 0;
	char name[64];
	/* The second thread's tid: the task directory's other entry. */
	for (int t = me + 1; t < me + 100000 && !other; t++) {
		snprintf(name, sizeof name, "/proc/self/task/%d", t);
		if (access(name, F_OK) == 0)
			other = t;
	}
	mem_rw("/proc/self/mem", AT_FDCWD, "/proc/self/mem");
	mem_rw("/proc/thread-self/mem", AT_FDCWD, "/proc/thread-self/mem");
	mem_rw("/proc/self/task/TID/mem", AT_FDCWD, fmt("/proc/self/task/%d/mem", tid));
	mem_rw("/proc/self/task/OTHER/mem", AT_FDCWD, fmt("/proc/self/task/%d/mem", other));
	mem_rw("/proc/PID/mem", AT_FDCWD, fmt("/proc/%d/mem", me));
	mem_rw("/proc/PID/task/TID/mem", AT_FDCWD, fmt("/proc/%d/task/%d/mem", me, tid));
	mem_rw("/proc//self/./task/../mem", AT_FDCWD, "/proc//self/./task/../mem");
	mem_rw("/proc/self/task/TID/../../mem", AT_FDCWD, fmt("/proc/self/task/%d/../../mem", tid));
	mem_rw("/proc/self/task/../mem", AT_FDCWD, "/proc/self/task/../mem");
	mklink("mem", "/proc/self/mem");
	mem_rw("symlink to /proc/self/mem", AT_FDCWD, fmt("%s/mem", tmpdir));
	mklink("self", "/proc/self");
	mem_rw("symlink to /proc/self, /mem", AT_FDCWD, fmt("%s/self/mem", tmpdir));
	int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
	mem_rw("openat(/proc/self fd, mem)", d, "mem");
	mem_rw("openat(/proc/self fd, task/TID/mem)", d, fmt("task/%d/mem", tid));
	close(d);
	d = open("/proc", O_PATH | O_DIRECTORY);
	mem_rw("openat(/proc O_PATH fd, self/mem)", d, "self/mem");
	close(d);
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof cwd) && chdir("/proc/self/task") == 0) {
		mem_rw("relative ../mem with cwd /proc/self/task", AT_FDCWD, "../mem");
		if (chdir(cwd) != 0)
			perror("chdir");
	}
	{
		struct open_how how = {.flags = O_RDWR};
		long fd = syscall(SYS_openat2, AT_FDCWD, "/proc/self/mem", &how, sizeof how);
		printf("openat2 /proc/self/mem rw: %s\n", fd < 0 ? err(errno) : "ok");
		if (fd >= 0)
			close((int)fd);
	}
	/* Every tid near ours: the guest's two threads natively, and none of
	 * the runtime's (Go's threads are the host process's too). */
	int writable = 0;
	for (int t = me; t < me + 1000; t++) {
		int fd = open(fmt("/proc/self/task/%d/mem", t), O_RDWR);
		if (fd >= 0) {
			writable++;
			close(fd);
		}
	}
	printf("tids of [pid, pid+1000) whose task/N/mem opens rw: %d\n", writable);
	int fd = open("/proc/self/mem", O_RDONLY);
	uint64_t v = 0;
	victim = 7;
	printf("/proc/self/mem read-only: %s, reads victim %s\n", fd < 0 ? err(errno) : "ok",
	       fd >= 0 && pread(fd, &v, sizeof v, (off_t)(uintptr_t)&victim) == sizeof v && v == 7 ? "yes" : "no");
	if (fd >= 0) {
		/* Reopened for writing through its own fd link. */
		mem_rw("/proc/self/fd/N of a read-only mem fd", AT_FDCWD, fmt("/proc/self/fd/%d", fd));
		close(fd);
	}

	/* A fork child of ours: its host process is vsysbed's too. */
	int p[2];
	if (pipe(p) != 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(p[1]);
		if (read(p[0], &b, 1) < 0)
			_exit(3);
		_exit(victim == 42 ? 1 : 0);
	}
	close(p[0]);
	victim = 1;
	fd = open(fmt("/proc/%d/mem", c), O_RDWR);
	if (fd < 0) {
		printf("fork child's /proc/CHILD/mem: open rw: %s\n", err(errno));
	} else {
		uint64_t w = 42;
		printf("fork child's /proc/CHILD/mem: open rw: ok, pwrite %zd\n", pwrite(fd, &w, sizeof w, (off_t)(uintptr_t)&victim));
		close(fd);
	}
	d = open(fmt("/proc/%d/task/%d/mem", c, c), O_WRONLY);
	printf("fork child's /proc/CHILD/task/CHILD/mem: open wronly: %s\n", d < 0 ? err(errno) : "ok");
	if (d >= 0)
		close(d);
	{
		uint64_t w = 42;
		struct iovec l = {&w, sizeof w}, r = {(void *)&victim, sizeof w};
		ssize_t n = process_vm_writev(c, &l, 1, &r, 1, 0);
		printf("process_vm_writev to the fork child: %s\n", n < 0 ? err(errno) : "ok");
	}
	if (write(p[1], "x", 1) != 1)
		return 1;
	int st;
	waitpid(c, &st, 0);
	printf("fork child's victim %s\n", WEXITSTATUS(st) == 1 ? "changed" : "unchanged");
	return 0;
}

/* ---- maps ---- */

struct entry {
	char name[256], perms[8];
};

static int cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->perms, y->perms);
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int in_line(const char *line, uintptr_t addr)
{
	unsigned long lo, hi;
	return sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi;
}

static char ownfile[PATH_MAX];
static void *ownmap;

/* The summary of one maps-like file: smaps has field lines after each
 * mapping's line (they have no '-' in the first word). */
static void summary_of(const char *label, int dirfd, const char *path, int brief)
{
	FILE *f = NULL;
	int fd = openat(dirfd, path, O_RDONLY);
	if (fd >= 0)
		f = fdopen(fd, "r");
	if (!f) {
		printf("%s: cannot open: %s\n", label, err(errno));
		return;
	}
	static struct entry e[4096];
	int n = 0, lines = 0, badfmt = 0, foreign = 0;
	int stack = 0, heap = 0, vdso = 0, own = 0, ownfileseen = 0, vdso_at_auxv = 0;
	int local;
	uintptr_t sp = (uintptr_t)&local, brk = (uintptr_t)sbrk(0), vd = getauxval(AT_SYSINFO_EHDR);
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off, ino;
		char perms[8], dev[16];
		int pos = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &off, dev, &ino, &pos) < 6)
			continue; /* an smaps field line */
		lines++;
		char *name = line + pos;
		name[strcspn(name, "\n")] = 0;
		/* The kernel pads the name to column 73. */
		if (*name && (strlen(line) < 73 || name != line + 73) && pos < 73)
			badfmt++;
		if (*name == '/') {
			if (strstr(name, "vsysbed") || strstr(name, "shard-") || strstr(name, ".cb"))
				foreign++;
			if (n < 4096) {
				snprintf(e[n].name, sizeof e[n].name, "%s", base(name));
				snprintf(e[n].perms, sizeof e[n].perms, "%s", perms);
				n++;
			}
			if (strcmp(name, ownfile) == 0 && (uintptr_t)ownmap == lo)
				ownfileseen = 1;
		}
		if (strcmp(name, "[stack]") == 0) {
			stack++;
			if (sp >= lo && sp < hi)
				stack += 100;
		}
		if (strcmp(name, "[heap]") == 0 && brk > lo && brk <= hi)
			heap++;
		if (strcmp(name, "[vdso]") == 0) {
			vdso++;
			if (vd >= lo && vd < hi)
				vdso_at_auxv = 1;
		}
		if (!*name && (uintptr_t)ownmap + 4096 == lo)
			own = 1; /* the anonymous mapping after the file one */
		(void)in_line;
	}
	fclose(f);
	qsort(e, n, sizeof e[0], cmp);
	printf("%s: lines %s, format %s, vsysbed or shard files: %d\n", label, lines > 5 ? "many" : "few",
	       badfmt ? "not the kernel's" : "the kernel's", foreign);
	if (!brief) {
		printf("%s: [stack] holds sp: %s, [heap] ends at sbrk(0): %s, [vdso] holds AT_SYSINFO_EHDR: %s\n", label,
		       stack >= 100 ? "yes" : "no", heap ? "yes" : "no", vdso_at_auxv ? "yes" : "no");
		printf("%s: own file mapping: %s, own anonymous mapping: %s\n", label, ownfileseen ? "yes" : "no",
		       own ? "yes" : "no");
	}
	printf("%s: files:", label);
	for (int i = 0; i < n; i++)
		if (i == 0 || cmp(&e[i], &e[i - 1]) != 0)
			printf(" %s:%s", e[i].name, e[i].perms);
	printf("\n");
}

static void summary(const char *label, int dirfd, const char *path) { summary_of(label, dirfd, path, 0); }

/* numa_maps: "start policy [file=NAME] ..." */
static void numa(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("numa_maps: cannot open: %s\n", err(errno));
		return;
	}
	static struct entry e[4096];
	int n = 0;
	char line[2048];
	while (fgets(line, sizeof line, f) && n < 4096) {
		char *p = strstr(line, " file=");
		if (!p)
			continue;
		p += 6;
		p[strcspn(p, " \n")] = 0;
		snprintf(e[n].name, sizeof e[n].name, "%s", base(p));
		e[n].perms[0] = 0;
		n++;
	}
	fclose(f);
	qsort(e, n, sizeof e[0], cmp);
	printf("numa_maps files:");
	for (int i = 0; i < n; i++)
		if (i == 0 || cmp(&e[i], &e[i - 1]) != 0)
			printf(" %s", e[i].name);
	printf("\n");
}

/* The sum of a field over smaps, or smaps_rollup's. */
static long field_kb(const char *path, const char *key, int *header)
{
	FILE *f = fopen(path, "r");
	long sum = 0, v;
	char line[1024];
	size_t n = strlen(key);
	while (f && fgets(line, sizeof line, f)) {
		if (strstr(line, " [rollup]\n") && header)
			*header = 1;
		if (strncmp(line, key, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &v) == 1)
			sum += v;
	}
	if (f)
		fclose(f);
	return sum;
}

static void rollup(void)
{
	int header = 0;
	long r = field_kb("/proc/self/smaps_rollup", "Rss", &header), s = field_kb("/proc/self/smaps", "Rss", NULL);
	long size = field_kb("/proc/self/smaps", "Size", NULL);
	printf("smaps_rollup: [rollup] line: %s, Rss within 10%% of smaps' sum: %s, smaps' Size under 64 MiB: %s\n",
	       header ? "yes" : "no", r > 0 && labs(r - s) * 10 <= s ? "yes" : "no", size < 64 * 1024 ? "yes" : "no");
}

static int maps(void)
{
	pid_t me = getpid(), tid = (pid_t)syscall(SYS_gettid);
	void *grow = malloc(1000); /* the break has moved: [heap] exists natively */
	snprintf(ownfile, sizeof ownfile, "%s/own", tmpdir);
	int fd = open(ownfile, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) != 0)
		return 1;
	/* A file page and an anonymous page right after it (no merge). */
	ownmap = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mmap(ownmap, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	mprotect((char *)ownmap + 4096, 4096, PROT_READ | PROT_WRITE);
	close(fd);

	summary("/proc/self/maps", AT_FDCWD, "/proc/self/maps");
	summary("/proc/thread-self/maps", AT_FDCWD, "/proc/thread-self/maps");
	summary("/proc/PID/maps", AT_FDCWD, fmt("/proc/%d/maps", me));
	summary("/proc/self/task/TID/maps", AT_FDCWD, fmt("/proc/self/task/%d/maps", tid));
	summary("/proc//self/task/../maps", AT_FDCWD, "/proc//self/task/../maps");
	mklink("maps", "/proc/self/maps");
	summary("symlink to /proc/self/maps", AT_FDCWD, fmt("%s/maps", tmpdir));
	int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
	summary("openat(/proc/self fd, maps)", d, "maps");
	close(d);
	summary("/proc/self/smaps", AT_FDCWD, "/proc/self/smaps");
	numa("/proc/self/numa_maps");

	rollup();

	/* Every tid near ours: only the guest's thread has a maps file. */
	int tasks = 0;
	for (int t = me; t < me + 1000; t++) {
		int fd = open(fmt("/proc/self/task/%d/maps", t), O_RDONLY);
		if (fd >= 0) {
			tasks++;
			close(fd);
		}
	}
	printf("tids of [pid, pid+1000) with a task/N/maps: %d\n", tasks);

	/* glibc finds the main thread's stack in maps. */
	pthread_attr_t a;
	void *stk;
	size_t sz;
	int local;
	int r = pthread_getattr_np(pthread_self(), &a);
	if (r == 0)
		r = pthread_attr_getstack(&a, &stk, &sz);
	printf("pthread_getattr_np: %s, holds sp: %s\n", r ? "fails" : "ok",
	       !r && (uintptr_t)&local >= (uintptr_t)stk && (uintptr_t)&local < (uintptr_t)stk + sz ? "yes" : "no");

	/* Read at read time: a mapping made after open is listed. */
	FILE *f = fopen("/proc/self/maps", "r");
	void *late = mmap(NULL, 3 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[1024];
	int seen = 0;
	while (f && fgets(line, sizeof line, f))
		if (in_line(line, (uintptr_t)late))
			seen = 1;
	if (f)
		fclose(f);
	printf("a mapping made between open and read: %s\n", seen ? "listed" : "missing");

	/* A fork child's maps, read by its parent: the same files, and no
	 * runtime's (without names for its stack and vDSO: only it knows). */
	int p[2], q[2];
	if (pipe(p) != 0 || pipe(q) != 0)
		return 1;
	pid_t fc = fork();
	if (fc == 0) {
		char x;
		close(p[1]);
		if (write(q[1], "r", 1) != 1) /* running: its mappings are all there */
			_exit(1);
		_exit(read(p[0], &x, 1) < 0);
	}
	close(p[0]);
	char ready;
	if (read(q[0], &ready, 1) != 1)
		return 1;
	close(q[0]);
	close(q[1]);
	summary_of("a fork child's /proc/CHILD/maps", AT_FDCWD, fmt("/proc/%d/maps", fc), 1);
	close(p[1]);
	waitpid(fc, NULL, 0);

	/* A vfork child shares our memory: its maps are ours. */
	pid_t c = vfork();
	if (c == 0) {
		static char b[1 << 16];
		int mfd = open("/proc/self/maps", O_RDONLY);
		ssize_t got = mfd < 0 ? -1 : read(mfd, b, sizeof b - 1);
		b[got > 0 ? got : 0] = 0;
		_exit(strstr(b, "vsysbed") || strstr(b, ".cb\n") ? 1 : strstr(b, "/procview\n") ? 0 : 2);
	}
	int st;
	waitpid(c, &st, 0);
	printf("a vfork child's maps: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "the program's" : "other");
	free(grow);
	return 0;
}

/* ---- exe ---- */

static struct stat image;

static void same_st(const char *label, int r, const struct stat *st)
{
	if (r != 0) {
		printf("%s: %s\n", label, err(errno));
		return;
	}
	printf("%s: %s\n", label, st->st_ino == image.st_ino && st->st_dev == image.st_dev && st->st_size == image.st_size ? "the image" : "another file");
}

static int exe(const char *argv0)
{
	char real[PATH_MAX];
	if (!realpath(argv0, real) || stat(real, &image) != 0)
		return 1;
	pid_t me = getpid(), tid = (pid_t)syscall(SYS_gettid);
	struct stat st;
	same_st("stat /proc/self/exe", stat("/proc/self/exe", &st), &st);
	same_st("stat /proc/PID/exe", stat(fmt("/proc/%d/exe", me), &st), &st);
	same_st("stat /proc/thread-self/exe", stat("/proc/thread-self/exe", &st), &st);
	same_st("stat /proc/self/task/TID/exe", stat(fmt("/proc/self/task/%d/exe", tid), &st), &st);
	same_st("fstatat AT_FDCWD /proc/self/exe", fstatat(AT_FDCWD, "/proc/self/exe", &st, 0), &st);
	int d = open("/proc/self", O_PATH | O_DIRECTORY);
	same_st("fstatat /proc/self fd, exe", fstatat(d, "exe", &st, 0), &st);
	close(d);
	mklink("exe", "/proc/self/exe");
	same_st("stat of a symlink to /proc/self/exe", stat(fmt("%s/exe", tmpdir), &st), &st);
	printf("lstat /proc/self/exe is a symlink: %s\n", lstat("/proc/self/exe", &st) == 0 && S_ISLNK(st.st_mode) ? "yes" : "no");
	struct statx sx;
	int r = statx(AT_FDCWD, "/proc/self/exe", 0, STATX_BASIC_STATS, &sx);
	printf("statx /proc/self/exe: %s\n", r ? err(errno) : sx.stx_ino == image.st_ino && (off_t)sx.stx_size == image.st_size ? "the image" : "another file");
	int fd = open("/proc/self/exe", O_RDONLY);
	same_st("open /proc/self/exe + fstat", fd < 0 ? -1 : fstat(fd, &st), &st);
	if (fd >= 0) {
		static char a[1 << 16], b[1 << 16];
		int fd2 = open(real, O_RDONLY);
		ssize_t n = read(fd, a, sizeof a), m = read(fd2, b, sizeof b);
		printf("read /proc/self/exe: %s\n", n > 0 && n == m && memcmp(a, b, (size_t)n) == 0 ? "the image's bytes" : "other bytes");
		close(fd2);
		close(fd);
	}
	fd = open(fmt("/proc/%d/task/%d/exe", me, tid), O_RDONLY);
	same_st("open /proc/PID/task/TID/exe + fstat", fd < 0 ? -1 : fstat(fd, &st), &st);
	if (fd >= 0)
		close(fd);
	fd = open(fmt("%s/exe", tmpdir), O_RDONLY);
	same_st("open a symlink to /proc/self/exe + fstat", fd < 0 ? -1 : fstat(fd, &st), &st);
	if (fd >= 0)
		close(fd);
	char l[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", l, sizeof l - 1);
	if (n > 0)
		l[n] = 0;
	printf("readlink /proc/self/exe: %s\n", n > 0 && strcmp(l, real) == 0 ? "the image's path" : "another path");
	fd = open("/proc/self/exe", O_PATH | O_NOFOLLOW);
	n = fd < 0 ? -1 : readlinkat(fd, "", l, sizeof l - 1);
	if (n > 0)
		l[n] = 0;
	printf("O_PATH|O_NOFOLLOW /proc/self/exe: a symlink: %s, readlinkat(fd, \"\"): %s\n",
	       fd >= 0 && fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISLNK(st.st_mode) ? "yes" : "no",
	       n > 0 && strcmp(l, real) == 0 ? "the image's path" : "another path");
	if (fd >= 0)
		close(fd);
	/* Executed through a symlink to it: the image again. */
	pid_t c = fork();
	if (c == 0) {
		execl(fmt("%s/exe", tmpdir), "procview", "exe-child", (char *)NULL);
		_exit(127);
	}
	int st2;
	waitpid(c, &st2, 0);
	printf("execve of a symlink to /proc/self/exe runs the image: %s\n", WIFEXITED(st2) && WEXITSTATUS(st2) == 9 ? "yes" : "no");
	n = readlink(fmt("/proc/self/task/%d/exe", tid), l, sizeof l - 1);
	if (n > 0)
		l[n] = 0;
	printf("readlink /proc/self/task/TID/exe: %s\n", n > 0 && strcmp(l, real) == 0 ? "the image's path" : "another path");
	return 0;
}

/* ---- fds ---- */

static int fds(void)
{
	int fd = open("/proc/self/fd/1000", O_WRONLY | O_TRUNC);
	printf("open /proc/self/fd/1000 O_TRUNC: %s\n", fd < 0 ? err(errno) : "ok");
	fd = open(fmt("/proc/self/task/%ld/fd/1000", syscall(SYS_gettid)), O_RDWR | O_TRUNC);
	printf("open /proc/self/task/TID/fd/1000 O_TRUNC: %s\n", fd < 0 ? err(errno) : "ok");
	int d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	fd = openat(d, "1000", O_WRONLY | O_TRUNC);
	printf("openat(/proc/self/fd fd, 1000) O_TRUNC: %s\n", fd < 0 ? err(errno) : "ok");
	close(d);
	mklink("fd1000", "/proc/self/fd/1000");
	fd = open(fmt("%s/fd1000", tmpdir), O_WRONLY | O_TRUNC);
	printf("open a symlink to /proc/self/fd/1000 O_TRUNC: %s\n", fd < 0 ? err(errno) : "ok");
	mklink("fddir", "/proc/self/fd");
	fd = open(fmt("%s/fddir/1000", tmpdir), O_WRONLY | O_TRUNC);
	printf("open SYMLINK-TO-/proc/self/fd/1000 O_TRUNC: %s\n", fd < 0 ? err(errno) : "ok");
	{
		struct open_how how = {.flags = O_WRONLY | O_TRUNC};
		long r = syscall(SYS_openat2, AT_FDCWD, fmt("%s/fd1000", tmpdir), &how, sizeof how);
		printf("openat2 of a symlink to /proc/self/fd/1000 O_TRUNC: %s\n", r < 0 ? err(errno) : "ok");
	}
	printf("write(1000): %s\n", write(1000, "x", 1) < 0 ? err(errno) : "ok");
	printf("fcntl(1000, F_GETFL): %s\n", fcntl(1000, F_GETFL) < 0 ? err(errno) : "ok");
	printf("fcntl(1000, F_SETFL, O_APPEND): %s\n", fcntl(1000, F_SETFL, O_APPEND) < 0 ? err(errno) : "ok");
	printf("ftruncate(1000): %s\n", ftruncate(1000, 0) < 0 ? err(errno) : "ok");
	/* An ordinary magic link still works: our own fd 1, and /dev/stdout. */
	fd = open("/proc/self/fd/1", O_WRONLY);
	printf("open /proc/self/fd/1: %s\n", fd < 0 ? err(errno) : "ok");
	if (fd >= 0)
		close(fd);
	fd = open("/dev/stdout", O_WRONLY);
	printf("open /dev/stdout: %s\n", fd < 0 ? err(errno) : "ok");
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- map_files ---- */

static int mapfiles(void)
{
	static char ranges[4096][40];
	int n = 0;
	FILE *m = fopen("/proc/self/maps", "r");
	char line[4096];
	while (m && n < 4096 && fgets(line, sizeof line, m))
		if (sscanf(line, "%39[0-9a-f-]", ranges[n]) == 1)
			n++;
	if (m)
		fclose(m);
	DIR *d = opendir("/proc/self/map_files");
	if (!d) {
		printf("map_files: %s\n", err(errno));
		return 0;
	}
	int entries = 0, stray = 0, host = 0, opened = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		entries++;
		int found = 0;
		for (int i = 0; i < n && !found; i++)
			found = strcmp(ranges[i], e->d_name) == 0;
		stray += !found;
		char target[PATH_MAX];
		ssize_t l = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
		if (l > 0) {
			target[l] = 0;
			host += strstr(target, "vsysbed") != NULL || strstr(target, ".cb") != NULL;
		}
		int fd = openat(dirfd(d), e->d_name, O_RDONLY);
		if (fd >= 0) {
			opened++;
			close(fd);
		}
	}
	closedir(d);
	printf("map_files: entries %s, not a range of maps: %d, links to vsysbed or shard files: %d, open: %s\n",
	       entries > 3 ? "several" : "few", stray, host, opened == entries ? "all" : opened == 0 ? "none" : "some");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !mkdtemp(tmpdir))
		return 2;
	int r = 2;
	if (strcmp(argv[1], "mem") == 0)
		r = mem();
	else if (strcmp(argv[1], "maps") == 0)
		r = maps();
	else if (strcmp(argv[1], "exe") == 0)
		r = exe(argv[0]);
	else if (strcmp(argv[1], "exe-child") == 0)
		return 9;
	else if (strcmp(argv[1], "fds") == 0)
		r = fds();
	else if (strcmp(argv[1], "mapfiles") == 0)
		r = mapfiles();
	const char *names[] = {"mem", "self", "maps", "exe", "fd1000", "fddir", "own", NULL};
	for (int i = 0; names[i]; i++)
		unlink(fmt("%s/%s", tmpdir, names[i]));
	rmdir(tmpdir);
	return r;
}
