package loader

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// ELF constants the parser needs. debug/elf has them too, but the loader
// reads only what binfmt_elf reads (ELF header and program headers, never
// section headers), so that a stripped or section-less binary loads exactly
// as it would under Linux.
const (
	ehdrSize   = 64
	phdrSize   = 56
	maxPhdrTab = 65536 // binfmt_elf refuses program header tables larger than this

	etRel  = 1
	etExec = 2
	etDyn  = 3
	etCore = 4

	emX86_64 = 62

	ptLoad   = 1
	ptInterp = 3
	ptPhdr   = 6

	ptGNUStack = 0x6474e551

	pfX = 1
	pfW = 2
	pfR = 4

	// userTop is the end of the x86-64 4-level user address space (TASK_SIZE).
	userTop = 1 << 47

	// interpMax mirrors PATH_MAX: binfmt_elf rejects longer PT_INTERP strings.
	interpMax = 4096
)

// pageSize is fixed: x86-64 Linux only has 4 KiB base pages, and the
// congruence checks below must not depend on the machine running the tests.
const pageSize = 4096

// elfObject is what the parser learned from an ELF file: enough to map it
// and to describe it in the auxiliary vector.
type elfObject struct {
	Type   uint16 // etExec or etDyn
	Entry  uint64
	Phoff  uint64
	Phnum  int
	Loads  []loadSegment // in file order, which the checks require to be ascending
	Interp string        // PT_INTERP path, "" if none

	// PhdrVaddr is where the program headers appear in memory, unbiased:
	// PT_PHDR's p_vaddr, else the position of e_phoff inside the PT_LOAD
	// that covers it. HasPhdr is false when neither exists.
	PhdrVaddr uint64
	HasPhdr   bool

	// ExecStack is set by a PT_GNU_STACK with PF_X: the program wants an
	// executable stack (x86-64 Linux gives a non-executable one otherwise).
	ExecStack bool

	// MinVaddr and MaxVaddr bound the page-rounded span of all PT_LOADs.
	MinVaddr, MaxVaddr uint64
	// Align is the largest power-of-two p_align of a PT_LOAD (at least a
	// page); a PIE's load bias is a multiple of it, as Linux does since 5.10.
	Align uint64
}

type loadSegment struct {
	Vaddr, Memsz   uint64
	Offset, Filesz uint64
	Flags          uint32
}

// prot converts ELF segment flags to mmap protections.
func (s loadSegment) prot() int {
	p := 0
	if s.Flags&pfR != 0 {
		p |= protRead
	}
	if s.Flags&pfW != 0 {
		p |= protWrite
	}
	if s.Flags&pfX != 0 {
		p |= protExec
	}
	return p
}

// Same values as unix.PROT_*, repeated so the pure parts need no syscalls.
const (
	protNone  = 0
	protRead  = 1
	protWrite = 2
	protExec  = 4
)

func isELF(head []byte) bool {
	return len(head) >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F'
}

// machineNames names the e_machine values a user is likely to feed us by
// mistake, so the error says "aarch64" rather than a number.
var machineNames = map[uint16]string{
	3:   "i386",
	8:   "MIPS",
	20:  "PowerPC",
	21:  "PowerPC64",
	22:  "s390",
	40:  "ARM",
	50:  "IA-64",
	183: "aarch64",
	243: "RISC-V",
	258: "LoongArch",
}

// parseELF validates an ELF executable the way binfmt_elf does (and a little
// more strictly where Linux would only fail later with SIGSEGV or SIGBUS)
// and returns its loading plan inputs. Errors are *ExecError with ENOEXEC
// and no Path. A bad segment layout, which Linux finds only after it opened
// the interpreter, comes with the object read so far (Interp set), so the
// caller can let a missing interpreter take precedence.
func parseELF(r io.ReaderAt, size int64) (*elfObject, error) {
	var eh [ehdrSize]byte
	n, _ := r.ReadAt(eh[:], 0)
	if !isELF(eh[:n]) {
		return nil, notExec("no ELF header and no #! line")
	}
	if n < ehdrSize || size < ehdrSize {
		return nil, notExec("truncated ELF header (%d of %d bytes)", min(int64(n), size), ehdrSize)
	}
	switch eh[4] {
	case 2:
	case 1:
		return nil, notExec("32-bit ELF (ELFCLASS32) is not supported")
	default:
		return nil, notExec("invalid ELF class %d", eh[4])
	}
	switch eh[5] {
	case 1:
	case 2:
		return nil, notExec("big-endian ELF (ELFDATA2MSB) is not supported")
	default:
		return nil, notExec("invalid ELF data encoding %d", eh[5])
	}
	if eh[6] != 1 {
		return nil, notExec("unsupported ELF identification version %d", eh[6])
	}
	le := binary.LittleEndian
	obj := &elfObject{Type: le.Uint16(eh[16:])}
	switch obj.Type {
	case etExec, etDyn:
	case etRel:
		return nil, notExec("relocatable object file (ET_REL), not a linked program")
	case etCore:
		return nil, notExec("core dump (ET_CORE)")
	default:
		return nil, notExec("unknown ELF type %#x", obj.Type)
	}
	if m := le.Uint16(eh[18:]); m != emX86_64 {
		name, ok := machineNames[m]
		if !ok {
			name = fmt.Sprintf("machine %d", m)
		}
		return nil, notExec("ELF for %s (e_machine %d), only x86-64 is supported", name, m)
	}
	obj.Entry = le.Uint64(eh[24:])
	obj.Phoff = le.Uint64(eh[32:])
	phentsize := le.Uint16(eh[54:])
	obj.Phnum = int(le.Uint16(eh[56:]))
	if phentsize != phdrSize {
		return nil, notExec("program header entry size %d, want %d", phentsize, phdrSize)
	}
	if obj.Phnum == 0 {
		return nil, notExec("no program headers (e_phnum 0)")
	}
	tab := uint64(obj.Phnum) * phdrSize
	if tab > maxPhdrTab {
		return nil, notExec("%d program headers is absurd (at most %d)", obj.Phnum, maxPhdrTab/phdrSize)
	}
	if end, c := bits.Add64(obj.Phoff, tab, 0); c != 0 || end > uint64(size) {
		return nil, notExec("program headers (%d at offset %#x) extend past the end of the file (%d bytes): truncated?", obj.Phnum, obj.Phoff, size)
	}
	ph := make([]byte, tab)
	if _, err := r.ReadAt(ph, int64(obj.Phoff)); err != nil {
		return nil, notExec("reading program headers: %v", err)
	}

	var phdrFromPT bool
	var layoutErr error // the first bad PT_LOAD
	obj.Align = pageSize
	for i := 0; i < obj.Phnum; i++ {
		p := ph[i*phdrSize : (i+1)*phdrSize]
		typ := le.Uint32(p[0:])
		flags := le.Uint32(p[4:])
		off := le.Uint64(p[8:])
		vaddr := le.Uint64(p[16:])
		filesz := le.Uint64(p[32:])
		memsz := le.Uint64(p[40:])
		align := le.Uint64(p[48:])
		switch typ {
		case ptLoad:
			if layoutErr != nil {
				continue
			}
			if err := checkLoad(i, off, vaddr, filesz, memsz, size); err != nil {
				layoutErr = err
				continue
			}
			if memsz == 0 {
				continue // nothing to map; binfmt_elf skips these too
			}
			if k := len(obj.Loads); k > 0 {
				prev := obj.Loads[k-1]
				if vaddr < prev.Vaddr+prev.Memsz {
					layoutErr = notExec("segment %d (p_vaddr %#x) overlaps or precedes the previous PT_LOAD (%#x-%#x)", i, vaddr, prev.Vaddr, prev.Vaddr+prev.Memsz)
					continue
				}
			}
			if align > obj.Align && align&(align-1) == 0 && align <= 1<<30 {
				obj.Align = align
			}
			obj.Loads = append(obj.Loads, loadSegment{Vaddr: vaddr, Memsz: memsz, Offset: off, Filesz: filesz, Flags: flags})
		case ptInterp:
			if obj.Interp != "" {
				continue // binfmt_elf uses the first PT_INTERP
			}
			s, err := readInterp(r, size, off, filesz)
			if err != nil {
				return nil, err
			}
			obj.Interp = s
		case ptPhdr:
			obj.PhdrVaddr, phdrFromPT = vaddr, true
		case ptGNUStack:
			obj.ExecStack = flags&pfX != 0
		}
	}
	if layoutErr != nil {
		return obj, layoutErr
	}
	if len(obj.Loads) == 0 {
		return obj, notExec("no loadable (PT_LOAD) segments")
	}
	first, last := obj.Loads[0], obj.Loads[len(obj.Loads)-1]
	obj.MinVaddr = alignDown(first.Vaddr)
	obj.MaxVaddr = alignUp(last.Vaddr + last.Memsz)
	if obj.Type == etExec && obj.MinVaddr == 0 {
		return obj, notExec("non-PIE executable (ET_EXEC) wants to be mapped at address 0")
	}

	obj.HasPhdr = phdrFromPT
	if !phdrFromPT {
		for _, s := range obj.Loads {
			if s.Offset <= obj.Phoff && obj.Phoff+tab <= s.Offset+s.Filesz {
				obj.PhdrVaddr, obj.HasPhdr = s.Vaddr+(obj.Phoff-s.Offset), true
				break
			}
		}
	}
	return obj, nil
}

// checkLoad rejects a PT_LOAD that cannot be mapped faithfully.
func checkLoad(i int, off, vaddr, filesz, memsz uint64, size int64) error {
	if filesz > memsz {
		return notExec("segment %d: p_filesz %#x is larger than p_memsz %#x", i, filesz, memsz)
	}
	if end, c := bits.Add64(off, filesz, 0); c != 0 || end > uint64(size) {
		return notExec("segment %d: file bytes %#x-%#x extend past the end of the file (%d bytes): truncated?", i, off, off+filesz, size)
	}
	if end, c := bits.Add64(vaddr, memsz, 0); c != 0 || end > userTop {
		return notExec("segment %d: p_vaddr %#x + p_memsz %#x ends beyond the user address space", i, vaddr, memsz)
	}
	// mmap maps whole pages, so a segment can only be mapped from the file
	// when its address and offset sit at the same place within a page.
	if vaddr%pageSize != off%pageSize {
		return notExec("segment %d: p_vaddr %#x and p_offset %#x are not congruent modulo the page size", i, vaddr, off)
	}
	return nil
}

func readInterp(r io.ReaderAt, size int64, off, filesz uint64) (string, error) {
	if filesz < 2 || filesz > interpMax {
		return "", notExec("PT_INTERP has an invalid size %d", filesz)
	}
	if end, c := bits.Add64(off, filesz, 0); c != 0 || end > uint64(size) {
		return "", notExec("PT_INTERP at offset %#x extends past the end of the file (%d bytes): truncated?", off, size)
	}
	b := make([]byte, filesz)
	if _, err := r.ReadAt(b, int64(off)); err != nil {
		return "", notExec("reading PT_INTERP: %v", err)
	}
	if b[filesz-1] != 0 {
		return "", notExec("PT_INTERP is not NUL-terminated")
	}
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return "", notExec("PT_INTERP is empty")
	}
	return string(b), nil
}

func alignDown(x uint64) uint64 { return x &^ (pageSize - 1) }
func alignUp(x uint64) uint64   { return (x + pageSize - 1) &^ (pageSize - 1) }
