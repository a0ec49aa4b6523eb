// Signal 34 stays blockable on Go's threads; so do SIGHUP, SIGINT,
// SIGQUIT and SIGTERM in vsysbed's host processes and supervisor
// (vsysbed_gosigtab_blockable, below).
//
// Go's runtime unblocks signal 34 on every thread it starts (its sigtable
// marks it _SigUnblock for musl's SIGSYNCCALL, Go issue 39343; vsysbed's
// host libc is glibc, whose internal signals are 32 and 33). For a glibc
// guest 34 is SIGRTMIN: sent from another process it lands in the host
// kernel's process queue, and every one of Go's threads could take one
// from there and queue it again for a guest thread, behind the ones sent
// after it. The kernel's queue is the only FIFO there is, so no thread
// but the guest's may take a real-time signal from it (tls/inherit.c
// blocks 34-64 on the first thread, whose mask every Go thread inherits):
// this clears _SigUnblock on 34 before the runtime starts.
//
// sigtable is a local symbol of the runtime, and go test strips its
// binaries: the table is found in the executable's writable segments by
// its contents (65 entries of {int32 flags; string name}: entries 33 and
// 34 named "signal 33" and "signal 34" with _SigSetStack|_SigUnblock, 35
// "signal 35" with _SigNotify), and changed only when it is there exactly
// once. Otherwise (another Go) nothing changes and
// vsysbed_gosigtab_patched stays 0: Go's threads then take a SIGRTMIN now
// and then, and order can be lost (tls's unit test fails).

#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>

int vsysbed_gosigtab_patched;

struct go_sigtab {
	int32_t flags;
	const char *name;
	intptr_t len;
};

enum { sig_notify = 1 << 0, sig_kill = 1 << 1, sig_throw = 1 << 2, sig_set_stack = 1 << 6, sig_unblock = 1 << 7 };

struct range {
	uintptr_t lo, hi;
};

static struct range segs[16];
static int nsegs;

/* Whether [p, p+n) lies in one of the executable's segments. */
static int mapped(const void *p, size_t n) {
	uintptr_t a = (uintptr_t)p;
	for (int i = 0; i < nsegs; i++) {
		if (a >= segs[i].lo && a + n <= segs[i].hi && a + n >= a) {
			return 1;
		}
	}
	return 0;
}

static int entry_is(const struct go_sigtab *e, int32_t flags, const char *name) {
	size_t n = strlen(name);
	return e->flags == flags && e->len == (intptr_t)n && mapped(e->name, n) && memcmp(e->name, name, n) == 0;
}

/* The runtime's sigtable, found once (NULL: not found exactly once). */
static struct go_sigtab *sigtab(void) {
	static int searched;
	static struct go_sigtab *tab;
	if (searched) {
		return tab;
	}
	searched = 1;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);
	intptr_t bias = -1;
	for (unsigned long i = 0; ph != NULL && i < n; i++) {
		if (ph[i].p_type == PT_PHDR) {
			bias = (intptr_t)ph - (intptr_t)ph[i].p_vaddr;
		}
	}
	if (bias == -1) {
		return NULL;
	}
	for (unsigned long i = 0; i < n && nsegs < 16; i++) {
		if (ph[i].p_type == PT_LOAD) {
			segs[nsegs].lo = ph[i].p_vaddr + bias;
			segs[nsegs].hi = ph[i].p_vaddr + bias + ph[i].p_filesz; /* initialised data only */
			nsegs++;
		}
	}
	struct go_sigtab *found = NULL;
	int count = 0;
	for (unsigned long i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W)) {
			continue;
		}
		uintptr_t lo = (ph[i].p_vaddr + bias + 7) & ~(uintptr_t)7, hi = ph[i].p_vaddr + bias + ph[i].p_filesz;
		for (uintptr_t a = lo + 34 * sizeof(struct go_sigtab); a + 2 * sizeof(struct go_sigtab) <= hi; a += 8) {
			const struct go_sigtab *e = (const struct go_sigtab *)a;
			if (e->len != 9 || e->flags != (sig_set_stack | sig_unblock)) {
				continue; /* the cheap test first */
			}
			if (entry_is(e, sig_set_stack | sig_unblock, "signal 34") &&
			    entry_is(e - 1, sig_set_stack | sig_unblock, "signal 33") && entry_is(e + 1, sig_notify, "signal 35")) {
				found = (struct go_sigtab *)a;
				count++;
			}
		}
	}
	if (count == 1) {
		tab = found - 34;
	}
	return tab;
}

__attribute__((constructor)) static void vsysbed_patch_gosigtab(void) {
	struct go_sigtab *tab = sigtab();
	if (tab != NULL) {
		tab[34].flags = sig_set_stack;
		vsysbed_gosigtab_patched = 1;
	}
}

/* The names Go's sigtable gives the signals that can be made blockable. */
static const char *blockable_name(int sig) {
	switch (sig) {
	case 1: return "SIGHUP: terminal line hangup";
	case 2: return "SIGINT: interrupt";
	case 3: return "SIGQUIT: quit";
	case 15: return "SIGTERM: termination";
	}
	return NULL;
}

/*
 * Makes the standard signals in sigs (bit sig-1) blockable on Go's threads:
 * Go unblocks the ones it marks _SigKill or _SigThrow (SIGHUP, SIGINT,
 * SIGQUIT, SIGTERM) on every thread it starts, whatever the mask it
 * inherited, so a process whose guest threads or signalfd must be the only
 * takers of them (VSYSBED_RELAY_ONLY, entry.h) clears those two flags.
 * Go's handler then never sees them (they stay blocked on its threads),
 * so what the flags meant to it — die, or dump the goroutines — never
 * applies. Only vsysbed's host processes and supervisor do this
 * (tls/inherit.c): any other command keeps Go's defaults (Ctrl-C ends
 * it). With check set it only says whether it could. Returns 1 when every
 * one is (or could be) changed, 0 and changes nothing otherwise.
 */
int vsysbed_gosigtab_blockable(uint64_t sigs, int check) {
	struct go_sigtab *tab = sigtab();
	if (tab == NULL) {
		return 0;
	}
	for (int sig = 1; sig < 32; sig++) {
		const char *name = blockable_name(sig);
		if (!(sigs >> (sig - 1) & 1) || name == NULL) {
			continue;
		}
		if (!entry_is(&tab[sig], sig_notify | (sig == 3 ? sig_throw : sig_kill), name)) {
			return 0;
		}
	}
	if (check) {
		return 1;
	}
	for (int sig = 1; sig < 32; sig++) {
		if ((sigs >> (sig - 1) & 1) && blockable_name(sig) != NULL) {
			tab[sig].flags &= ~(sig_kill | sig_throw);
		}
	}
	return 1;
}
