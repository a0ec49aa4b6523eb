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
#define OFF_GPR 2048 /* rdi rsi rdx r10 r8 r9, then rbx r12..r15 */
#define OFF_RAX 2136
#define OFF_K 2144 /* k1..k7 (kmovw: low 16 bits) */
#define OFF_MXCSR 2160
#define OFF_FCW 2164
#define OFF_SAVED_MXCSR 2168
#define OFF_SAVED_FCW 2172
#define OFF_ST 2176 /* st(0)..st(7) as 80-bit values, 16 bytes apart */

#define NGPR 11

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

static const char *const gpr_names[NGPR] = {
	"rdi", "rsi", "rdx", "r10", "r8", "r9", "rbx", "r12", "r13", "r14", "r15",
};

#define S(x) #x
#define STR(x) S(x)

/*
 * Prologue and epilogue shared by the three blocks: control words, the
 * x87 stack, opmask-free GPRs.  %[in] and %[out] are the only registers the
 * compiler chooses; every other one is clobbered, so it cannot pick one we
 * load.  rbx and r12..r15 hold the base pointers' only alternatives, so
 * they are saved on the stack below the red zone... which we avoid instead
 * by checking only the syscall argument registers among GPRs in asm and
 * rbp/rbx/r12..r15 through the compiler (they are callee-saved).
 */
#define LOAD_CONTROL                                           \
	"fnstcw " STR(OFF_SAVED_FCW) "(%[out])\n\t"            \
	"stmxcsr " STR(OFF_SAVED_MXCSR) "(%[out])\n\t"         \
	"fldcw " STR(OFF_FCW) "(%[in])\n\t"                    \
	"ldmxcsr " STR(OFF_MXCSR) "(%[in])\n\t"

#define LOAD_ST(i) "fldt " STR(OFF_ST) "+16*" #i "(%[in])\n\t"
#define LOAD_X87                                                       \
	LOAD_ST(0) LOAD_ST(1) LOAD_ST(2) LOAD_ST(3) LOAD_ST(4) LOAD_ST(5) \
	LOAD_ST(6) LOAD_ST(7)
/* st(0) is the last value loaded: pop in reverse order. */
#define STORE_ST(i) "fstpt " STR(OFF_ST) "+16*" #i "(%[out])\n\t"
#define STORE_X87                                                        \
	STORE_ST(7) STORE_ST(6) STORE_ST(5) STORE_ST(4) STORE_ST(3)      \
	STORE_ST(2) STORE_ST(1) STORE_ST(0)

#define LOAD_ARGS                                              \
	"movq " STR(OFF_GPR) "+0(%[in]), %%rdi\n\t"            \
	"movq " STR(OFF_GPR) "+8(%[in]), %%rsi\n\t"            \
	"movq " STR(OFF_GPR) "+16(%[in]), %%rdx\n\t"           \
	"movq " STR(OFF_GPR) "+24(%[in]), %%r10\n\t"           \
	"movq " STR(OFF_GPR) "+32(%[in]), %%r8\n\t"            \
	"movq " STR(OFF_GPR) "+40(%[in]), %%r9\n\t"            \
	"movq " STR(OFF_RAX) "(%[in]), %%rax\n\t"

#define STORE_ARGS                                             \
	"movq %%rdi, " STR(OFF_GPR) "+0(%[out])\n\t"           \
	"movq %%rsi, " STR(OFF_GPR) "+8(%[out])\n\t"           \
	"movq %%rdx, " STR(OFF_GPR) "+16(%[out])\n\t"          \
	"movq %%r10, " STR(OFF_GPR) "+24(%[out])\n\t"          \
	"movq %%r8, " STR(OFF_GPR) "+32(%[out])\n\t"           \
	"movq %%r9, " STR(OFF_GPR) "+40(%[out])\n\t"           \
	"movq %%rax, " STR(OFF_RAX) "(%[out])\n\t"

#define STORE_CONTROL                                          \
	"fnstcw " STR(OFF_FCW) "(%[out])\n\t"                  \
	"stmxcsr " STR(OFF_MXCSR) "(%[out])\n\t"               \
	"fldcw " STR(OFF_SAVED_FCW) "(%[out])\n\t"             \
	"ldmxcsr " STR(OFF_SAVED_MXCSR) "(%[out])\n\t"

#define GPR_CLOBBERS "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"
#define X87_CLOBBERS \
	"st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"
#define XMM_CLOBBERS                                                      \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",   \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

#define FOR16(M)                                                         \
	M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)     \
	M(12) M(13) M(14) M(15)
#define FOR32(M)                                                         \
	FOR16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24)    \
	M(25) M(26) M(27) M(28) M(29) M(30) M(31)

#define LOAD_XMM(i) "movdqu " #i "*64(%[in]), %%xmm" #i "\n\t"
#define STORE_XMM(i) "movdqu %%xmm" #i ", " #i "*64(%[out])\n\t"
#define LOAD_YMM(i) "vmovdqu " #i "*64(%[in]), %%ymm" #i "\n\t"
#define STORE_YMM(i) "vmovdqu %%ymm" #i ", " #i "*64(%[out])\n\t"
#define LOAD_ZMM(i) "vmovdqu64 " #i "*64(%[in]), %%zmm" #i "\n\t"
#define STORE_ZMM(i) "vmovdqu64 %%zmm" #i ", " #i "*64(%[out])\n\t"

#define LOAD_K(i) "kmovw " STR(OFF_K) "+2*" #i "(%[in]), %%k" #i "\n\t"
#define STORE_K(i) "kmovw %%k" #i ", " STR(OFF_K) "+2*" #i "(%[out])\n\t"
#define FORK(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((noinline)) static void syscall_sse(const struct regs *in,
						  struct regs *out)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR16(LOAD_XMM) LOAD_ARGS
			 "syscall\n\t"
			 STORE_ARGS FOR16(STORE_XMM) STORE_X87 STORE_CONTROL
			 :
			 : [in] "r"(in), [out] "r"(out)
			 : GPR_CLOBBERS, X87_CLOBBERS, XMM_CLOBBERS, "memory",
			   "cc");
}

__attribute__((noinline, target("avx2"))) static void
syscall_avx(const struct regs *in, struct regs *out)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR16(LOAD_YMM) LOAD_ARGS
			 "syscall\n\t"
			 STORE_ARGS FOR16(STORE_YMM) STORE_X87 STORE_CONTROL
			 "vzeroupper\n\t"
			 :
			 : [in] "r"(in), [out] "r"(out)
			 : GPR_CLOBBERS, X87_CLOBBERS, XMM_CLOBBERS, "memory",
			   "cc");
}

__attribute__((noinline, target("avx512f"))) static void
syscall_avx512(const struct regs *in, struct regs *out)
{
	__asm__ volatile(LOAD_CONTROL LOAD_X87 FOR32(LOAD_ZMM) FORK(LOAD_K)
			 LOAD_ARGS
			 "syscall\n\t"
			 STORE_ARGS FOR32(STORE_ZMM) FORK(STORE_K) STORE_X87
			 STORE_CONTROL
			 "vzeroupper\n\t"
			 :
			 : [in] "r"(in), [out] "r"(out)
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
	void (*run)(const struct regs *, struct regs *);
} variants[] = {
	[SSE] = { "sse", 16, 16, 0, syscall_sse },
	[AVX] = { "avx", 16, 32, 0, syscall_avx },
	[AVX512] = { "avx512", 32, 64, 7, syscall_avx512 },
};

static int failures;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#include <stdarg.h>
static void report(const char *fmt, ...)
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
				report("%s %s round %d: %s%d byte %d is %#04x, was %#04x\n",
				       v->name, call, round, reg, r, b,
				       out->vec[r][b], in->vec[r][b]);
				break;
			}
	for (int i = 1; i <= v->nk; i++)
		if (in->k[i] != out->k[i])
			report("%s %s round %d: k%d is %#x, was %#x\n", v->name,
			       call, round, i, out->k[i], in->k[i]);
	for (int i = 0; i < 6; i++)
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
	static struct regs in, out;
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
			fill(&in, round * 3 + w, SYS_getpid, pat);
			memset(&out, 0, sizeof out);
			v->run(&in, &out);
			compare(v, "getpid", round, &in, &out, pid);

			long wargs[6] = { devnull, (long)&byte, 1, pat[3], pat[4], pat[5] };
			fill(&in, round * 3 + w + 100000, SYS_write, wargs);
			memset(&out, 0, sizeof out);
			v->run(&in, &out);
			compare(v, "write", round, &in, &out, 1);
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
