package tls

/*
#include <stdint.h>
#include <time.h>
#include <cpuid.h>
#include "entry.h"

// The TSC's frequency from cpuid, 0 when the CPU does not say: leaf 0x15
// (crystal clock and TSC/crystal ratio; Intel since Skylake), else the
// hypervisor's timing leaf 0x40000010 (TSC kHz: VMware, KVM with the
// option, most clouds).
static uint64_t vsysbed_cpuid_tsc_hz(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid_max(0, 0) >= 0x15) {
		__cpuid_count(0x15, 0, a, b, c, d);
		if (a && b && c)
			return (uint64_t)c * b / a;
	}
	__cpuid(1, a, b, c, d);
	if (c & (1u << 31)) { // a hypervisor is present
		__cpuid(0x40000000, a, b, c, d);
		if (a >= 0x40000010) {
			__cpuid(0x40000010, a, b, c, d);
			if (a)
				return (uint64_t)a * 1000;
		}
	}
	return 0;
}

// One (TSC, CLOCK_MONOTONIC ns) pair, the clock read between two rdtscs
// and the pair taken when those lie closest together (no interrupt).
static void vsysbed_tsc_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = ~0ULL;
	for (int i = 0; i < 16; i++) {
		struct timespec ts;
		uint64_t t0 = vsysbed_rdtsc();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t t1 = vsysbed_rdtsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		}
	}
}

// Is the TSC invariant (cpuid 0x80000007 edx bit 8): one rate in every
// P-, C- and T-state, so cycles convert to time?
static int vsysbed_tsc_invariant(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid_max(0x80000000, 0) < 0x80000007)
		return 0;
	__cpuid(0x80000007, a, b, c, d);
	return (d >> 8) & 1;
}
*/
import "C"

import "time"

// SetTiming turns the timing of calls on or off for this process
// (--timing=on|off): with it off the C entry reads no TSC and the shards'
// cycles stay 0.
func SetTiming(on bool) {
	if on {
		C.vsysbed_timing = 1
	} else {
		C.vsysbed_timing = 0
	}
}

// Timing reports whether SetTiming left timing on.
func Timing() bool { return C.vsysbed_timing != 0 }

// Rdtsc reads the time-stamp counter.
func Rdtsc() uint64 { return uint64(C.vsysbed_rdtsc()) }

// TSCInvariant reports whether the CPU says its TSC runs at one rate
// whatever the power state (cpuid 0x80000007 EDX bit 8).
func TSCInvariant() bool { return C.vsysbed_tsc_invariant() != 0 }

// TSC sources, as the report names them (coverage.Timing.TSCSource).
const (
	TSCFromCPUID    = "cpuid"
	TSCFromMeasured = "measured"
)

// CPUIDTSCHz is the TSC frequency cpuid states, 0 when it states none.
func CPUIDTSCHz() uint64 { return uint64(C.vsysbed_cpuid_tsc_hz()) }

// MeasureTSCHz measures the TSC frequency against CLOCK_MONOTONIC over
// about d: two (TSC, clock) pairs, each taken where the two TSC reads
// around the clock read lie closest, so the error is a few cycles over d
// (1 ms: ~1e-5).
func MeasureTSCHz(d time.Duration) uint64 {
	var t0, n0, t1, n1 C.uint64_t
	C.vsysbed_tsc_pair(&t0, &n0)
	time.Sleep(d)
	C.vsysbed_tsc_pair(&t1, &n1)
	if n1 <= n0 || t1 <= t0 {
		return 0
	}
	return uint64(float64(t1-t0) * 1e9 / float64(n1-n0))
}
