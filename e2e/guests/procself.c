/* procself: /proc describes the guest. Its status, stat, comm and task
 * directory show the guest's name, threads, signal masks and dispositions,
 * and no seccomp filter of vsysbed's, in every spelling (self,
 * thread-self, the pid, task/TID). Every line is deterministic. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *keys[] = {"Name", "State", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt",
			     "Seccomp", "Seccomp_filters", "NoNewPrivs", "TracerPid", NULL};

static void status(const char *label, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: cannot open\n", label);
		return;
	}
	char line[512];
	while (fgets(line, sizeof line, f)) {
		for (int i = 0; keys[i]; i++) {
			size_t n = strlen(keys[i]);
			if (strncmp(line, keys[i], n) == 0 && line[n] == ':')
				printf("%s %s", label, line);
		}
	}
	fclose(f);
}

/* stat: comm (2), state omitted, num_threads (20), signal fields 31-34. */
static void stat_fields(const char *label, const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[2048];
	if (!f || !fgets(buf, sizeof buf, f)) {
		printf("%s: cannot read\n", label);
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	*close = 0;
	char *fields[64];
	int n = 0;
	for (char *tok = strtok(close + 2, " \n"); tok && n < 64; tok = strtok(NULL, " \n"))
		fields[n++] = tok; /* fields[0] is field 3 */
	printf("%s comm=(%s) state=%s threads=%s signal=%s blocked=%s ignored=%s caught=%s\n", label, open + 1, fields[0], fields[17],
	       fields[28], fields[29], fields[30], fields[31]);
}

/* status opened relative to a dirfd of /proc/self (openat). */
static void status_at(const char *label, const char *dir, const char *name)
{
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = d < 0 ? -1 : openat(d, name, O_RDONLY | O_NOFOLLOW);
	if (d >= 0)
		close(d);
	if (fd < 0) {
		printf("%s: cannot open\n", label);
		return;
	}
	char b[4096];
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n > 0 ? n : 0] = 0;
	for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "TracerPid:", 10) || !strncmp(line, "Seccomp:", 8) || !strncmp(line, "State:", 6))
			printf("%s %s\n", label, line);
}

static void comm(const char *label, const char *path)
{
	char b[64] = "";
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(b, sizeof b, f))
			b[0] = 0;
		fclose(f);
	}
	printf("%s comm: %s", label, b);
}

static int tasks(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static pthread_barrier_t ready, done;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&done);
	return NULL;
}

static void handler(int s) { (void)s; }

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, handler);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	raise(SIGUSR2); /* pending, blocked */

	status("start", "/proc/self/status");
	stat_fields("start", "/proc/self/stat");
	comm("start", "/proc/self/comm");
	status_at("openat /proc/self", "/proc/self", "status");
	status_at("openat /proc/self/task", "/proc/self/task", "../status");

	pthread_barrier_init(&ready, NULL, 3);
	pthread_barrier_init(&done, NULL, 3);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, waiter, NULL);
	pthread_barrier_wait(&ready);

	char p[128];
	status("threads", "/proc/self/status");
	snprintf(p, sizeof p, "/proc/%d/status", getpid());
	status("by pid", p);
	snprintf(p, sizeof p, "/proc/%d/task/%d/status", getpid(), getpid());
	status("task", p);
	status("thread-self", "/proc/thread-self/status");
	stat_fields("threads", "/proc/self/stat");
	printf("tasks: self=%d pid=%d\n", tasks("/proc/self/task"), (snprintf(p, sizeof p, "/proc/%d/task", getpid()), tasks(p)));

	prctl(PR_SET_NAME, "renamed", 0, 0, 0);
	comm("after PR_SET_NAME", "/proc/self/comm");
	snprintf(p, sizeof p, "/proc/self/task/%d/comm", getpid());
	comm("after PR_SET_NAME task", p);
	char name[17] = "";
	prctl(PR_GET_NAME, name, 0, 0, 0);
	printf("PR_GET_NAME: %s\n", name);

	pthread_barrier_wait(&done);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		comm("fork child", "/proc/self/comm");
		status("fork child", "/proc/self/status");
		printf("fork child PR_GET_NO_NEW_PRIVS: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
		printf("fork child PR_SET_NO_NEW_PRIVS: %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
		printf("fork child PR_GET_NO_NEW_PRIVS after: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
		fflush(stdout);
		if (fork() == 0) {
			status("grandchild", "/proc/self/status");
			_exit(0);
		}
		wait(NULL);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	return 0;
}
