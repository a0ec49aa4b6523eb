/* fileio - the file calls: open, pread/pwrite, fsync, rename, readdir,
 * and a file mapped with mmap. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "corpus.h"

int main(void)
{
	corpus_name = "fileio";
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/corpus-fileio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");

	char a[4200], b[4200];
	snprintf(a, sizeof a, "%s/a.dat", dir);
	snprintf(b, sizeof b, "%s/b.dat", dir);

	int fd = open(a, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "open O_CREAT");
	char block[8192];
	for (size_t i = 0; i < sizeof block; i++)
		block[i] = (char)(i * 7 + 3);
	CHECK(pwrite(fd, block, sizeof block, 0) == (ssize_t)sizeof block, "pwrite");
	CHECK(pwrite(fd, "tail", 4, sizeof block) == 4, "pwrite at the end");
	CHECK(fsync(fd) == 0, "fsync");
	CHECK(fdatasync(fd) == 0, "fdatasync");

	char back[100];
	CHECK(pread(fd, back, sizeof back, 4000) == (ssize_t)sizeof back, "pread");
	CHECK(memcmp(back, block + 4000, sizeof back) == 0, "pread returns what pwrite wrote");
	CHECK(lseek(fd, 0, SEEK_CUR) == 0, "pread/pwrite leave the offset alone");

	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof block + 4, "fstat size");
	CHECK(close(fd) == 0, "close");

	CHECK(rename(a, b) == 0, "rename");
	CHECK(access(a, F_OK) != 0 && errno == ENOENT, "the old name is gone");

	DIR *d = opendir(dir);
	CHECK(d != NULL, "opendir");
	int seen = 0, others = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, "b.dat") == 0)
			seen++;
		else if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			others++;
	}
	CHECK(errno == 0, "readdir");
	CHECK(seen == 1 && others == 0, "readdir lists exactly the renamed file");
	CHECK(closedir(d) == 0, "closedir");

	fd = open(b, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open the renamed file");
	size_t len = sizeof block + 4;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap the file");
	CHECK(memcmp(p, block, sizeof block) == 0 && memcmp(p + sizeof block, "tail", 4) == 0,
	      "the mapping shows the file");
	p[0] = 'X';
	CHECK(msync(p, len, MS_SYNC) == 0, "msync");
	CHECK(munmap(p, len) == 0, "munmap");
	char first;
	CHECK(pread(fd, &first, 1, 0) == 1 && first == 'X', "a store through the mapping reaches the file");
	CHECK(ftruncate(fd, 10) == 0, "ftruncate");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 10, "ftruncate size");
	CHECK(close(fd) == 0, "close");

	CHECK(unlink(b) == 0, "unlink");
	CHECK(rmdir(dir) == 0, "rmdir");
	corpus_ok();
	return 0;
}
