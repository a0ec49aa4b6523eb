/* segtail: for each PT_LOAD of this program whose p_memsz exceeds its
 * p_filesz, print how the bytes from p_filesz to the end of that page read
 * in memory: as zero, as the file's bytes, or as neither. A fixture made
 * from this binary (its read-only segment's p_filesz lowered by one) shows
 * what Linux's padzero does for a segment it cannot write. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void) {
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0) {
		perror("open /proc/self/exe");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		const ElfW(Phdr) *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz <= p->p_filesz || p->p_filesz == 0)
			continue;
		const unsigned char *mem = (const unsigned char *)(bias + p->p_vaddr + p->p_filesz);
		size_t len = 4096 - ((uintptr_t)mem & 4095);
		unsigned char file[4096];
		ssize_t got = pread(fd, file, len, p->p_offset + p->p_filesz);
		size_t zero = 0, same = 0, other = 0;
		for (size_t j = 0; j < len; j++) {
			if (mem[j] == 0)
				zero++;
			else if ((ssize_t)j < got && mem[j] == file[j])
				same++;
			else
				other++;
		}
		printf("segment %c%c%c: %zu tail bytes: %zu zero, %zu from the file, %zu other; first %s\n",
		       p->p_flags & PF_R ? 'r' : '-', p->p_flags & PF_W ? 'w' : '-', p->p_flags & PF_X ? 'x' : '-',
		       len, zero, same, other, mem[0] == 0 ? "zero" : "nonzero");
	}
	puts("segtail done");
	return 0;
}
