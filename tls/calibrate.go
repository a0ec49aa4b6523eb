package tls

/*
#include <stdint.h>

uint64_t vsysbed_cal_wrfsbase(long n);
uint64_t vsysbed_cal_arch_prctl(long n);
uint64_t vsysbed_cal_callback(long n);
void vsysbed_cal_nop(void);
*/
import "C"

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
