//go:build !vsysbed_weakfilter

package bpf

// weakenedSyscalls are syscalls the trap filter lets guest code execute
// natively. Always empty in a real build: see weaken_testbuild.go.
var weakenedSyscalls []uint32
