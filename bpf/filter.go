// Package bpf builds, assembles and installs the seccomp filter that lets the
// host's own code make syscalls and turns every raw syscall from anywhere
// else (guest code) into SIGSYS, and switches Syscall User Dispatch, the
// per-thread alternative to that filter.
package bpf

import (
	"errors"
	"fmt"
	"slices"

	netbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Range is the half-open address range [Start, End).
type Range struct{ Start, End uint64 }

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS); seccomp rejects anything longer with EINVAL.
const MaxInstructions = unix.BPF_MAXINSNS

var (
	// ErrInvalidRange reports a Range with Start >= End.
	ErrInvalidRange = errors.New("bpf: invalid address range")
	// ErrProgramTooLong reports a filter beyond MaxInstructions, i.e. too
	// many disjoint host code ranges.
	ErrProgramTooLong = errors.New("bpf: filter exceeds the BPF instruction limit")
)

// Offsets into struct seccomp_data (linux/seccomp.h). The instruction
// pointer is a little-endian u64 that classic BPF can only read as two
// 32-bit words.
const (
	offNr     = 0
	offArch   = 4
	offIPLow  = 8
	offIPHigh = 12
)

// x32SyscallBit marks x32 ABI calls. They arrive with arch
// AUDIT_ARCH_X86_64 and share the native table for most numbers, so a
// filter that only checks arch can be bypassed with nr|0x40000000.
const x32SyscallBit = 0x40000000

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retTrap  = unix.SECCOMP_RET_TRAP
)

// maxSkip is the reach of a conditional jump: its offsets are 8-bit.
const maxSkip = 255

// TrapFilter returns a seccomp program that traps a foreign architecture's
// call (int $0x80: AUDIT_ARCH_I386) and an x32 call from anywhere, allows a
// syscall whose instruction pointer lies inside one of allowed, and
// answers SECCOMP_RET_TRAP for the rest. The first two are never allowed,
// not even from host code (the x32 bypass), and never kill: the SIGSYS
// handler answers them as Linux would (tls/entry.c), so a guest cannot
// kill its host with syscall(-1) or int $0x80.
// The ranges may be unsorted and overlapping; an empty list traps every
// syscall.
func TrapFilter(allowed []Range) ([]netbpf.Instruction, error) {
	merged, err := mergeRanges(allowed)
	if err != nil {
		return nil, err
	}
	prog := []netbpf.Instruction{
		netbpf.LoadAbsolute{Off: offArch, Size: 4},
		netbpf.JumpIf{Cond: netbpf.JumpEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 1},
		netbpf.RetConstant{Val: retTrap},
		netbpf.LoadAbsolute{Off: offNr, Size: 4},
		netbpf.JumpIf{Cond: netbpf.JumpBitsSet, Val: x32SyscallBit, SkipFalse: 1},
		netbpf.RetConstant{Val: retTrap},
	}
	for _, nr := range weakenedSyscalls {
		prog = append(prog,
			netbpf.JumpIf{Cond: netbpf.JumpEqual, Val: nr, SkipFalse: 1},
			netbpf.RetConstant{Val: retAllow})
	}
	for _, g := range groupPieces(merged) {
		prog = append(prog, g.emit()...)
		if len(prog) >= MaxInstructions {
			break
		}
	}
	prog = append(prog, netbpf.RetConstant{Val: retTrap})
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("%w: %d ranges need more than %d instructions", ErrProgramTooLong, len(merged), MaxInstructions)
	}
	return prog, nil
}

// MergeRanges validates, sorts and coalesces overlapping or touching ranges
// (exported for the audit package).
func MergeRanges(in []Range) ([]Range, error) { return mergeRanges(in) }

// mergeRanges validates, sorts and coalesces overlapping or touching ranges,
// so the pieces emitted later are disjoint (emit relies on that).
func mergeRanges(in []Range) ([]Range, error) {
	for _, r := range in {
		if r.Start >= r.End {
			return nil, fmt.Errorf("%w: [%#x, %#x)", ErrInvalidRange, r.Start, r.End)
		}
	}
	sorted := slices.Clone(in)
	slices.SortFunc(sorted, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	var out []Range
	for _, r := range sorted {
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// piece is a range cut along 4 GiB boundaries: every address whose high
// word is in [hiFirst, hiLast] and low word in [loFirst, loLast]
// (inclusive bounds, so a full word needs no 2^32). A piece spanning
// several high words always covers their whole low word.
type piece struct {
	hiFirst, hiLast uint32
	loFirst, loLast uint32
}

const wordMax = 0xffffffff

func splitRange(r Range) []piece {
	last := r.End - 1
	hs, ls := uint32(r.Start>>32), uint32(r.Start)
	he, le := uint32(last>>32), uint32(last)
	if hs == he {
		return []piece{{hs, hs, ls, le}}
	}
	var out []piece
	spanFirst, spanLast := hs, he
	if ls != 0 {
		out = append(out, piece{hs, hs, ls, wordMax})
		spanFirst++
	}
	var tail []piece
	if le != wordMax {
		tail = append(tail, piece{he, he, 0, le})
		spanLast--
	}
	if spanFirst <= spanLast {
		out = append(out, piece{spanFirst, spanLast, 0, wordMax})
	}
	return append(out, tail...)
}

// group is either one multi-word span or all pieces sharing one high word.
type group struct {
	pieces []piece
}

func groupPieces(ranges []Range) []group {
	var out []group
	for _, r := range ranges {
		for _, p := range splitRange(r) {
			n := len(out)
			if p.hiFirst == p.hiLast && n > 0 {
				prev := out[n-1].pieces[0]
				if prev.hiFirst == prev.hiLast && prev.hiFirst == p.hiFirst {
					out[n-1].pieces = append(out[n-1].pieces, p)
					continue
				}
			}
			out = append(out, group{pieces: []piece{p}})
		}
	}
	return out
}

// emit tests the high word once per group and the low words only inside
// the matching group. Each piece carries its own "ret ALLOW", so the
// conditional jumps inside a group skip at most two instructions; only the
// jump over a whole group can be long, and that one becomes a ja (32-bit
// offset) when it is.
func (g group) emit() []netbpf.Instruction {
	loadHigh := netbpf.LoadAbsolute{Off: offIPHigh, Size: 4}
	if p := g.pieces[0]; p.hiFirst != p.hiLast {
		prog := []netbpf.Instruction{loadHigh}
		if p.hiFirst > 0 {
			skip := uint8(1)
			if p.hiLast < wordMax {
				skip = 2
			}
			prog = append(prog, netbpf.JumpIf{Cond: netbpf.JumpLessThan, Val: p.hiFirst, SkipTrue: skip})
		}
		if p.hiLast < wordMax {
			prog = append(prog, netbpf.JumpIf{Cond: netbpf.JumpGreaterThan, Val: p.hiLast, SkipTrue: 1})
		}
		return append(prog, netbpf.RetConstant{Val: retAllow})
	}

	body := []netbpf.Instruction{netbpf.LoadAbsolute{Off: offIPLow, Size: 4}}
	for _, p := range g.pieces {
		if p.loFirst > 0 {
			skip := uint8(1)
			if p.loLast < wordMax {
				skip = 2
			}
			body = append(body, netbpf.JumpIf{Cond: netbpf.JumpLessThan, Val: p.loFirst, SkipTrue: skip})
		}
		if p.loLast < wordMax {
			body = append(body, netbpf.JumpIf{Cond: netbpf.JumpGreaterThan, Val: p.loLast, SkipTrue: 1})
		}
		body = append(body, netbpf.RetConstant{Val: retAllow})
	}
	// The high word matched and the ranges are disjoint, so no later group
	// can match either: answer now instead of scanning on.
	body = append(body, netbpf.RetConstant{Val: retTrap})

	hi := g.pieces[0].hiFirst
	prog := []netbpf.Instruction{loadHigh}
	if len(body) <= maxSkip {
		prog = append(prog, netbpf.JumpIf{Cond: netbpf.JumpNotEqual, Val: hi, SkipTrue: uint8(len(body))})
	} else {
		prog = append(prog,
			netbpf.JumpIf{Cond: netbpf.JumpEqual, Val: hi, SkipTrue: 1},
			netbpf.Jump{Skip: uint32(len(body))})
	}
	return append(prog, body...)
}

// Assemble encodes prog for seccomp(2).
func Assemble(prog []netbpf.Instruction) ([]unix.SockFilter, error) {
	if len(prog) == 0 {
		return nil, errors.New("bpf: empty program")
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("%w: %d instructions", ErrProgramTooLong, len(prog))
	}
	raw, err := netbpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("bpf: assemble: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, ri := range raw {
		out[i] = unix.SockFilter{Code: ri.Op, Jt: ri.Jt, Jf: ri.Jf, K: ri.K}
	}
	return out, nil
}
