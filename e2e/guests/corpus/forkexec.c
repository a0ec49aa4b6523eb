/* forkexec - processes: fork + waitpid with a pipe between parent and
 * child, and posix_spawn of this same program with its stdout on a pipe. */
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include "corpus.h"

extern char **environ;

int main(int argc, char **argv)
{
	corpus_name = "forkexec";
	if (argc == 2 && strcmp(argv[1], "--child") == 0) {
		printf("spawned child %d\n", (int)(getppid() > 0));
		return 5;
	}

	int p[2];
	CHECK(pipe(p) == 0, "pipe");
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		close(p[0]);
		const char msg[] = "ping";
		_exit(write(p[1], msg, 4) == 4 ? 7 : 1);
	}
	close(p[1]);
	char buf[8] = {0};
	CHECK(read(p[0], buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0, "read the child's message");
	close(p[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "the child's exit status");

	CHECK(pipe(p) == 0, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *cargv[] = {argv[0], "--child", NULL};
	CHECK((errno = posix_spawn(&pid, argv[0], &fa, NULL, cargv, environ)) == 0, "posix_spawn");
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	char out[64] = {0};
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], out + got, sizeof out - 1 - got)) > 0)
		got += (size_t)n;
	CHECK(n == 0, "read the spawned child's stdout");
	close(p[0]);
	CHECK(strcmp(out, "spawned child 1\n") == 0, "the spawned child's output");
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid spawned");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5, "the spawned child's exit status");
	corpus_ok();
	return 0;
}
