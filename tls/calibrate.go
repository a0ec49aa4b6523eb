package tls

/*
#include <stdint.h>

uint64_t vsysbed_cal_wrfsbase(long n);
uint64_t vsysbed_cal_arch_prctl(long n);
uint64_t vsysbed_cal_callback(long n);
void vsysbed_cal_nop(void);
uint64_t vsysbed_cal_timing(void *block, long n, int timed);
*/
import "C"

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// CalibrateTimingOverhead is what timing adds to one call, in TSC
// cycles: entries counted and timed less entries counted only, as the
// bypass entry makes them, into a scratch control block; n entries of
// each in rounds of 10,000, the fastest round of each, so that a
// preemption or a busy sibling thread does not count.
func CalibrateTimingOverhead(n int) (float64, error) {
	const round = 10000
	mem, err := unix.Mmap(-1, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(mem)
	block := unsafe.Pointer(&mem[0])
	var on, off uint64 = ^uint64(0), ^uint64(0)
	for range max(n/round, 7) {
		on = min(on, uint64(C.vsysbed_cal_timing(block, round, 1)))
		off = min(off, uint64(C.vsysbed_cal_timing(block, round, 0)))
	}
	return (float64(on) - float64(off)) / round, nil
}

// vsysbedCalibrateNop is what calibrate's cgo callbacks call.
//
//export vsysbedCalibrateNop
func vsysbedCalibrateNop() {}

// CalibrateWRFSBASE is the cycles of n FS loads with wrfsbase; ok is false
// where the kernel does not allow the instruction (no FSGSBASE).
func CalibrateWRFSBASE(n int) (cycles uint64, ok bool) {
	if !hostHasFSGSBASE() {
		return 0, false
	}
	return uint64(C.vsysbed_cal_wrfsbase(C.long(n))), true
}

// CalibrateArchPrctl is the cycles of n FS loads with arch_prctl.
func CalibrateArchPrctl(n int) uint64 { return uint64(C.vsysbed_cal_arch_prctl(C.long(n))) }

// CalibrateCallback is the cycles of n calls from C into Go.
func CalibrateCallback(n int) uint64 { return uint64(C.vsysbed_cal_callback(C.long(n))) }

// CalibrateCgoCall is the cycles of n calls from Go into C.
func CalibrateCgoCall(n int) uint64 {
	t0 := Rdtsc()
	for range n {
		C.vsysbed_cal_nop()
	}
	return Rdtsc() - t0
}
