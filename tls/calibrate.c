/*
 * calibrate.c — the host mechanisms vsysbed calibrate times in its own
 * process (tls/calibrate.go), each n times, in TSC cycles for all n.
 */
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "entry.h"
#include "_cgo_export.h"

#define ARCH_GET_FS_ 0x1003
#define ARCH_SET_FS_ 0x1002

// FS loaded with wrfsbase (the entry's switch with FSGSBASE), its own
// value back, so Go's TLS stays where it is.
uint64_t vsysbed_cal_wrfsbase(long n)
{
	uint64_t fs;
	__asm__ volatile("rdfsbase %0" : "=r"(fs));
	uint64_t t0 = vsysbed_rdtsc();
	for (long i = 0; i < n; i++)
		__asm__ volatile("wrfsbase %0" : : "r"(fs) : "memory");
	return vsysbed_rdtsc() - t0;
}

// FS loaded with arch_prctl(ARCH_SET_FS): the switch without FSGSBASE.
uint64_t vsysbed_cal_arch_prctl(long n)
{
	uint64_t fs = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS_, &fs);
	uint64_t t0 = vsysbed_rdtsc();
	for (long i = 0; i < n; i++)
		syscall(SYS_arch_prctl, ARCH_SET_FS_, fs);
	return vsysbed_rdtsc() - t0;
}

// C calling into Go (a cgo callback), as every kernel-route call does
// (vsysbedKernelCall).
uint64_t vsysbed_cal_callback(long n)
{
	uint64_t t0 = vsysbed_rdtsc();
	for (long i = 0; i < n; i++)
		vsysbedCalibrateNop();
	return vsysbed_rdtsc() - t0;
}

void vsysbed_cal_nop(void) {}
