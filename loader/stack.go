package loader

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// platform is the AT_PLATFORM string x86-64 Linux reports.
const platform = "x86_64"

// stackArgs is the content of a new guest stack.
type stackArgs struct {
	Argv, Envp []string
	ExecFn     string
	Random     [16]byte
	Auxv       []AuxEntry // from buildAuxv; AT_RANDOM/AT_EXECFN/AT_PLATFORM get filled in
	Bottom     uintptr    // the lowest address the layout may use (0: none)
}

// stackLayout is a stack image ready to be copied to [SP, top).
type stackLayout struct {
	SP    uintptr
	Bytes []byte
	Auxv  []AuxEntry // the vector as written, with stack addresses filled in
}

// layoutStack builds the initial process stack exactly as Linux's
// execve and create_elf_tables arrange it below top:
//
//	top-8          8 zero bytes (the kernel's end marker)
//	               AT_EXECFN string
//	               envp strings, in reverse order going down ...
//	               ... argv strings (argv[0] lowest), so argv and envp are
//	                   each contiguous, as ps and setproctitle expect
//	               AT_PLATFORM string "x86_64"
//	               16 AT_RANDOM bytes
//	               padding to 16 bytes
//	SP (%16 == 0)  argc, argv[0..argc-1], NULL, envp[...], NULL,
//	               auxv pairs ending with AT_NULL
//
// The psABI requires %rsp to be 16-byte aligned at argc on process entry.
func layoutStack(top uintptr, a stackArgs) (*stackLayout, error) {
	if top%16 != 0 {
		return nil, fmt.Errorf("loader: stack top %#x is not 16-byte aligned", top)
	}
	for _, list := range [][]string{a.Argv, a.Envp, {a.ExecFn}} {
		for _, s := range list {
			if strings.IndexByte(s, 0) >= 0 {
				return nil, &ExecError{Errno: unix.EINVAL, Reason: fmt.Sprintf("argument or environment string %q contains a NUL byte", abbrev(s))}
			}
			if len(s)+1 > maxArgStrlen {
				return nil, &ExecError{Errno: unix.E2BIG, Reason: fmt.Sprintf("argument or environment string of %d bytes exceeds the %d byte limit", len(s), maxArgStrlen)}
			}
		}
	}

	strBytes := 8 + len(a.ExecFn) + 1
	for _, s := range a.Argv {
		strBytes += len(s) + 1
	}
	for _, s := range a.Envp {
		strBytes += len(s) + 1
	}
	items := 1 + len(a.Argv) + 1 + len(a.Envp) + 1 + 2*len(a.Auxv)
	// Bound the total before doing address arithmetic with it.
	total := uint64(strBytes) + uint64(len(platform)+1) + 16 + 16 + uint64(items)*8
	if a.Bottom != 0 && total+16 > uint64(top-a.Bottom) {
		return nil, &ExecError{Errno: unix.ENOMEM, Reason: fmt.Sprintf("the arguments and environment (%d bytes) do not fit in the %d byte stack", total, top-a.Bottom)}
	}
	if total > uint64(top) {
		return nil, fmt.Errorf("loader: stack top %#x too low for %d bytes", top, total)
	}

	strStart := top - uintptr(strBytes)
	platAddr := strStart - uintptr(len(platform)+1)
	randAddr := platAddr - 16
	sp := (randAddr - uintptr(items)*8) &^ 15

	img := make([]byte, top-sp)
	at := func(addr uintptr) []byte { return img[addr-sp:] }
	putStr := func(addr uintptr, s string) uintptr {
		copy(at(addr), s)
		at(addr)[len(s)] = 0
		return addr + uintptr(len(s)) + 1
	}

	p := strStart
	argvPtrs := make([]uintptr, len(a.Argv))
	for i, s := range a.Argv {
		argvPtrs[i] = p
		p = putStr(p, s)
	}
	envPtrs := make([]uintptr, len(a.Envp))
	for i, s := range a.Envp {
		envPtrs[i] = p
		p = putStr(p, s)
	}
	execfnAddr := p
	putStr(p, a.ExecFn)
	putStr(platAddr, platform)
	copy(at(randAddr), a.Random[:])

	auxv := make([]AuxEntry, len(a.Auxv))
	copy(auxv, a.Auxv)
	for i := range auxv {
		switch auxv[i].Type {
		case AT_RANDOM:
			auxv[i].Val = uint64(randAddr)
		case AT_EXECFN:
			auxv[i].Val = uint64(execfnAddr)
		case AT_PLATFORM:
			auxv[i].Val = uint64(platAddr)
		}
	}

	w := img[:0]
	put := func(v uint64) { w = binary.LittleEndian.AppendUint64(w, v) }
	put(uint64(len(a.Argv)))
	for _, q := range argvPtrs {
		put(uint64(q))
	}
	put(0)
	for _, q := range envPtrs {
		put(uint64(q))
	}
	put(0)
	for _, e := range auxv {
		put(e.Type)
		put(e.Val)
	}
	return &stackLayout{SP: sp, Bytes: img, Auxv: auxv}, nil
}

// abbrev shortens s for an error message.
func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
