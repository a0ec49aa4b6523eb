/*
 * vecregs - checks that a raw `syscall` preserves the extended register
 * state, as Linux guarantees: every vector register, the x87 stack and
 * control word, MXCSR and the AVX-512 opmask registers, plus every
 * general-purpose register but rax (result), rcx and r11.
 *
 * Under vsysbed the raw syscall traps: SIGSYS, the kernel's sigreturn into
 * the trap trampoline, xsave, the route (a fast syscall or the Go kernel),
 * xrstor.  Any register that path forgets shows up here as a changed value.
 *
 * Each check is one asm block that loads known patterns, executes the
 * syscall and stores every register right after it, so the compiler has no
 * chance to touch a register between the syscall and the store.  The
 * patterns change on every round, so a stale restore (of an earlier round's
 * state) is caught too.  The AVX and AVX-512 blocks run only where the CPU
 * and kernel enable them (__builtin_cpu_supports checks XCR0 as well).
 *
 * Across clock_gettime through libc (the vDSO, no syscall under vsysbed
 * either) the ABI preserves only the callee-saved state; of that, the
 * x87 control word and MXCSR's control bits are what a trampoline could
 * lose, so those are checked.
 *
 * Last line: "OK vecregs" and exit 0, or "FAIL vecregs" and exit 1 after
 * one line per changed value (at most a screenful).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 1000

/*
 * Non-default control state: round toward zero and flush-to-zero in MXCSR
 * (default 0x1f80), round up and double precision in the x87 control word
 * (default 0x037f).  Exceptions stay masked.
 */
#define TEST_MXCSR 0xff80u
#define TEST_FCW 0x0a7fu

/* Byte offsets into struct regs, spelled out for the asm below. */
#define OFF_VEC 0    /* 32 registers x 64 bytes; xmm uses 16, ymm 32 */
#define OFF_GPR 2048 /* rdi rsi rdx r10 r8 r9 (the arguments), r12..r15 */
#define OFF_RAX 2128
#define OFF_K 2136 /* k0..k7; k1..k7 used (kmovw: low 16 bits) */
#define OFF_MXCSR 2152
#define OFF_FCW 2156
#define OFF_SAVED_MXCSR 2160
#define OFF_SAVED_FCW 2164
#define OFF_ST 2176 /* the values loaded into the x87 stack, 16 bytes apart */
#define OFF_OUT 2304 /* struct io: out follows in */

#define NGPR 10

struct regs {
	uint8_t vec[32][64];
	uint64_t gpr[NGPR];
	uint64_t rax;
	uint16_t k[8];
	uint32_t mxcsr;
	uint16_t fcw;
	uint16_t pad0;
	uint32_t saved_mxcsr;
	uint16_t saved_fcw;
	uint16_t pad1;
	long double st[8];
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct regs, gpr) == OFF_GPR, "OFF_GPR");
_Static_assert(offsetof(struct regs, rax) == OFF_RAX, "OFF_RAX");
_Static_assert(offsetof(struct regs, k) == OFF_K, "OFF_K");
_Static_assert(offsetof(struct regs, mxcsr) == OFF_MXCSR, "OFF_MXCSR");
_Static_assert(offsetof(struct regs, fcw) == OFF_FCW, "OFF_FCW");
_Static_assert(offsetof(struct regs, saved_mxcsr) == OFF_SAVED_MXCSR, "OFF_SAVED_MXCSR");
_Static_assert(offsetof(struct regs, saved_fcw) == OFF_SAVED_FCW, "OFF_SAVED_FCW");
_Static_assert(offsetof(struct regs, st) == OFF_ST, "OFF_ST");

/*
 * One base register for both: every other general-purpose register but
 * rbx and rbp is loaded with a pattern, so the compiler has only those
 * left for the asm's single pointer operand.
 */
struct io {
	struct regs in, out;
};

_Static_assert(offsetof(struct io, out) == OFF_OUT, "OFF_OUT");

static const char *const gpr_names[NGPR] = {
	"rdi", "rsi", "rdx", "r10", "r8", "r9", "r12", "r13", "r14", "r15",
};

#define S(x) #x
#define STR(x) S(x)

/*
 * IN(x) and OUT(x) address field offset x of io.in and io.out; %[p] is
 * the only register the compiler chooses, every other one the blocks use
 * is clobbered, so it cannot pick one we load.
 */
#define IN(x) x "(%[p])"
#define OUT(x) x "+" STR(OFF_OUT) "(%[p])"

/* Control words: save the caller's, load ours; afterwards the reverse. */
#define LOAD_CONTROL                                   \
	"fnstcw " OUT(STR(OFF_SAVED_FCW)) "\n\t"       \
	"stmxcsr " OUT(STR(OFF_SAVED_MXCSR)) "\n\t"    \
	"fldcw " IN(STR(OFF_FCW)) "\n\t"               \
	"ldmxcsr " IN(STR(OFF_MXCSR)) "\n\t"
#define STORE_CONTROL                                  \
	"fnstcw " OUT(STR(OFF_FCW)) "\n\t"             \
	"stmxcsr " OUT(STR(OFF_MXCSR)) "\n\t"          \
	"fldcw " OUT(STR(OFF_SAVED_FCW)) "\n\t"        \
	"ldmxcsr " OUT(STR(OFF_SAVED_MXCSR)) "\n\t"

/* The whole x87 stack; st(0) is the last value loaded, so pop in reverse. */
#define LOAD_ST(i) "fldt " IN(STR(OFF_ST) "+16*" #i) "\n\t"
#define STORE_ST(i) "fstpt " OUT(STR(OFF_ST) "+16*" #i) "\n\t"
#define LOAD_X87                                                        \
	LOAD_ST(0) LOAD_ST(1) LOAD_ST(2) LOAD_ST(3) LOAD_ST(4) LOAD_ST(5)  \
	LOAD_ST(6) LOAD_ST(7)
#define STORE_X87                                                       \
	STORE_ST(7) STORE_ST(6) STORE_ST(5) STORE_ST(4) STORE_ST(3)     \
	STORE_ST(2) STORE_ST(1) STORE_ST(0)

/* The syscall number and arguments, then r12..r15 with patterns. */
#define GPR(i) STR(OFF_GPR) "+8*" #i
#define LOAD_GPR(i, r) "movq " IN(GPR(i)) ", %%" r "\n\t"
#define STORE_GPR(i, r) "movq %%" r ", " OUT(GPR(i)) "\n\t"
#define ALL_GPRS(M)                                                      \
	M(0, "rdi") M(1, "rsi") M(2, "rdx") M(3, "r10") M(4, "r8")       \
	M(5, "r9") M(6, "r12") M(7, "r13") M(8, "r14") M(9, "r15")
#define LOAD_GPRS ALL_GPRS(LOAD_GPR) "movq " IN(STR(OFF_RAX)) ", %%rax\n\t"
#define STORE_GPRS ALL_GPRS(STORE_GPR) "movq %%rax, " OUT(STR(OFF_RAX)) "\n\t"

#define FOR16(M)                                                         \
	M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)     \
	M(12) M(13) M(14) M(15)
#define FOR32(M)                                                         \
	FOR16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24)    \
	M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define FOR_K(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

#define VEC(i) STR(OFF_VEC) "+64*" #i
#define LOAD_XMM(i) "movdqu " IN(VEC(i)) ", %%xmm" #i "\n\t"
#define STORE_XMM(i) "movdqu %%xmm" #i ", " OUT(VEC(i)) "\n\t"
#define LOAD_YMM(i) "vmovdqu " IN(VEC(i)) ", %%ymm" #i "\n\t"
#define STORE_YMM(i) "vmovdqu %%ymm" #i ", " OUT(VEC(i)) "\n\t"
#define LOAD_ZMM(i) "vmovdqu64 " IN(VEC(i)) ", %%zmm" #i "\n\t"
#define STORE_ZMM(i) "vmovdqu64 %%zmm" #i ", " OUT(VEC(i)) "\n\t"
#define LOAD_K(i) "kmovw " IN(STR(OFF_K) "+2*" #i) ", %%k" #i "\n\t"
#define STORE_K(i) "kmovw %%k" #i ", " OUT(STR(OFF_K) "+2*" #i) "\n\t"

#define GPR_CLOBBERS                                                     \
	"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", \
	"r13", "r14", "r15"
#define X87_CLOBBERS \
	"st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"
#define XMM_CLOBBERS                                                      \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",   \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/*
 * Legacy SSE stores leave the upper ymm halves alone, so this block also
 * runs on CPUs without AVX.
 */
__attribute__((noinline)) static void syscall_sse(struct io *p)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR16(LOAD_XMM) LOAD_GPRS
			 "syscall\n\t"
			 STORE_GPRS FOR16(STORE_XMM) STORE_X87 STORE_CONTROL
			 :
			 : [p] "r"(p)
			 : GPR_CLOBBERS, X87_CLOBBERS, XMM_CLOBBERS, "memory",
			   "cc");
}

__attribute__((noinline, target("avx2"))) static void syscall_avx(struct io *p)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR16(LOAD_YMM) LOAD_GPRS
			 "syscall\n\t"
			 STORE_GPRS FOR16(STORE_YMM) STORE_X87 STORE_CONTROL
			 "vzeroupper\n\t"
			 :
			 : [p] "r"(p)
			 : GPR_CLOBBERS, X87_CLOBBERS, XMM_CLOBBERS, "memory",
			   "cc");
}

__attribute__((noinline, target("avx512f"))) static void
syscall_avx512(struct io *p)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR32(LOAD_ZMM) FOR_K(LOAD_K)
			 LOAD_GPRS
			 "syscall\n\t"
			 STORE_GPRS FOR32(STORE_ZMM) FOR_K(STORE_K) STORE_X87
			 STORE_CONTROL
			 "vzeroupper\n\t"
			 :
			 : [p] "r"(p)
			 : GPR_CLOBBERS, X87_CLOBBERS, XMM_CLOBBERS, "xmm16",
			   "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
			   "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
			   "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5",
			   "k6", "k7", "memory", "cc");
}

enum width { SSE, AVX, AVX512 };

static const struct variant {
	const char *name;
	int nvec, vecbytes, nk;
	void (*run)(struct io *);
} variants[] = {
	[SSE] = { "sse", 16, 16, 0, syscall_sse },
	[AVX] = { "avx", 16, 32, 0, syscall_avx },
	[AVX512] = { "avx512", 32, 64, 7, syscall_avx512 },
};

static int failures;

__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
	if (++failures > 40)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finaliser: distinct, unstructured words per seed. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill(struct regs *in, int round, long nr, const long args[6])
{
	memset(in, 0, sizeof *in);
	for (int r = 0; r < 32; r++)
		for (int w = 0; w < 8; w++) {
			uint64_t v = mix((uint64_t)round << 16 | r << 8 | w);
			memcpy(&in->vec[r][w * 8], &v, 8);
		}
	for (int i = 0; i < 6; i++)
		in->gpr[i] = (uint64_t)args[i];
	for (int i = 6; i < NGPR; i++)
		in->gpr[i] = mix((uint64_t)round << 8 | i | 0x5a0000);
	in->rax = (uint64_t)nr;
	for (int i = 1; i < 8; i++)
		in->k[i] = (uint16_t)mix((uint64_t)round << 8 | i);
	in->mxcsr = TEST_MXCSR;
	in->fcw = TEST_FCW;
	for (int i = 0; i < 8; i++)
		in->st[i] = (long double)(round * 8 + i) + 0.375L;
}

static void compare(const struct variant *v, const char *call, int round,
		    const struct regs *in, const struct regs *out, long want_rax)
{
	const char *reg = v->vecbytes == 64 ? "zmm" : v->vecbytes == 32 ? "ymm" : "xmm";
	for (int r = 0; r < v->nvec; r++)
		for (int b = 0; b < v->vecbytes; b++)
			if (in->vec[r][b] != out->vec[r][b]) {
				report("%s %s round %d: %s%d byte %d is 0x%02x, was 0x%02x\n",
				       v->name, call, round, reg, r, b,
				       out->vec[r][b], in->vec[r][b]);
				break;
			}
	for (int i = 1; i <= v->nk; i++)
		if (in->k[i] != out->k[i])
			report("%s %s round %d: k%d is %#x, was %#x\n", v->name,
			       call, round, i, out->k[i], in->k[i]);
	for (int i = 0; i < NGPR; i++)
		if (in->gpr[i] != out->gpr[i])
			report("%s %s round %d: %s is %#llx, was %#llx\n", v->name,
			       call, round, gpr_names[i],
			       (unsigned long long)out->gpr[i],
			       (unsigned long long)in->gpr[i]);
	if ((long)out->rax != want_rax)
		report("%s %s round %d: result %ld, want %ld\n", v->name, call,
		       round, (long)out->rax, want_rax);
	if (out->mxcsr != in->mxcsr)
		report("%s %s round %d: MXCSR is %#x, was %#x\n", v->name, call,
		       round, out->mxcsr, in->mxcsr);
	if (out->fcw != in->fcw)
		report("%s %s round %d: x87 control word is %#x, was %#x\n",
		       v->name, call, round, out->fcw, in->fcw);
	for (int i = 0; i < 8; i++)
		if (memcmp(&in->st[i], &out->st[i], 10) != 0)
			report("%s %s round %d: st(%d) is %Lg, was %Lg\n", v->name,
			       call, round, 7 - i, out->st[i], in->st[i]);
}

/* Callee-saved control state across a libc call into the vDSO. */
static void check_clock_gettime(int round)
{
	uint32_t saved_mxcsr, mxcsr = TEST_MXCSR, got_mxcsr;
	uint16_t saved_fcw, fcw = TEST_FCW, got_fcw;
	struct timespec ts;

	__asm__ volatile("stmxcsr %0\n\tfnstcw %1\n\tldmxcsr %2\n\tfldcw %3"
			 : "=m"(saved_mxcsr), "=m"(saved_fcw)
			 : "m"(mxcsr), "m"(fcw));
	int r = clock_gettime(CLOCK_MONOTONIC, &ts);
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1\n\tldmxcsr %2\n\tfldcw %3"
			 : "=m"(got_mxcsr), "=m"(got_fcw)
			 : "m"(saved_mxcsr), "m"(saved_fcw));
	if (r != 0)
		report("clock_gettime round %d: returned %d\n", round, r);
	if (got_mxcsr != mxcsr)
		report("clock_gettime round %d: MXCSR is %#x, was %#x\n", round,
		       got_mxcsr, mxcsr);
	if (got_fcw != fcw)
		report("clock_gettime round %d: x87 control word is %#x, was %#x\n",
		       round, got_fcw, fcw);
}

int main(void)
{
	static struct io io;
	int have[3] = { 1, 0, 0 };

	__builtin_cpu_init();
	have[AVX] = __builtin_cpu_supports("avx2");
	have[AVX512] = __builtin_cpu_supports("avx512f");

	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0) {
		printf("FAIL vecregs: cannot open /dev/null\n");
		return 1;
	}
	long pid = getpid();
	static const char byte = 'x';

	for (int round = 0; round < ROUNDS; round++) {
		for (int w = SSE; w <= AVX512; w++) {
			if (!have[w])
				continue;
			const struct variant *v = &variants[w];
			/*
			 * getpid ignores its arguments: patterns in all six
			 * argument registers.
			 */
			long pat[6];
			for (int i = 0; i < 6; i++)
				pat[i] = (long)mix((uint64_t)round << 4 | i | 0xa000);
			fill(&io.in, round * 3 + w, SYS_getpid, pat);
			memset(&io.out, 0, sizeof io.out);
			v->run(&io);
			compare(v, "getpid", round, &io.in, &io.out, pid);

			long wargs[6] = { devnull, (long)&byte, 1, pat[3], pat[4], pat[5] };
			fill(&io.in, round * 3 + w + 100000, SYS_write, wargs);
			memset(&io.out, 0, sizeof io.out);
			v->run(&io);
			compare(v, "write", round, &io.in, &io.out, 1);
		}
		check_clock_gettime(round);
	}
	close(devnull);

	if (failures > 40)
		printf("... %d more\n", failures - 40);
	printf("vecregs: %d rounds of getpid and write:%s%s%s; clock_gettime\n",
	       ROUNDS, " sse x87", have[AVX] ? " avx" : "",
	       have[AVX512] ? " avx512" : "");
	printf("%s vecregs\n", failures ? "FAIL" : "OK");
	return failures ? 1 : 0;
}
