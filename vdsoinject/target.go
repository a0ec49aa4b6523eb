// Package vdsoinject builds the synthetic vDSO that guests find through
// AT_SYSINFO_EHDR, maps it into the host process, and locates the host's own
// vDSO functions that the synthetic one forwards to.
//
// The image is a complete ELF64 shared object linked at address 0, like the
// kernel's: libc loaders (glibc's setup_vdso, musl's __vdsosym) treat it as a
// real link map at start-up, so every table they read is generated exactly.
// Its code is a set of tail-jump stubs through 64-bit slots that Map fills
// once the destinations (the host's bypass entry, the host vDSO) are known,
// then makes read-only.
package vdsoinject

import "fmt"

// Target names one function the synthetic vDSO exports.
type Target int

// The exported functions, in slot order.
const (
	KernelVsyscall Target = iota
	ClockGettime
	Gettimeofday
	Time
	Getcpu
	ClockGetres
	numTargets
)

// Targets lists every Target in slot order.
var Targets = []Target{KernelVsyscall, ClockGettime, Gettimeofday, Time, Getcpu, ClockGetres}

type targetInfo struct {
	symbol string // versioned LINUX_2.6 global name
	alias  string // weak alias Linux also exports, "" if none
	nr     int    // x86-64 syscall number the fallback issues; -1: nr comes in rdi
}

var targetTable = [numTargets]targetInfo{
	KernelVsyscall: {"__kernel_vsyscall", "", -1},
	ClockGettime:   {"__vdso_clock_gettime", "clock_gettime", 228},
	Gettimeofday:   {"__vdso_gettimeofday", "gettimeofday", 96},
	Time:           {"__vdso_time", "time", 201},
	Getcpu:         {"__vdso_getcpu", "getcpu", 309},
	ClockGetres:    {"__vdso_clock_getres", "clock_getres", 229},
}

func (t Target) valid() bool { return t >= 0 && t < numTargets }

// Symbol is the LINUX_2.6 name the target is exported under.
func (t Target) Symbol() string {
	if !t.valid() {
		return ""
	}
	return targetTable[t].symbol
}

// Alias is the weak plain-libc name Linux also exports ("clock_gettime"),
// or "" for __kernel_vsyscall.
func (t Target) Alias() string {
	if !t.valid() {
		return ""
	}
	return targetTable[t].alias
}

// Syscall is the syscall number a time stub counts and falls back to, or
// -1 for KernelVsyscall, whose number arrives in rdi.
func (t Target) Syscall() int {
	if !t.valid() {
		return -1
	}
	return targetTable[t].nr
}

func (t Target) String() string {
	if !t.valid() {
		return fmt.Sprintf("Target(%d)", int(t))
	}
	return targetTable[t].symbol
}
