package vdsoinject

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

// ErrNoVDSO means the host process has no vDSO (AT_SYSINFO_EHDR absent or
// zero, e.g. booted with vdso=0).
var ErrNoVDSO = errors.New("vdsoinject: host has no vDSO")

// FormatError reports a vDSO image that cannot be parsed.
type FormatError struct {
	Msg string
}

func (e *FormatError) Error() string { return "vdsoinject: malformed vDSO: " + e.Msg }

func formatErr(format string, a ...any) error { return &FormatError{Msg: fmt.Sprintf(format, a...)} }

const atSysinfoEhdr = 33

// HostVDSO returns the addresses of the host process's own vDSO functions
// for the targets it has (on x86-64 Linux every target but KernelVsyscall,
// where the kernel offers them).
func HostVDSO() (map[Target]uintptr, error) {
	ehdr, err := auxvValue("/proc/self/auxv", atSysinfoEhdr)
	if err != nil {
		return nil, err
	}
	if ehdr == 0 {
		return nil, ErrNoVDSO
	}
	end, err := mappingEnd("/proc/self/maps", uintptr(ehdr))
	if err != nil {
		return nil, err
	}
	mem := memAt(uintptr(ehdr), int(end-uintptr(ehdr)))
	offs, err := LookupTargets(mem)
	if err != nil {
		return nil, err
	}
	out := make(map[Target]uintptr, len(offs))
	for t, off := range offs {
		out[t] = uintptr(ehdr) + uintptr(off)
	}
	return out, nil
}

// auxvValue reads one entry of an auxiliary vector file; a missing entry
// is ErrNoVDSO because that is the only key this package asks for.
func auxvValue(path string, key uint64) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("vdsoinject: read auxv: %w", err)
	}
	for i := 0; i+16 <= len(b); i += 16 {
		k := binary.LittleEndian.Uint64(b[i:])
		if k == 0 {
			break
		}
		if k == key {
			return binary.LittleEndian.Uint64(b[i+8:]), nil
		}
	}
	return 0, ErrNoVDSO
}

// mappingEnd finds the end of the mapping containing addr, so the parser
// never reads past what is mapped whatever the image's headers claim.
func mappingEnd(path string, addr uintptr) (uintptr, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("vdsoinject: read maps: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := parseMapsRange(sc.Text())
		if ok && lo <= addr && addr < hi {
			return hi, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("vdsoinject: read maps: %w", err)
	}
	return 0, fmt.Errorf("%w: AT_SYSINFO_EHDR %#x is not mapped", ErrNoVDSO, addr)
}

func parseMapsRange(line string) (lo, hi uintptr, ok bool) {
	f, _, _ := strings.Cut(line, " ")
	a, b, found := strings.Cut(f, "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

// memAt views process memory as a slice. The conversion goes through a
// pointer to the integer so vet's uintptr check sees no arithmetic on a Go
// pointer: these addresses are outside the Go heap.
func memAt(addr uintptr, n int) []byte {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

// LookupTargets resolves every target's LINUX_2.6 symbol in a vDSO image
// laid out as in memory (mem starts at the ELF header) and returns each
// found target's offset from the header. Absent targets are left out.
func LookupTargets(mem []byte) (map[Target]uint64, error) {
	v, err := parseDynImage(mem)
	if err != nil {
		return nil, err
	}
	out := make(map[Target]uint64)
	for _, t := range Targets {
		off, ok, err := v.lookup(t.Symbol(), VersionName)
		if err != nil {
			return nil, err
		}
		if ok {
			out[t] = off
		}
	}
	return out, nil
}

// dynImage is the part of an in-memory ELF image the dynamic linker sees.
type dynImage struct {
	mem                   []byte
	bias                  int64 // memory offset = vaddr + bias
	symtab, strtab, strsz uint64
	versym, verdef        uint64 // memory offsets, 0 if absent
	nsyms                 uint64
	hasVersym, hasVerdef  bool
}

func (d *dynImage) u16(off uint64) (uint16, error) {
	if off+2 < off || off+2 > uint64(len(d.mem)) {
		return 0, formatErr("read of 2 bytes at %#x past end %#x", off, len(d.mem))
	}
	return binary.LittleEndian.Uint16(d.mem[off:]), nil
}

func (d *dynImage) u32(off uint64) (uint32, error) {
	if off+4 < off || off+4 > uint64(len(d.mem)) {
		return 0, formatErr("read of 4 bytes at %#x past end %#x", off, len(d.mem))
	}
	return binary.LittleEndian.Uint32(d.mem[off:]), nil
}

func (d *dynImage) u64(off uint64) (uint64, error) {
	if off+8 < off || off+8 > uint64(len(d.mem)) {
		return 0, formatErr("read of 8 bytes at %#x past end %#x", off, len(d.mem))
	}
	return binary.LittleEndian.Uint64(d.mem[off:]), nil
}

func (d *dynImage) vaddr(v uint64) (uint64, error) {
	o := int64(v) + d.bias
	if o < 0 || uint64(o) >= uint64(len(d.mem)) {
		return 0, formatErr("address %#x outside the image", v)
	}
	return uint64(o), nil
}

func (d *dynImage) str(off uint64) (string, error) {
	if off >= d.strsz {
		return "", formatErr("string offset %#x past DT_STRSZ %#x", off, d.strsz)
	}
	start := d.strtab + off
	if start >= uint64(len(d.mem)) {
		return "", formatErr("string at %#x outside the image", start)
	}
	limit := uint64(len(d.mem))
	if end := d.strtab + d.strsz; end >= d.strtab && end < limit { // a wild DT_STRSZ may wrap
		limit = end
	}
	i := bytes.IndexByte(d.mem[start:limit], 0)
	if i < 0 {
		return "", formatErr("unterminated string at %#x", start)
	}
	return string(d.mem[start : start+uint64(i)]), nil
}

func parseDynImage(mem []byte) (*dynImage, error) {
	d := &dynImage{mem: mem}
	if len(mem) < ehdrSize || !bytes.Equal(mem[:4], []byte{0x7f, 'E', 'L', 'F'}) {
		return nil, formatErr("no ELF header")
	}
	if mem[4] != 2 || mem[5] != 1 {
		return nil, formatErr("not ELF64 little-endian")
	}
	phoff, _ := d.u64(32)
	phentsize, _ := d.u16(54)
	phnum, _ := d.u16(56)
	if phentsize < phdrSize {
		return nil, formatErr("e_phentsize %d", phentsize)
	}
	var dynOff uint64
	var haveLoad, haveDyn bool
	for i := uint64(0); i < uint64(phnum); i++ {
		h := phoff + i*uint64(phentsize)
		typ, err := d.u32(h)
		if err != nil {
			return nil, err
		}
		off, _ := d.u64(h + 8)
		va, err := d.u64(h + 16)
		if err != nil {
			return nil, err
		}
		switch elf.ProgType(typ) {
		case elf.PT_LOAD: // the first one fixes the load bias, as in glibc
			if !haveLoad {
				d.bias = int64(off) - int64(va)
				haveLoad = true
			}
		case elf.PT_DYNAMIC:
			dynOff, haveDyn = off, true
		}
	}
	if !haveLoad || !haveDyn {
		return nil, formatErr("no PT_LOAD or no PT_DYNAMIC")
	}

	var hash, gnuhash uint64
	var haveSym, haveStr, haveHash, haveGnu bool
	for i := uint64(0); ; i++ {
		e := dynOff + 16*i
		tag, err := d.u64(e)
		if err != nil {
			return nil, formatErr("dynamic section not terminated by DT_NULL")
		}
		val, err := d.u64(e + 8)
		if err != nil {
			return nil, err
		}
		if tag == 0 {
			break
		}
		var p uint64
		switch elf.DynTag(tag) {
		case elf.DT_HASH, elf.DT_GNU_HASH, elf.DT_STRTAB, elf.DT_SYMTAB, elf.DT_VERSYM, elf.DT_VERDEF:
			if p, err = d.vaddr(val); err != nil {
				return nil, err
			}
		}
		switch elf.DynTag(tag) {
		case elf.DT_HASH:
			hash, haveHash = p, true
		case elf.DT_GNU_HASH:
			gnuhash, haveGnu = p, true
		case elf.DT_STRTAB:
			d.strtab, haveStr = p, true
		case elf.DT_SYMTAB:
			d.symtab, haveSym = p, true
		case elf.DT_STRSZ:
			d.strsz = val
		case elf.DT_VERSYM:
			d.versym, d.hasVersym = p, true
		case elf.DT_VERDEF:
			d.verdef, d.hasVerdef = p, true
		}
	}
	if !haveSym || !haveStr {
		return nil, formatErr("no DT_SYMTAB or DT_STRTAB")
	}
	if d.strsz == 0 {
		d.strsz = uint64(len(mem)) - d.strtab
	}
	switch {
	case haveHash:
		n, err := d.u32(hash + 4)
		if err != nil {
			return nil, err
		}
		d.nsyms = uint64(n)
	case haveGnu:
		n, err := d.gnuSymCount(gnuhash)
		if err != nil {
			return nil, err
		}
		d.nsyms = n
	default:
		return nil, formatErr("neither DT_HASH nor DT_GNU_HASH")
	}
	if d.symtab+d.nsyms*symSize > uint64(len(mem)) {
		return nil, formatErr("%d symbols overrun the image", d.nsyms)
	}
	return d, nil
}

// gnuSymCount finds the number of symbols from DT_GNU_HASH, which does not
// record it: follow the chain of the highest non-empty bucket to its end.
func (d *dynImage) gnuSymCount(gh uint64) (uint64, error) {
	nb, err := d.u32(gh)
	if err != nil {
		return 0, err
	}
	symoff, _ := d.u32(gh + 4)
	words, err := d.u32(gh + 8)
	if err != nil {
		return 0, err
	}
	buckets := gh + 16 + 8*uint64(words)
	var maxIdx uint32
	for i := uint64(0); i < uint64(nb); i++ {
		b, err := d.u32(buckets + 4*i)
		if err != nil {
			return 0, err
		}
		maxIdx = max(maxIdx, b)
	}
	if maxIdx == 0 {
		return uint64(symoff), nil
	}
	if maxIdx < symoff {
		return 0, formatErr("GNU hash bucket %d below symoffset %d", maxIdx, symoff)
	}
	chain := buckets + 4*uint64(nb)
	for idx := uint64(maxIdx); ; idx++ {
		v, err := d.u32(chain + 4*(idx-uint64(symoff)))
		if err != nil {
			return 0, err
		}
		if v&1 != 0 {
			return idx + 1, nil
		}
	}
}

// versionOK applies musl's rule: the symbol's versym (hidden bit masked)
// must name a verdef whose first name is want. No version table: any.
func (d *dynImage) versionOK(idx uint64, want string) (bool, error) {
	if !d.hasVersym || !d.hasVerdef {
		return true, nil
	}
	vs, err := d.u16(d.versym + 2*idx)
	if err != nil {
		return false, err
	}
	ndx := vs & 0x7fff
	off := d.verdef
	for n := 0; n < 1<<16; n++ {
		flags, err := d.u16(off + 2)
		if err != nil {
			return false, err
		}
		vdNdx, _ := d.u16(off + 4)
		aux, _ := d.u32(off + 12)
		next, err := d.u32(off + 16)
		if err != nil {
			return false, err
		}
		if flags&1 == 0 && vdNdx == ndx {
			name, err := d.u32(off + uint64(aux))
			if err != nil {
				return false, err
			}
			s, err := d.str(uint64(name))
			if err != nil {
				return false, err
			}
			return s == want, nil
		}
		if next == 0 {
			return false, nil
		}
		off += uint64(next)
	}
	return false, formatErr("verdef chain does not end")
}

// lookup returns the memory offset of a defined function or object named
// name with version ver.
func (d *dynImage) lookup(name, ver string) (uint64, bool, error) {
	for i := uint64(1); i < d.nsyms; i++ {
		e := d.symtab + i*symSize
		nameOff, _ := d.u32(e)
		info := d.mem[e+4]
		shndx, _ := d.u16(e + 6)
		value, _ := d.u64(e + 8)
		switch elf.ST_TYPE(info) {
		case elf.STT_NOTYPE, elf.STT_OBJECT, elf.STT_FUNC:
		default:
			continue
		}
		if b := elf.ST_BIND(info); b != elf.STB_GLOBAL && b != elf.STB_WEAK {
			continue
		}
		if elf.SectionIndex(shndx) == elf.SHN_UNDEF {
			continue
		}
		s, err := d.str(uint64(nameOff))
		if err != nil {
			return 0, false, err
		}
		if s != name {
			continue
		}
		ok, err := d.versionOK(i, ver)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			continue
		}
		off, err := d.vaddr(value)
		if err != nil {
			return 0, false, err
		}
		return off, true, nil
	}
	return 0, false, nil
}
