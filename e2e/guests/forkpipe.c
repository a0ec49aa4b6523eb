/*
 * forkpipe - 1 MiB each way between a parent and its forked child.
 *
 * Two pipes: the parent writes 1 MiB of a pseudo-random stream to the
 * child and closes its end; the child checks it (length and FNV-1a
 * checksum, against the stream it can generate itself), then writes
 * another 1 MiB back, which the parent checks the same way. Each transfer
 * is sixteen times a pipe buffer, so both sides block and wake many times.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (1 << 20)

/* fill writes the bytes of stream seed from offset off. */
static void fill(unsigned char *buf, size_t n, uint32_t seed, size_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t x = (uint32_t)(off + i) * 2654435761u ^ seed;
		buf[i] = (unsigned char)(x >> 13);
	}
}

/* fnv is FNV-1a over a stream, updated chunk by chunk. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t expected(uint32_t seed)
{
	static unsigned char buf[SIZE];
	fill(buf, SIZE, seed, 0);
	return fnv(14695981039346656037ull, buf, SIZE);
}

/* sendall writes stream seed to fd in uneven chunks. */
static int sendall(int fd, uint32_t seed)
{
	unsigned char buf[7000];
	size_t off = 0;
	while (off < SIZE) {
		size_t n = SIZE - off < sizeof buf ? SIZE - off : sizeof buf;
		fill(buf, n, seed, off);
		size_t done = 0;
		while (done < n) {
			ssize_t w = write(fd, buf + done, n - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				perror("forkpipe: write");
				return -1;
			}
			done += (size_t)w;
		}
		off += n;
	}
	return 0;
}

/* recvall reads to EOF, returning the checksum and the byte count. */
static uint64_t recvall(int fd, size_t *total)
{
	unsigned char buf[4096];
	uint64_t h = 14695981039346656037ull;
	*total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("forkpipe: read");
			exit(2);
		}
		if (r == 0)
			return h;
		h = fnv(h, buf, (size_t)r);
		*total += (size_t)r;
	}
}

int main(void)
{
	int down[2], up[2];
	if (pipe(down) < 0 || pipe(up) < 0) {
		perror("forkpipe: pipe");
		return 1;
	}
	const uint32_t parentSeed = 0x5eed1, childSeed = 0xc41d;
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkpipe: fork");
		return 1;
	}
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		size_t n;
		uint64_t h = recvall(down[0], &n);
		if (n != SIZE || h != expected(parentSeed)) {
			fprintf(stderr, "forkpipe: child read %zu bytes, checksum %016llx\n",
				n, (unsigned long long)h);
			_exit(6);
		}
		_exit(sendall(up[1], childSeed) == 0 ? 0 : 4);
	}
	close(down[0]);
	close(up[1]);
	if (sendall(down[1], parentSeed) != 0)
		return 1;
	close(down[1]);
	size_t n;
	uint64_t h = recvall(up[0], &n);
	int ok = n == SIZE && h == expected(childSeed);
	printf("parent read %zu bytes, checksum %s\n", n, ok ? "ok" : "BAD");
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
		fprintf(stderr, "forkpipe: child did not exit\n");
		return 1;
	}
	printf("child exited %d (its read of %d bytes checked)\n", WEXITSTATUS(st), SIZE);
	return !ok || WEXITSTATUS(st) != 0;
}
