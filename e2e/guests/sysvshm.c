/* sysvshm: System V shared memory as a program sees it on Linux — shmget,
 * shmat at an address of the kernel's choice and at one of the program's
 * (SHM_RND, SHM_REMAP), sharing with a forked child, shm_nattch through
 * fork, mprotect, munmap, exec, shmdt and exit, SHM_RDONLY, IPC_RMID, and
 * the errors. It prints only what does not depend on addresses or ids, so
 * that its output natively and under vsysbed can be compared exactly. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static unsigned long nattch(int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		printf("IPC_STAT: %s\n", strerror(errno));
		return (unsigned long)-1;
	}
	return ds.shm_nattch;
}

static const char *err(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

/* The call first, then the count: printf's arguments are evaluated in no
 * particular order. */
#define AND_NATTCH(what, call, id)                                     \
	do {                                                           \
		const char *e_ = err((long)(call));                    \
		printf("%s: %s, nattch=%lu\n", what, e_, nattch(id)); \
	} while (0)

/* Runs f in a forked child and reports how it ended. */
static void child(const char *what, void (*f)(void *), void *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("%s: fork: %s\n", what, strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		f(arg);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("%s: child ended with status %#x\n", what, st);
}

struct seg {
	int id;
	char *p;
};

/* Code in a SHM_EXEC|SHM_RDONLY attachment, while there is one. */
static int (*shm_fn)(void);

static void child_writes(void *arg)
{
	struct seg *s = arg;
	if (shm_fn)
		printf("child: SHM_EXEC code returns %d\n", shm_fn());
	/* Linux: the child holds its own attachment of the same pages. */
	printf("child: reads \"%s\", nattch=%lu\n", s->p, nattch(s->id));
	strcpy(s->p, "written by the child");
	strcpy(s->p + 2 * PG, "third page, child");
}

static void child_detaches(void *arg)
{
	struct seg *s = arg;
	AND_NATTCH("child: shmdt", shmdt(s->p), s->id);
	printf("child: shmdt again=%s\n", err(shmdt(s->p)));
}

/* execve detaches: the new image (this program again) counts the
 * attachments without the child's. */
static void child_execs(void *arg)
{
	struct seg *s = arg;
	char id[16];
	snprintf(id, sizeof id, "%d", s->id);
	fflush(stdout);
	execl("/proc/self/exe", "sysvshm", "nattch", id, (char *)NULL);
	_exit(127);
}

static void child_part(void *arg)
{
	struct seg *s = arg;
	printf("child: first page \"%s\", nattch=%lu\n", s->p, nattch(s->id));
	strcpy(s->p + 64, "the child's part");
	/* Only the first page is mapped: shmdt at its start detaches it. */
	AND_NATTCH("child: shmdt", shmdt(s->p), s->id);
}

static void child_tail(void *arg)
{
	struct seg *s = arg;
	/* The attachment's first page is gone: Linux detaches the rest when
	 * asked at the attachment's start (offset = distance). */
	printf("child: tail reads \"%s\"\n", s->p + 2 * PG);
	AND_NATTCH("child: shmdt(start)", shmdt(s->p), s->id);
}

/* Attachments that are read-only now: w was attached writable and
 * mprotect'ed, r attached SHM_RDONLY. */
struct ro {
	char *w, *r;
};

static void child_mprotects(void *arg)
{
	struct ro *ro = arg;
	const char *e = err(mprotect(ro->w, 3 * PG, PROT_READ | PROT_WRITE));
	printf("child: mprotect writable of the one attached writable: %s\n", e);
	if (e[0] == 'o')
		strcpy(ro->w + 100, "made writable again by the child");
	printf("child: mprotect writable of the SHM_RDONLY one: %s\n", err(mprotect(ro->r, 3 * PG, PROT_READ | PROT_WRITE)));
}

static sigjmp_buf jb;
static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "nattch") == 0) {
		printf("after execve: nattch=%lu\n", nattch(atoi(argv[2])));
		return 0;
	}
	int id = shmget(IPC_PRIVATE, 3 * PG, IPC_CREAT | 0600);
	if (id < 0) {
		printf("shmget: %s\n", strerror(errno));
		return 1;
	}
	printf("shmget IPC_PRIVATE: ok, nattch=%lu\n", nattch(id));

	/* shmctl passes through: the segment is the kernel's. */
	struct shmid_ds ds;
	memset(&ds, 0, sizeof ds);
	shmctl(id, IPC_STAT, &ds);
	/* Execute permission for SHM_EXEC (root's CAP_IPC_OWNER needs none). */
	ds.shm_perm.mode = 0700;
	const char *e = err(shmctl(id, IPC_SET, &ds));
	shmctl(id, IPC_STAT, &ds);
	printf("IPC_SET mode 0700: %s, size=%zu, mode=%o, ours=%d\n", e, ds.shm_segsz, ds.shm_perm.mode & 0777,
	       ds.shm_perm.uid == geteuid() && ds.shm_cpid == getpid());
	struct shminfo info;
	e = err(shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
	printf("IPC_INFO: %s, shmmni>0=%d\n", e, info.shmmni > 0);
	struct shm_info sinfo;
	int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	int found = 0;
	for (int i = 0; i <= maxidx; i++)
		if (shmctl(i, SHM_STAT, &ds) == id)
			found = 1;
	printf("SHM_INFO: %s, SHM_STAT finds ours=%d\n", err(maxidx), found);
	e = err(shmctl(id, SHM_LOCK, NULL));
	printf("SHM_LOCK: %s, SHM_UNLOCK: %s\n", e, err(shmctl(id, SHM_UNLOCK, NULL)));
	printf("IPC_STAT of a bad id: %s\n", err(shmctl(-1, IPC_STAT, &ds)));

	/* The kernel's choice of address. */
	struct seg s = {id, shmat(id, NULL, 0)};
	if (s.p == (void *)-1) {
		printf("shmat(0): %s\n", strerror(errno));
		return 1;
	}
	printf("shmat(0): ok, page-aligned=%d, nattch=%lu\n", ((unsigned long)s.p & (PG - 1)) == 0, nattch(id));
	strcpy(s.p, "written by the parent");

	/* A second attachment at an address of ours, rounded down. */
	char *hole = mmap(NULL, 3 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 3 * PG);
	char *q = shmat(id, hole + 123, SHM_RND);
	printf("shmat(addr+123, SHM_RND): %s, at addr=%d, nattch=%lu\n", err((long)q), q == hole, nattch(id));
	printf("second attachment reads \"%s\"\n", q);
	printf("shmat(addr+123) without SHM_RND: %s\n", err((long)shmat(id, hole + 123, 0)));
	printf("shmat over an attachment without SHM_REMAP: %s\n", err((long)shmat(id, q, 0)));
	printf("shmat(0, SHM_REMAP): %s\n", err((long)shmat(id, NULL, SHM_REMAP)));
	printf("shmat of a bad id: %s\n", err((long)shmat(-1, NULL, 0)));
	AND_NATTCH("shmdt of the second", shmdt(q), id);
	printf("shmdt of an address without attachment: %s\n", err(shmdt(hole)));
	printf("shmdt of an unaligned address: %s\n", err(shmdt(s.p + 1)));
	printf("shmdt of a plain mapping: %s\n", err(shmdt(hole = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))));

	/* SHM_REMAP over a mapping of ours (the whole segment's size). */
	q = shmat(id, hole, SHM_REMAP | SHM_RDONLY);
	printf("shmat(SHM_REMAP|SHM_RDONLY) over a mapping: %s, at addr=%d, reads \"%s\"\n", err((long)q), q == hole, q);
	signal(SIGSEGV, on_segv);
	if (sigsetjmp(jb, 1) == 0) {
		q[0] = 'X';
		printf("SHM_RDONLY write: no fault\n");
	} else {
		printf("SHM_RDONLY write: SIGSEGV\n");
	}
	signal(SIGSEGV, SIG_DFL);
	printf("mprotect it writable: %s\n", err(mprotect(q, PG, PROT_READ | PROT_WRITE)));
	AND_NATTCH("shmdt", shmdt(q), id);

	/* SHM_EXEC: "mov $42, %eax; ret", written through the first
	 * attachment, run from a second one. */
	static const unsigned char code[] = {0xb8, 42, 0, 0, 0, 0xc3};
	memcpy(s.p + PG + 512, code, sizeof code);
	char *x = shmat(id, NULL, SHM_EXEC | SHM_RDONLY);
	printf("shmat(SHM_EXEC|SHM_RDONLY): %s\n", err((long)x));
	if (x != (void *)-1) {
		shm_fn = (int (*)(void))(x + PG + 512);
		printf("SHM_EXEC code returns %d\n", shm_fn());
	}

	/* Read-only attachments through fork: what each may become stays. */
	struct ro ro = {shmat(id, NULL, 0), shmat(id, NULL, SHM_RDONLY)};
	printf("two more attachments: %s, %s\n", err((long)ro.w), err((long)ro.r));
	printf("mprotect the first read-only: %s\n", err(mprotect(ro.w, 3 * PG, PROT_READ)));
	child("read-only", child_mprotects, &ro);
	printf("parent reads \"%s\"\n", ro.r + 100);
	printf("shmdt both: %s, %s\n", err(shmdt(ro.w)), err(shmdt(ro.r)));

	/* fork: the child has the segments at the same addresses, shared. */
	printf("before fork: nattch=%lu\n", nattch(id));
	child("fork", child_writes, &s);
	printf("parent after the child: reads \"%s\" and \"%s\", nattch=%lu\n", s.p, s.p + 2 * PG, nattch(id));
	AND_NATTCH("shmdt of the SHM_EXEC attachment", shmdt(x), id);
	shm_fn = NULL;
	child("detach", child_detaches, &s);
	child("exec", child_execs, &s);
	printf("after a child's shmdt and a child's exec: nattch=%lu\n", nattch(id));

	/* posix_spawn (a vfork child, in our memory until it execs): the
	 * attachments stay ours alone. */
	char ids[16];
	snprintf(ids, sizeof ids, "%d", id);
	char *spawn_argv[] = {"sysvshm", "nattch", ids, NULL};
	pid_t sp;
	int st;
	fflush(stdout);
	if (posix_spawn(&sp, "/proc/self/exe", NULL, NULL, spawn_argv, NULL) != 0 || waitpid(sp, &st, 0) != sp || st != 0)
		printf("posix_spawn failed\n");
	printf("after posix_spawn: nattch=%lu, reads \"%s\"\n", nattch(id), s.p);

	/* mprotect splits the attachment: Linux counts each piece. */
	AND_NATTCH("mprotect the middle page read-only", mprotect(s.p + PG, PG, PROT_READ), id);
	child("split", child_writes, &s);
	printf("after the split child: reads \"%s\", nattch=%lu\n", s.p, nattch(id));

	/* Part of an attachment: its tail unmapped, then its head. */
	struct seg part = {id, shmat(id, NULL, 0)};
	printf("third attachment: %s, nattch=%lu\n", err((long)part.p), nattch(id));
	AND_NATTCH("munmap its last two pages", munmap(part.p + PG, 2 * PG), id);
	child("part", child_part, &part);
	printf("parent reads \"%s\", nattch=%lu\n", part.p + 64, nattch(id));
	AND_NATTCH("shmdt of the part", shmdt(part.p), id);
	part.p = shmat(id, NULL, 0);
	printf("fourth attachment: %s\n", err((long)part.p));
	AND_NATTCH("munmap its first page", munmap(part.p, PG), id);
	child("tail", child_tail, &part);
	AND_NATTCH("shmdt(start) of the tail", shmdt(part.p), id);

	/* IPC_RMID while attached: the segment lives on until its last
	 * detach, and Linux still lets its id be attached (and forked). */
	AND_NATTCH("IPC_RMID", shmctl(id, IPC_RMID, NULL), id);
	child("removed", child_writes, &s);
	printf("parent after the child of a removed segment: reads \"%s\", nattch=%lu\n", s.p, nattch(id));
	printf("shmdt: %s\n", err(shmdt(s.p)));
	printf("IPC_STAT after the last detach: %s\n", err(shmctl(id, IPC_STAT, &ds)));
	printf("done\n");
	return 0;
}
