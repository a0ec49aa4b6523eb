/*
 * vdsosym.h - find a versioned symbol in the vDSO the kernel (or vsysbed)
 * mapped into this process, the way a Unikraft-patched musl finds
 * __kernel_vsyscall: start from AT_SYSINFO_EHDR, use only the program
 * headers and the dynamic section (a vDSO need not have section headers),
 * size the symbol table from DT_HASH's nchain (musl ignores DT_GNU_HASH, so
 * a vDSO that lacks DT_HASH is invisible to it), and check the version
 * through DT_VERSYM/DT_VERDEF.
 *
 * Header-only so every guest that wants the bypass can include it.
 */
#ifndef VSYSBED_GUEST_VDSOSYM_H
#define VSYSBED_GUEST_VDSOSYM_H

#include <elf.h>
#include <string.h>
#include <sys/auxv.h>

/* Pointer to the start of the vDSO image, or 0 when the kernel gave none. */
static inline unsigned long vdso_base(void)
{
	return getauxval(AT_SYSINFO_EHDR);
}

/*
 * The version of symbol index i matches want when the symbol carries no
 * version table entry at all, or when its versym index names a verdef
 * entry (other than the base one, which only carries the soname) whose
 * first aux string equals want.
 */
static inline int vdso_version_ok(const Elf64_Versym *versym,
				  const unsigned char *verdef_start,
				  const char *strtab, size_t i, const char *want)
{
	if (versym == NULL || verdef_start == NULL)
		return 1;
	Elf64_Half ndx = versym[i] & 0x7fff;
	const unsigned char *p = verdef_start;
	for (;;) {
		const Elf64_Verdef *vd = (const Elf64_Verdef *)p;
		if (!(vd->vd_flags & VER_FLG_BASE) &&
		    (vd->vd_ndx & 0x7fff) == ndx) {
			const Elf64_Verdaux *aux =
				(const Elf64_Verdaux *)(p + vd->vd_aux);
			return strcmp(strtab + aux->vda_name, want) == 0;
		}
		if (vd->vd_next == 0)
			return 0;
		p += vd->vd_next;
	}
}

/* Address of symbol name at version, or NULL. */
static inline void *vdso_sym(const char *version, const char *name)
{
	unsigned long base = vdso_base();
	if (base == 0)
		return NULL;

	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;

	/*
	 * The image is mapped as one piece from file offset 0, so a
	 * vaddr in the dynamic section becomes a pointer by adding the
	 * bias of the (first) PT_LOAD: base + p_offset - p_vaddr.
	 */
	const unsigned char *phbase = (const unsigned char *)base + eh->e_phoff;
	unsigned long bias = 0;
	int have_load = 0;
	const Elf64_Dyn *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
			(const Elf64_Phdr *)(phbase + (size_t)i * eh->e_phentsize);
		if (ph->p_type == PT_LOAD && !have_load) {
			bias = base + ph->p_offset - ph->p_vaddr;
			have_load = 1;
		} else if (ph->p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(base + ph->p_offset);
		}
	}
	if (!have_load || dyn == NULL)
		return NULL;

	const char *strtab = NULL;
	const Elf64_Sym *symtab = NULL;
	const Elf64_Word *hash = NULL;
	const Elf64_Versym *versym = NULL;
	const unsigned char *verdef = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		unsigned long p = bias + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_STRTAB: strtab = (const char *)p; break;
		case DT_SYMTAB: symtab = (const Elf64_Sym *)p; break;
		case DT_HASH: hash = (const Elf64_Word *)p; break;
		case DT_VERSYM: versym = (const Elf64_Versym *)p; break;
		case DT_VERDEF: verdef = (const unsigned char *)p; break;
		}
	}
	if (strtab == NULL || symtab == NULL || hash == NULL)
		return NULL;

	/* DT_HASH is {nbucket, nchain, ...}; nchain == number of symbols. */
	size_t nsyms = hash[1];
	for (size_t i = 0; i < nsyms; i++) {
		const Elf64_Sym *s = &symtab[i];
		unsigned type = ELF64_ST_TYPE(s->st_info);
		unsigned bind = ELF64_ST_BIND(s->st_info);
		if (type != STT_FUNC && type != STT_NOTYPE && type != STT_OBJECT)
			continue;
		if (bind != STB_GLOBAL && bind != STB_WEAK)
			continue;
		if (s->st_shndx == SHN_UNDEF)
			continue;
		if (strcmp(strtab + s->st_name, name) != 0)
			continue;
		if (!vdso_version_ok(versym, verdef, strtab, i, version))
			continue;
		return (void *)(bias + s->st_value);
	}
	return NULL;
}

/* The Unikraft bypass entry: SysV call, returns the raw Linux result. */
typedef long (*kernel_vsyscall_fn)(long nr, long a1, long a2, long a3,
				   long a4, long a5, long a6);

/*
 * A raw `syscall` instruction.  The kernel clobbers rcx (return rip) and
 * r11 (rflags); everything else survives, so nothing else is listed.
 */
static inline long raw_syscall6(long nr, long a1, long a2, long a3, long a4,
				long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#endif
