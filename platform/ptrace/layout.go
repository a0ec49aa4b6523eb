package ptrace

// Pure logic of the ptrace platform: where a stopped syscall came from
// (the injected vDSO's fallbacks or guest code), the site the in-process
// platform would record for it, the auxv on a fresh exec's stack, and the
// per-thread count tables. Nothing here touches a process.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// syscallInsnLen is the length of `syscall` (0f 05): at a seccomp stop
// rip is the instruction after it.
const syscallInsnLen = 2

// vdsoLayout is where, in the injected image, the raw `syscall` of each
// fallback sits, relative to the image base. On this platform every slot
// points at the image's own fallback, so these are the only syscalls the
// image issues.
type vdsoLayout struct {
	size  uint64 // mapped size, page multiple
	entry []fallbackRange
}

// fallbackRange is one fallback's code [lo, hi) and the syscall it issues
// (-1: __kernel_vsyscall, whose number comes in rdi).
type fallbackRange struct {
	lo, hi uint64
	nr     int
}

func newVDSOLayout(im *vdsoinject.Image) (*vdsoLayout, error) {
	l := &vdsoLayout{size: (uint64(len(im.Data)) + vdsoinject.PageSize - 1) &^ (vdsoinject.PageSize - 1)}
	for _, t := range vdsoinject.Targets {
		lo, ok := im.FallbackOffset(t)
		if !ok {
			return nil, fmt.Errorf("ptrace: the vDSO image has no fallback for %s", t)
		}
		// A fallback runs to the next 16-byte boundary at most; its
		// length is the distance to the next symbol, which Symbols gives.
		hi := lo
		for _, s := range im.Symbols() {
			if s.Value == lo && s.Size > 0 && s.Name == t.Symbol()+"_fallback" {
				hi = lo + s.Size
			}
		}
		if hi == lo {
			return nil, fmt.Errorf("ptrace: no size for %s's fallback", t)
		}
		l.entry = append(l.entry, fallbackRange{lo: lo, hi: hi, nr: t.Syscall()})
	}
	return l, nil
}

// stopKind says how a syscall stopped at rip (the address after its
// `syscall` instruction) entered, for a process whose image sits at base
// (0: none injected): cblock.KindBypass from __kernel_vsyscall's fallback,
// cblock.KindVDSO from a time function's (the in-process platform counts
// those in the stub and never sees a syscall), cblock.KindTrap otherwise.
func (l *vdsoLayout) stopKind(base, rip uint64) int {
	if base == 0 || rip < base+syscallInsnLen || rip-base > l.size {
		return cblock.KindTrap
	}
	insn := rip - syscallInsnLen - base
	for _, f := range l.entry {
		if f.lo <= insn && insn < f.hi {
			if f.nr < 0 {
				return cblock.KindBypass
			}
			return cblock.KindVDSO
		}
	}
	return cblock.KindTrap
}

// auxv keys the platform reads or rewrites.
const (
	atNull        = 0
	atSysinfoEhdr = 33
)

// ErrNoAuxvEntry is returned when the auxiliary vector lacks the key.
var ErrNoAuxvEntry = errors.New("auxv entry not found")

// auxvValueOffset finds, in stack (the bytes of a fresh exec's stack from
// its rsp up: argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL), the
// offset of the value word of auxv entry key.
func auxvValueOffset(stack []byte, key uint64) (int, error) {
	le := binary.LittleEndian
	word := func(i int) (uint64, error) {
		if i < 0 || i+8 > len(stack) {
			return 0, fmt.Errorf("ptrace: initial stack truncated at byte %d of %d", i, len(stack))
		}
		return le.Uint64(stack[i:]), nil
	}
	argc, err := word(0)
	if err != nil {
		return 0, err
	}
	if argc > uint64(len(stack)/8) {
		return 0, fmt.Errorf("ptrace: implausible argc %d on the initial stack", argc)
	}
	i := 8 + 8*int(argc)
	if v, err := word(i); err != nil {
		return 0, err
	} else if v != 0 {
		return 0, fmt.Errorf("ptrace: argv[%d] is not NULL on the initial stack", argc)
	}
	i += 8
	for { // envp
		v, err := word(i)
		if err != nil {
			return 0, err
		}
		i += 8
		if v == 0 {
			break
		}
	}
	for ; ; i += 16 {
		k, err := word(i)
		if err != nil {
			return 0, err
		}
		if k == atNull {
			return 0, fmt.Errorf("ptrace: auxv key %d: %w", key, ErrNoAuxvEntry)
		}
		if k == key {
			if _, err := word(i + 8); err != nil {
				return 0, err
			}
			return i + 8, nil
		}
	}
}

// countCall records one syscall in a control block exactly as the
// in-process platform does: by (site, nr, kind) with cblock.Count, the twin
// of entry.c's count(); with withSite false (site 0) by number and kind
// only, as the in-process vDSO time stubs count.
func countCall(cb *cblock.ControlBlock, nr uint64, site uint64, kind uint32, withSite bool) {
	if withSite {
		cblock.Count(cb, nr, site, kind)
	} else if nr < cblock.NrMax {
		cb.Counts[nr][kind]++
	}
}

// isErrorResult says whether a raw syscall result is -errno.
func isErrorResult(rax uint64) bool {
	v := int64(rax)
	return v >= -4095 && v <= -1
}

// Kernel-internal restart codes a tracer sees at a syscall-exit stop of
// an interrupted call; the call is re-issued, not failed.
const (
	errRestartSys     = 512
	errRestartNoIntr  = 513
	errRestartNoHand  = 514
	errRestartBlock   = 516
	sysRestartSyscall = 219
)

// isRestartResult says whether the kernel will re-issue the call (the
// guest does not see this result).
func isRestartResult(rax uint64) bool {
	switch -int64(rax) {
	case errRestartSys, errRestartNoIntr, errRestartNoHand, errRestartBlock:
		return true
	}
	return false
}
