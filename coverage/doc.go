// Package coverage is the coverage report: its schema (Report, JSON),
// building it from what a run counted as plain values (Build, from
// rundir.ReadInput), merge, diff and check, the text and HTML renderings,
// seccomp profiles of the syscalls a guest made, and the symbols of its
// call sites (ELF, DWARF).
//
// It imports no cgo package and nothing of vsysbed's: package bed and its
// users' tests use it without linking vsysbed's C and assembly.
package coverage
