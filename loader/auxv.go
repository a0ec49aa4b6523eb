package loader

import (
	"encoding/binary"
	"os"
	"sync"
)

// AuxEntry is one auxiliary vector pair as written on the guest stack.
type AuxEntry struct {
	Type, Val uint64
}

// Auxiliary vector types (include/uapi/linux/auxvec.h, asm/auxvec.h).
const (
	AT_NULL         = 0
	AT_PHDR         = 3
	AT_PHENT        = 4
	AT_PHNUM        = 5
	AT_PAGESZ       = 6
	AT_BASE         = 7
	AT_FLAGS        = 8
	AT_ENTRY        = 9
	AT_UID          = 11
	AT_EUID         = 12
	AT_GID          = 13
	AT_EGID         = 14
	AT_PLATFORM     = 15
	AT_HWCAP        = 16
	AT_CLKTCK       = 17
	AT_SECURE       = 23
	AT_RANDOM       = 25
	AT_HWCAP2       = 26
	AT_EXECFN       = 31
	AT_SYSINFO_EHDR = 33
	AT_MINSIGSTKSZ  = 51
)

// hwcap2FSGSBASE is HWCAP2_FSGSBASE. The guest must not use wrfsbase: FS is
// switched by the host on every entry, so a guest that set it directly
// would have it silently undone; clearing the bit sends it to arch_prctl.
const hwcap2FSGSBASE = 1 << 1

// hostAux holds the values the guest inherits from the host's own auxv.
type hostAux struct {
	HasMinSigStkSz bool
	MinSigStkSz    uint64
	HWCap, HWCap2  uint64
	ClkTck         uint64
	UID, EUID      uint64
	GID, EGID      uint64
}

var (
	hostAuxOnce sync.Once
	hostAuxVal  hostAux
)

// hostAuxv reads /proc/self/auxv once. Missing entries fall back to the
// values every x86-64 Linux reports (CLK_TCK is USER_HZ = 100).
func hostAuxv() hostAux {
	hostAuxOnce.Do(func() {
		h := hostAux{ClkTck: 100}
		if b, err := os.ReadFile("/proc/self/auxv"); err == nil {
			h = parseHostAuxv(b)
		}
		h.UID, h.EUID = uint64(os.Getuid()), uint64(os.Geteuid())
		h.GID, h.EGID = uint64(os.Getgid()), uint64(os.Getegid())
		hostAuxVal = h
	})
	return hostAuxVal
}

func parseHostAuxv(b []byte) hostAux {
	h := hostAux{ClkTck: 100}
	for len(b) >= 16 {
		t, v := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		b = b[16:]
		switch t {
		case AT_NULL:
			return h
		case AT_HWCAP:
			h.HWCap = v
		case AT_HWCAP2:
			h.HWCap2 = v
		case AT_CLKTCK:
			h.ClkTck = v
		case AT_MINSIGSTKSZ:
			h.HasMinSigStkSz, h.MinSigStkSz = true, v
		}
	}
	return h
}

// auxvInput is everything the auxiliary vector describes, already biased.
type auxvInput struct {
	VDSOBase   uint64
	Phdr       uint64
	Phnum      uint64
	InterpBase uint64 // AT_BASE: 0 without PT_INTERP
	ProgEntry  uint64
}

// buildAuxv returns the vector in the order Linux's create_elf_tables
// writes it. AT_RANDOM, AT_EXECFN and AT_PLATFORM hold 0 here: they point
// into the stack and layoutStack fills them in.
func buildAuxv(in auxvInput, h hostAux) []AuxEntry {
	var v []AuxEntry
	add := func(t, val uint64) { v = append(v, AuxEntry{t, val}) }
	if in.VDSOBase != 0 {
		add(AT_SYSINFO_EHDR, in.VDSOBase)
	}
	if h.HasMinSigStkSz {
		add(AT_MINSIGSTKSZ, h.MinSigStkSz)
	}
	add(AT_HWCAP, h.HWCap)
	add(AT_PAGESZ, pageSize)
	add(AT_CLKTCK, h.ClkTck)
	add(AT_PHDR, in.Phdr)
	add(AT_PHENT, phdrSize)
	add(AT_PHNUM, in.Phnum)
	add(AT_BASE, in.InterpBase)
	add(AT_FLAGS, 0)
	add(AT_ENTRY, in.ProgEntry)
	add(AT_UID, h.UID)
	add(AT_EUID, h.EUID)
	add(AT_GID, h.GID)
	add(AT_EGID, h.EGID)
	add(AT_SECURE, 0)
	add(AT_RANDOM, 0)
	add(AT_HWCAP2, h.HWCap2&^hwcap2FSGSBASE)
	add(AT_EXECFN, 0)
	add(AT_PLATFORM, 0)
	add(AT_NULL, 0)
	return v
}
