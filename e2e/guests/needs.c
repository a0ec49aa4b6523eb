// needs: a program whose needs from the kernel are known by
// construction, for `vsysbed explore`. It reads the file argv[1] (openat
// and read are required: without the text there is nothing to print),
// asks for its pid only to reject a negative one (getpid works faked,
// returning 0, but not stubbed: glibc returns -ENOSYS itself), gives
// advice on a buffer and ignores the answer (madvise works stubbed and
// faked), and prints with write(2), treating a short or failed write as
// an error (write is required).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void out(const char *s, size_t n) {
	while (n > 0) {
		ssize_t w = write(1, s, n);
		if (w <= 0)
			exit(3);
		s += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv) {
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return 1;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n <= 0)
		return 1;
	if (getpid() < 0)
		return 4;
	static char page[1 << 16] __attribute__((aligned(4096)));
	madvise(page, sizeof page, MADV_WILLNEED);
	out("read: ", 6);
	out(buf, (size_t)n);
	return 0;
}
