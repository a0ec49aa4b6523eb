/* exit42 - writes a line to stdout, then ends with exit_group(42). */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	static const char msg[] = "exit42: leaving with status 42\n";
	if (write(1, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return 1;
	syscall(SYS_exit_group, 42);
	return 1; /* not reached */
}
