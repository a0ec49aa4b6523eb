/* forker - forks a child that exits 5 and reports the child's status. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("forker: fork");
		return 1;
	}
	if (pid == 0)
		_exit(5);
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("forker: waitpid");
		return 1;
	}
	printf("forker: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}
