package vdsoinject

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// execProbe is a small C program that (1) loads the dumped image with
// glibc's own dlopen and resolves every export with dlvsym, and finds each
// function's FDE with libgcc's unwinder; (2) maps the image itself, points
// GS at a zeroed control block, fills the slots with the fallbacks and calls
// every stub, checking results, argument passing and the counters.
const execProbe = `
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct dwarf_eh_bases { void *tbase, *dbase, *func; };
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

#define NT 6
static const char *names[NT] = {"__kernel_vsyscall", "__vdso_clock_gettime", "__vdso_gettimeofday",
	"__vdso_time", "__vdso_getcpu", "__vdso_clock_getres"};
static const char *aliases[NT] = {0, "clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"};
static unsigned long stub[NT], fb[NT], slot[NT], ctr[NT];
static int fails;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)

static uint64_t cb[131072 / 8];

int main(int argc, char **argv) {
	if (argc != 2 + 4 * NT) { fprintf(stderr, "usage\n"); return 2; }
	const char *path = argv[1];
	for (int i = 0; i < NT; i++) {
		stub[i] = strtoul(argv[2 + 4 * i], 0, 0);
		fb[i] = strtoul(argv[3 + 4 * i], 0, 0);
		slot[i] = strtoul(argv[4 + 4 * i], 0, 0);
		ctr[i] = strtoul(argv[5 + 4 * i], 0, 0);
	}

	/* (1) glibc's loader and libgcc's unwinder. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(h, "dlopen: %s", dlerror());
	if (!h) return 1;
	struct link_map *lm;
	CHECK(dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0, "dlinfo");
	char *l = (char *)lm->l_addr;
	for (int i = 0; i < NT; i++) {
		void *p = dlvsym(h, names[i], "LINUX_2.6");
		CHECK(p == l + stub[i], "dlvsym %s = %p want %p", names[i], p, l + stub[i]);
		CHECK(dlsym(h, names[i]) == l + stub[i], "dlsym %s", names[i]);
		if (aliases[i])
			CHECK(dlvsym(h, aliases[i], "LINUX_2.6") == l + stub[i], "dlvsym %s", aliases[i]);
		CHECK(dlvsym(h, names[i], "LINUX_2.5") == 0, "%s found with a wrong version", names[i]);
		unsigned long fns[2] = {stub[i], fb[i]};
		for (int k = 0; k < 2; k++) {
			struct dwarf_eh_bases bases = {0};
			const void *fde = _Unwind_Find_FDE(l + fns[k] + 1, &bases);
			CHECK(fde && bases.func == l + fns[k], "no FDE for %s (%d): %p", names[i], k, bases.func);
		}
	}
	CHECK(dlsym(h, "__vdso_getrandom") == 0, "__vdso_getrandom exported");
	CHECK(dlsym(h, "getrandom") == 0, "getrandom exported");

	/* (2) map, fill with fallbacks, call through GS = control block. */
	int fd = open(path, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	size_t size = (st.st_size + 4095) & ~4095UL;
	char *base = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pread(fd, base, st.st_size, 0) == st.st_size, "read image");
	for (int i = 0; i < NT; i++) *(uint64_t *)(base + slot[i]) = (uint64_t)(base + fb[i]);
	CHECK(mprotect(base, size, PROT_READ | PROT_EXEC) == 0, "mprotect");
	CHECK(syscall(SYS_arch_prctl, ARCH_SET_GS, cb) == 0, "arch_prctl");

	long (*kv)(long, long, long, long, long, long, long) = (void *)(base + stub[0]);
	CHECK(kv(SYS_getpid, 0, 0, 0, 0, 0, 0) == getpid(), "kernel_vsyscall getpid");
	/* All six arguments: a5 is the fd, a6 the page offset of the file. */
	char *m = (char *)kv(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	CHECK((unsigned long)m < -4095UL && memcmp(m, base + 4096, 64) == 0, "6-arg mmap via kernel_vsyscall: %p", m);
	CHECK(kv(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 1) == -EINVAL, "a6 not passed");
	CHECK(kv(SYS_close, -1, 0, 0, 0, 0, 0) == -EBADF, "raw -errno result");

	int (*cg)(clockid_t, struct timespec *) = (void *)(base + stub[1]);
	struct timespec a, b, c;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK(cg(CLOCK_MONOTONIC, &b) == 0, "clock_gettime");
	clock_gettime(CLOCK_MONOTONIC, &c);
	CHECK((b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec)) &&
	      (c.tv_sec > b.tv_sec || (c.tv_sec == b.tv_sec && c.tv_nsec >= b.tv_nsec)), "clock not monotonic");
	CHECK(cg(-12345, &b) == -EINVAL, "clock_gettime bad clock");

	int (*gtod)(struct timeval *, void *) = (void *)(base + stub[2]);
	struct timeval tv = {0};
	CHECK(gtod(&tv, 0) == 0 && tv.tv_sec > 1000000000, "gettimeofday");

	time_t (*tm)(time_t *) = (void *)(base + stub[3]);
	time_t t0 = time(0), t1 = tm(0), t2 = time(0);
	CHECK(t0 <= t1 && t1 <= t2, "time %ld %ld %ld", (long)t0, (long)t1, (long)t2);

	long (*gc)(unsigned *, unsigned *, void *) = (void *)(base + stub[4]);
	unsigned cpu = ~0u, node = ~0u;
	CHECK(gc(&cpu, &node, 0) == 0 && cpu < 4096, "getcpu");

	int (*gr)(clockid_t, struct timespec *) = (void *)(base + stub[5]);
	struct timespec res = {0};
	CHECK(gr(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec || res.tv_nsec), "clock_getres");

	long want[NT] = {0, 2, 1, 1, 1, 1};
	uint64_t total = 0;
	for (int i = 0; i < 131072 / 8; i++) total += cb[i];
	for (int i = 1; i < NT; i++)
		CHECK(cb[ctr[i] / 8] == (uint64_t)want[i], "%s counted %lu, want %ld", names[i],
		      (unsigned long)cb[ctr[i] / 8], want[i]);
	CHECK(total == 6, "control block total %lu: something else was written", (unsigned long)total);
	if (fails) return 1;
	printf("PASS\n");
	return 0;
}
`

func TestExecuteStubs(t *testing.T) {
	gcc := needTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	bin := filepath.Join(dir, "probe")
	if err := os.WriteFile(src, []byte(execProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O1", "-Wall", "-o", bin, src, "-ldl", "-lgcc_s").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	im := mustBuild(t)
	args := []string{dumpImage(t, im)}
	hex := func(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
	for _, tg := range Targets {
		fb, _ := im.FallbackOffset(tg)
		var ctr uint64
		if nr := tg.Syscall(); nr >= 0 {
			ctr = uint64(cblock.CounterOffset(nr, cblock.KindVDSO))
		}
		args = append(args, hex(im.StubOffset(tg)), hex(fb), hex(im.SlotOffset(tg)), hex(ctr))
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("probe: %v\n%s", err, out)
	}
}
