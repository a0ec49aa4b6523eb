package vdsoinject

import (
	"crypto/sha1"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// PageSize is the granularity of the image's protection regions.
const PageSize = 4096

// Soname and VersionName are what libcs look the image up by.
const (
	Soname      = "linux-vdso.so.1"
	VersionName = "LINUX_2.6"
)

// KernelVersionCode is the word in the "Linux" note. Old glibc
// (_dl_discover_osversion) reads it instead of calling uname and refuses to
// start below its minimum, so it must look like a real, recent kernel.
const KernelVersionCode = 6<<16 | 18<<8

// Options adjust Build.
type Options struct {
	// NoCounters leaves out the `incq %gs:counter` in the time stubs, for
	// a process where GS base does not point at a control block (a natively
	// run, ptrace-traced guest).
	NoCounters bool
}

// Symbol is one function symbol of the image.
type Symbol struct {
	Name   string
	Value  uint64 // address in the image (== file offset; linked at 0)
	Size   uint64
	Weak   bool // the plain-libc alias of a __vdso_ function
	Export bool // in .dynsym with version LINUX_2.6; false: .symtab only
	Target Target
}

// Image is a generated vDSO: the file bytes plus where things sit in them.
type Image struct {
	// Data is the ELF file; its slots are zero. Mapping it at any page
	// aligned address needs no relocation.
	Data []byte

	symbols    []Symbol
	stubOff    [numTargets]uint64
	stubLen    [numTargets]uint64
	fbOff      [numTargets]uint64
	fbLen      [numTargets]uint64
	slotOff    [numTargets]uint64
	textOff    uint64
	textEnd    uint64 // end of the executable pages (page aligned)
	slotsOff   uint64 // start of the read-only slot pages
	buildIDOff uint64
	counters   bool
}

// Build generates the image with per-call counting in the time stubs.
func Build() (*Image, error) { return BuildWith(Options{}) }

// SlotOffset is the image offset of t's 64-bit jump slot.
func (im *Image) SlotOffset(t Target) uint64 {
	if !t.valid() {
		return 0
	}
	return im.slotOff[t]
}

// StubOffset is the image offset of t's exported entry point.
func (im *Image) StubOffset(t Target) uint64 {
	if !t.valid() {
		return 0
	}
	return im.stubOff[t]
}

// FallbackOffset is the image offset of t's raw-syscall fallback, used
// when the host lacks the function.
func (im *Image) FallbackOffset(t Target) (uint64, bool) {
	if !t.valid() {
		return 0, false
	}
	return im.fbOff[t], true
}

// Counts reports whether the time stubs increment the control block counter.
func (im *Image) Counts() bool { return im.counters }

// Symbols lists the image's functions sorted by address then name: the
// exports (versioned names and their weak aliases, Export true) and the
// local fallbacks, which are in .symtab only.
func (im *Image) Symbols() []Symbol {
	out := append([]Symbol(nil), im.symbols...)
	return out
}

// WriteFile writes Data to path (for `vsysbed vdso --dump`).
func (im *Image) WriteFile(path string) error {
	if err := os.WriteFile(path, im.Data, 0o644); err != nil {
		return fmt.Errorf("vdsoinject: write image: %w", err)
	}
	return nil
}

// ELF constants not in debug/elf's untyped form we need as integers.
const (
	ehdrSize  = 64
	phdrSize  = 56
	shdrSize  = 64
	symSize   = 24
	dynSize   = 16
	verdefSz  = 20
	verauxSz  = 8
	numPhdrs  = 5
	versionLx = 2 // versym index of LINUX_2.6; 1 is the base (soname)

	sysvBuckets = 7
	gnuBuckets  = 3
	gnuShift    = 6
	gnuWords    = 1 // bloom words; must be a power of two

	noteTypeBuildID = 3 // NT_GNU_BUILD_ID
	buildIDLen      = sha1.Size
)

// Section indices, in header order.
const (
	shNull = iota
	shHash
	shGnuHash
	shDynsym
	shDynstr
	shVersym
	shVerdef
	shDynamic
	shNote
	shEhFrameHdr
	shEhFrame
	shText
	shSlots
	shSymtab
	shStrtab
	shShstrtab
	numSections
)

var sectionNames = [numSections]string{
	"", ".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d",
	".dynamic", ".note", ".eh_frame_hdr", ".eh_frame", ".text", ".vdso_slots",
	".symtab", ".strtab", ".shstrtab",
}

type section struct {
	typ, flags   uint64
	addr, size   uint64
	link, info   uint32
	align, entsz uint64
	data         []byte
	nameOff      uint32
}

// ErrLayout reports an internal inconsistency while generating the image;
// it indicates a bug in this package, never bad input.
var ErrLayout = errors.New("vdsoinject: image layout inconsistent")

// GNU and SysV symbol hashes, as the loaders compute them.
func gnuHash(s string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(s); i++ {
		h = h*33 + uint32(s[i])
	}
	return h
}

func sysvHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); i++ {
		h = h<<4 + uint32(s[i])
		g := h & 0xf0000000
		if g != 0 {
			h ^= g >> 24
		}
		h &^= g
	}
	return h
}

const alloc = uint64(elf.SHF_ALLOC)

func sht(t elf.SectionType) uint64 { return uint64(t) }
func dt(t elf.DynTag) uint64       { return uint64(t) }
func pt(t elf.ProgType) uint32     { return uint32(t) }

func alignUp(v, a uint64) uint64 {
	if a <= 1 {
		return v
	}
	return (v + a - 1) &^ (a - 1)
}

type strtab struct {
	data []byte
	off  map[string]uint32
}

func newStrtab() *strtab { return &strtab{data: []byte{0}, off: map[string]uint32{"": 0}} }

func (s *strtab) add(name string) uint32 {
	if o, ok := s.off[name]; ok {
		return o
	}
	o := uint32(len(s.data))
	s.data = append(append(s.data, name...), 0)
	s.off[name] = o
	return o
}

// Machine code. Every stub is a tail jump, so at each instruction the frame
// is still the caller's: CFA = rsp+8, return address at CFA-8.
const codeAlign = 16

func stubCode(t Target, counters bool) []byte {
	var b []byte
	if nr := t.Syscall(); nr >= 0 && counters {
		// incq %gs:abs32 — GS base is the thread's control block.
		b = append(b, 0x65, 0x48, 0xff, 0x04, 0x25)
		b = binary.LittleEndian.AppendUint32(b, uint32(cblock.CounterOffset(nr, cblock.KindVDSO)))
	}
	// jmp *slot(%rip); rel32 patched once addresses are known.
	return append(b, 0xff, 0x25, 0, 0, 0, 0)
}

func fallbackCode(t Target) []byte {
	nr := t.Syscall()
	if nr < 0 {
		// __kernel_vsyscall(nr, a1..a6): SysV arguments to syscall
		// registers; a6 is at 8(%rsp) because nothing was pushed.
		return []byte{
			0x48, 0x89, 0xf8, // mov %rdi,%rax
			0x48, 0x89, 0xf7, // mov %rsi,%rdi
			0x48, 0x89, 0xd6, // mov %rdx,%rsi
			0x48, 0x89, 0xca, // mov %rcx,%rdx
			0x4d, 0x89, 0xc2, // mov %r8,%r10
			0x4d, 0x89, 0xc8, // mov %r9,%r8
			0x4c, 0x8b, 0x4c, 0x24, 0x08, // mov 0x8(%rsp),%r9
			0x0f, 0x05, // syscall
			0xc3, // ret
		}
	}
	// The C arguments (rdi, rsi, rdx) already are the syscall's; none of
	// these calls takes a fourth, so r10 is not needed.
	b := []byte{0xb8}
	b = binary.LittleEndian.AppendUint32(b, uint32(nr))
	return append(b, 0x0f, 0x05, 0xc3)
}

// BuildWith generates the image. The output is a pure function of o.
func BuildWith(o Options) (*Image, error) {
	im := &Image{counters: !o.NoCounters}

	// Code layout, relative to .text: stubs first, then fallbacks.
	var stubs, fbs [numTargets][]byte
	var textSize uint64
	for _, t := range Targets {
		stubs[t] = stubCode(t, im.counters)
		im.stubOff[t] = textSize
		im.stubLen[t] = uint64(len(stubs[t]))
		textSize = alignUp(textSize+im.stubLen[t], codeAlign)
	}
	for _, t := range Targets {
		fbs[t] = fallbackCode(t)
		im.fbOff[t] = textSize
		im.fbLen[t] = uint64(len(fbs[t]))
		textSize += im.fbLen[t]
		if t != Targets[len(Targets)-1] {
			textSize = alignUp(textSize, codeAlign)
		}
	}

	// Dynamic symbols: grouped by GNU hash bucket, as DT_GNU_HASH requires.
	type dsym struct {
		name   string
		target Target
		weak   bool
	}
	var dsyms []dsym
	for _, t := range Targets {
		dsyms = append(dsyms, dsym{t.Symbol(), t, false})
		if a := t.Alias(); a != "" {
			dsyms = append(dsyms, dsym{a, t, true})
		}
	}
	sort.SliceStable(dsyms, func(i, j int) bool {
		bi, bj := gnuHash(dsyms[i].name)%gnuBuckets, gnuHash(dsyms[j].name)%gnuBuckets
		if bi != bj {
			return bi < bj
		}
		return dsyms[i].name < dsyms[j].name
	})
	nDyn := uint64(len(dsyms) + 1)

	dynstr := newStrtab()
	for _, s := range dsyms {
		dynstr.add(s.name)
	}
	sonameOff := dynstr.add(Soname)
	verOff := dynstr.add(VersionName)

	var sec [numSections]section
	sec[shHash] = section{typ: sht(elf.SHT_HASH), flags: alloc, align: 8, entsz: 4, link: shDynsym,
		size: 4 * (2 + sysvBuckets + nDyn)}
	sec[shGnuHash] = section{typ: sht(elf.SHT_GNU_HASH), flags: alloc, align: 8, link: shDynsym,
		size: 16 + 8*gnuWords + 4*gnuBuckets + 4*(nDyn-1)}
	sec[shDynsym] = section{typ: sht(elf.SHT_DYNSYM), flags: alloc, align: 8, entsz: symSize, link: shDynstr, info: 1,
		size: symSize * nDyn}
	sec[shDynstr] = section{typ: sht(elf.SHT_STRTAB), flags: alloc, align: 1, data: dynstr.data, size: uint64(len(dynstr.data))}
	sec[shVersym] = section{typ: sht(elf.SHT_GNU_VERSYM), flags: alloc, align: 2, entsz: 2, link: shDynsym, size: 2 * nDyn}
	sec[shVerdef] = section{typ: sht(elf.SHT_GNU_VERDEF), flags: alloc, align: 8, link: shDynstr, info: 2,
		size: 2 * (verdefSz + verauxSz)}
	dynTags := 11
	sec[shDynamic] = section{typ: sht(elf.SHT_DYNAMIC), flags: alloc, align: 8, entsz: dynSize, link: shDynstr,
		size: uint64(dynTags * dynSize)}
	linuxNote := 12 + 8 + 4
	gnuNote := 12 + 4 + buildIDLen
	sec[shNote] = section{typ: sht(elf.SHT_NOTE), flags: alloc, align: 4, size: uint64(linuxNote + gnuNote)}
	nFDE := uint64(2 * len(Targets))
	sec[shEhFrameHdr] = section{typ: sht(elf.SHT_PROGBITS), flags: alloc, align: 4, size: 12 + 8*nFDE}
	const cieSize, fdeSize = 24, 24
	sec[shEhFrame] = section{typ: sht(elf.SHT_PROGBITS), flags: alloc, align: 8, size: cieSize + fdeSize*nFDE + 4}
	sec[shText] = section{typ: sht(elf.SHT_PROGBITS), flags: alloc | uint64(elf.SHF_EXECINSTR), align: codeAlign, size: textSize}
	sec[shSlots] = section{typ: sht(elf.SHT_PROGBITS), flags: alloc, align: 8, entsz: 8, size: 8 * uint64(numTargets)}

	// Local symbol table: fallbacks and slots get names so gdb, perf and
	// the coverage symboliser can name a trapped call site inside the image.
	strtabT := newStrtab()
	type ssym struct {
		name         string
		info         byte
		shndx        uint16
		target       Target
		fallback     bool
		export, weak bool
	}
	var ssyms []ssym
	for _, t := range Targets {
		ssyms = append(ssyms, ssym{name: t.Symbol() + "_fallback", info: 0<<4 | 2, shndx: shText,
			target: t, fallback: true})
	}
	for _, t := range Targets {
		ssyms = append(ssyms, ssym{name: t.Symbol() + "_slot", info: 0<<4 | 1, shndx: shSlots,
			target: t})
	}
	nLocal := uint32(len(ssyms) + 1)
	for _, s := range dsyms {
		bind := byte(1)
		if s.weak {
			bind = 2
		}
		ssyms = append(ssyms, ssym{name: s.name, info: bind<<4 | 2, shndx: shText, target: s.target,
			export: true, weak: s.weak})
	}
	for _, s := range ssyms {
		strtabT.add(s.name)
	}
	sec[shSymtab] = section{typ: sht(elf.SHT_SYMTAB), align: 8, entsz: symSize, link: shStrtab, info: nLocal,
		size: symSize * uint64(len(ssyms)+1)}
	sec[shStrtab] = section{typ: sht(elf.SHT_STRTAB), align: 1, data: strtabT.data, size: uint64(len(strtabT.data))}
	shstr := newStrtab()
	for i := range sec {
		sec[i].nameOff = shstr.add(sectionNames[i])
	}
	sec[shShstrtab] = section{typ: sht(elf.SHT_STRTAB), align: 1, data: shstr.data, size: uint64(len(shstr.data)),
		nameOff: sec[shShstrtab].nameOff}

	// Addresses (== file offsets). Three protection regions, each page
	// aligned so Map can mprotect them apart: metadata (R), text (R+X),
	// slots and the non-alloc tail (R after filling).
	pos := uint64(ehdrSize + phdrSize*numPhdrs)
	for i := shHash; i < numSections; i++ {
		switch i {
		case shText, shSlots:
			pos = alignUp(pos, PageSize)
		}
		pos = alignUp(pos, sec[i].align)
		sec[i].addr = pos
		pos += sec[i].size
	}
	shoff := alignUp(pos, 8)
	fileSize := shoff + shdrSize*numSections

	im.textOff = sec[shText].addr
	im.textEnd = alignUp(sec[shText].addr+sec[shText].size, PageSize)
	im.slotsOff = sec[shSlots].addr
	if im.textEnd != im.slotsOff {
		return nil, fmt.Errorf("%w: text end %#x, slots %#x", ErrLayout, im.textEnd, im.slotsOff)
	}
	for _, t := range Targets {
		im.stubOff[t] += im.textOff
		im.fbOff[t] += im.textOff
		im.slotOff[t] = im.slotsOff + 8*uint64(t)
	}
	symValue := func(t Target, fallback bool) (uint64, uint64) {
		if fallback {
			return im.fbOff[t], im.fbLen[t]
		}
		return im.stubOff[t], im.stubLen[t]
	}

	le := binary.LittleEndian
	out := make([]byte, fileSize)

	// .text
	text := out[im.textOff : im.textOff+textSize]
	for i := range text {
		text[i] = 0xcc // int3 between functions
	}
	for _, t := range Targets {
		s := stubs[t]
		end := im.stubOff[t] + uint64(len(s))
		le.PutUint32(s[len(s)-4:], uint32(int64(im.slotOff[t])-int64(end)))
		copy(out[im.stubOff[t]:], s)
		copy(out[im.fbOff[t]:], fbs[t])
	}

	// .dynsym, .gnu.version
	dynsymB := out[sec[shDynsym].addr:]
	versymB := out[sec[shVersym].addr:]
	for i, s := range dsyms {
		e := dynsymB[symSize*(i+1):]
		bind := byte(1) // STB_GLOBAL
		if s.weak {
			bind = 2 // STB_WEAK
		}
		v, sz := symValue(s.target, false)
		le.PutUint32(e[0:], dynstr.off[s.name])
		e[4] = bind<<4 | 2 // STT_FUNC
		e[5] = 0           // STV_DEFAULT
		le.PutUint16(e[6:], shText)
		le.PutUint64(e[8:], v)
		le.PutUint64(e[16:], sz)
		le.PutUint16(versymB[2*(i+1):], versionLx)
	}
	// versym[0] = 0 (local), already zero.

	// .hash: nbucket, nchain, buckets, chains. Chains are prepended, so
	// iterating in reverse keeps each bucket's list in ascending order.
	hashB := out[sec[shHash].addr:]
	le.PutUint32(hashB[0:], sysvBuckets)
	le.PutUint32(hashB[4:], uint32(nDyn))
	buckets := hashB[8:]
	chains := hashB[8+4*sysvBuckets:]
	for i := len(dsyms) - 1; i >= 0; i-- {
		idx := uint32(i + 1)
		b := sysvHash(dsyms[i].name) % sysvBuckets
		le.PutUint32(chains[4*idx:], le.Uint32(buckets[4*b:]))
		le.PutUint32(buckets[4*b:], idx)
	}

	// .gnu.hash: header, bloom, buckets, chain values (hash with the low
	// bit marking the end of a bucket's run).
	gh := out[sec[shGnuHash].addr:]
	le.PutUint32(gh[0:], gnuBuckets)
	le.PutUint32(gh[4:], 1) // symoffset: index 0 is the null symbol
	le.PutUint32(gh[8:], gnuWords)
	le.PutUint32(gh[12:], gnuShift)
	bloom := make([]uint64, gnuWords)
	gbuckets := gh[16+8*gnuWords:]
	gchain := gbuckets[4*gnuBuckets:]
	for i, s := range dsyms {
		h := gnuHash(s.name)
		bloom[(h/64)%gnuWords] |= 1<<(h%64) | 1<<((h>>gnuShift)%64)
		b := h % gnuBuckets
		if le.Uint32(gbuckets[4*b:]) == 0 {
			le.PutUint32(gbuckets[4*b:], uint32(i+1))
		}
		v := h &^ 1
		if i == len(dsyms)-1 || gnuHash(dsyms[i+1].name)%gnuBuckets != b {
			v |= 1
		}
		le.PutUint32(gchain[4*i:], v)
	}
	for i, w := range bloom {
		le.PutUint64(gh[16+8*i:], w)
	}

	// .gnu.version_d: base version (the soname) then LINUX_2.6. glibc
	// compares vd_hash, musl compares names: both must be right.
	vd := out[sec[shVerdef].addr:]
	putVerdef := func(b []byte, flags, ndx uint16, name string, nameOff uint32, last bool) {
		le.PutUint16(b[0:], 1) // VER_DEF_CURRENT
		le.PutUint16(b[2:], flags)
		le.PutUint16(b[4:], ndx)
		le.PutUint16(b[6:], 1) // one verdaux
		le.PutUint32(b[8:], sysvHash(name))
		le.PutUint32(b[12:], verdefSz)
		if !last {
			le.PutUint32(b[16:], verdefSz+verauxSz)
		}
		le.PutUint32(b[20:], nameOff)
		// vda_next = 0
	}
	putVerdef(vd, 1 /* VER_FLG_BASE */, 1, Soname, sonameOff, false)
	putVerdef(vd[verdefSz+verauxSz:], 0, versionLx, VersionName, verOff, true)

	// .dynamic
	dyn := out[sec[shDynamic].addr:]
	tags := [][2]uint64{
		{dt(elf.DT_SONAME), uint64(sonameOff)},
		{dt(elf.DT_HASH), sec[shHash].addr},
		{dt(elf.DT_GNU_HASH), sec[shGnuHash].addr},
		{dt(elf.DT_STRTAB), sec[shDynstr].addr},
		{dt(elf.DT_SYMTAB), sec[shDynsym].addr},
		{dt(elf.DT_STRSZ), sec[shDynstr].size},
		{dt(elf.DT_SYMENT), symSize},
		{dt(elf.DT_VERSYM), sec[shVersym].addr},
		{dt(elf.DT_VERDEF), sec[shVerdef].addr},
		{dt(elf.DT_VERDEFNUM), 2},
		{dt(elf.DT_NULL), 0},
	}
	if len(tags) != dynTags {
		return nil, fmt.Errorf("%w: %d dynamic tags, sized for %d", ErrLayout, len(tags), dynTags)
	}
	for i, tg := range tags {
		le.PutUint64(dyn[16*i:], tg[0])
		le.PutUint64(dyn[16*i+8:], tg[1])
	}

	// .note: "Linux" version word, then the GNU build-id (filled last).
	nt := out[sec[shNote].addr:]
	le.PutUint32(nt[0:], 6)
	le.PutUint32(nt[4:], 4)
	le.PutUint32(nt[8:], 0)
	copy(nt[12:], "Linux\x00")
	le.PutUint32(nt[20:], KernelVersionCode)
	g := nt[linuxNote:]
	le.PutUint32(g[0:], 4)
	le.PutUint32(g[4:], buildIDLen)
	le.PutUint32(g[8:], noteTypeBuildID)
	copy(g[12:], "GNU\x00")
	im.buildIDOff = sec[shNote].addr + uint64(linuxNote) + 16

	// .eh_frame: one CIE (CFA = rsp+8, RA at CFA-8) and one FDE per
	// function. FDE pointers are pc-relative sdata4.
	ef := out[sec[shEhFrame].addr:]
	efAddr := sec[shEhFrame].addr
	le.PutUint32(ef[0:], cieSize-4)
	le.PutUint32(ef[4:], 0) // CIE id
	copy(ef[8:], []byte{
		1,           // version
		'z', 'R', 0, // augmentation
		1,          // code alignment factor
		0x78,       // data alignment factor -8 (sleb128)
		16,         // return address column: rip
		1,          // augmentation data length
		0x1b,       // FDE encoding: DW_EH_PE_pcrel|DW_EH_PE_sdata4
		0x0c, 7, 8, // DW_CFA_def_cfa rsp, 8
		0x90, 1, // DW_CFA_offset rip, 1*-8
		0, 0, // DW_CFA_nop padding
	})
	type fde struct{ pc, addr uint64 }
	var fdes []fde
	for i := uint64(0); i < nFDE; i++ {
		t := Targets[i/2]
		pc, size := symValue(t, i%2 == 1)
		off := cieSize + fdeSize*i
		f := ef[off:]
		le.PutUint32(f[0:], fdeSize-4)
		le.PutUint32(f[4:], uint32(off+4)) // back to the CIE
		le.PutUint32(f[8:], uint32(int64(pc)-int64(efAddr+off+8)))
		le.PutUint32(f[12:], uint32(size))
		// f[16] augmentation length 0, then DW_CFA_nop padding.
		fdes = append(fdes, fde{pc, efAddr + off})
	}
	// The zero terminator after the last FDE is already zero.

	// .eh_frame_hdr with the sorted search table unwinders binary-search.
	sort.Slice(fdes, func(i, j int) bool { return fdes[i].pc < fdes[j].pc })
	hdr := out[sec[shEhFrameHdr].addr:]
	hdrAddr := sec[shEhFrameHdr].addr
	copy(hdr, []byte{1, 0x1b, 0x03, 0x3b}) // version, eh_frame_ptr pcrel|sdata4, count udata4, table datarel|sdata4
	le.PutUint32(hdr[4:], uint32(int64(efAddr)-int64(hdrAddr+4)))
	le.PutUint32(hdr[8:], uint32(nFDE))
	for i, f := range fdes {
		le.PutUint32(hdr[12+8*i:], uint32(int64(f.pc)-int64(hdrAddr)))
		le.PutUint32(hdr[16+8*i:], uint32(int64(f.addr)-int64(hdrAddr)))
	}

	// .symtab
	st := out[sec[shSymtab].addr:]
	for i, s := range ssyms {
		e := st[symSize*(i+1):]
		v, sz := symValue(s.target, s.fallback)
		if s.shndx == shSlots {
			v, sz = im.slotOff[s.target], 8
		}
		le.PutUint32(e[0:], strtabT.off[s.name])
		e[4] = s.info
		le.PutUint16(e[6:], s.shndx)
		le.PutUint64(e[8:], v)
		le.PutUint64(e[16:], sz)
		if s.shndx == shText {
			im.symbols = append(im.symbols, Symbol{Name: s.name, Value: v, Size: sz, Weak: s.weak,
				Export: s.export, Target: s.target})
		}
	}
	sort.SliceStable(im.symbols, func(i, j int) bool {
		a, b := im.symbols[i], im.symbols[j]
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		return a.Name < b.Name
	})

	for _, i := range []int{shDynstr, shStrtab, shShstrtab} {
		copy(out[sec[i].addr:], sec[i].data)
	}

	// Section headers.
	for i := 1; i < numSections; i++ {
		s := sec[i]
		h := out[shoff+shdrSize*uint64(i):]
		le.PutUint32(h[0:], s.nameOff)
		le.PutUint32(h[4:], uint32(s.typ))
		le.PutUint64(h[8:], s.flags)
		if s.flags&alloc != 0 {
			le.PutUint64(h[16:], s.addr)
		}
		le.PutUint64(h[24:], s.addr)
		le.PutUint64(h[32:], s.size)
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], s.align)
		le.PutUint64(h[56:], s.entsz)
	}

	// Program headers. One PT_LOAD for the whole image, at p_vaddr 0, as
	// Linux's vDSO has: glibc's setup_vdso takes l_addr from the first
	// PT_LOAD whose p_vaddr is non-zero ("if (!l_addr) l_addr = p_vaddr"),
	// so a second PT_LOAD at 0x1000 would shift every symbol by a page.
	// It runs to the end of the file so a reader of process memory (gdb)
	// finds the section headers too. The per-page protections (text R+X,
	// the rest R) are applied by Map from Regions().
	type phdr struct {
		typ, flags                    uint32
		off, filesz, memsz, alignment uint64
	}
	const pfX, pfW, pfR = uint32(elf.PF_X), uint32(elf.PF_W), uint32(elf.PF_R)
	phdrs := []phdr{
		{pt(elf.PT_LOAD), pfR | pfX, 0, fileSize, fileSize, PageSize},
		{pt(elf.PT_DYNAMIC), pfR, sec[shDynamic].addr, sec[shDynamic].size, sec[shDynamic].size, 8},
		{pt(elf.PT_NOTE), pfR, sec[shNote].addr, sec[shNote].size, sec[shNote].size, 4},
		{pt(elf.PT_GNU_EH_FRAME), pfR, hdrAddr, sec[shEhFrameHdr].size, sec[shEhFrameHdr].size, 4},
		// PT_GNU_STACK: without it glibc's dlopen (used to inspect a dump)
		// would make the caller's stack executable. The kernel's vDSO lacks
		// it; libc start-up code ignores it.
		{pt(elf.PT_GNU_STACK), pfR | pfW, 0, 0, 0, 16},
	}
	if len(phdrs) != numPhdrs {
		return nil, fmt.Errorf("%w: %d program headers, sized for %d", ErrLayout, len(phdrs), numPhdrs)
	}
	for i, p := range phdrs {
		h := out[ehdrSize+phdrSize*i:]
		le.PutUint32(h[0:], p.typ)
		le.PutUint32(h[4:], p.flags)
		le.PutUint64(h[8:], p.off)
		le.PutUint64(h[16:], p.off) // vaddr == offset
		le.PutUint64(h[24:], p.off) // paddr
		le.PutUint64(h[32:], p.filesz)
		le.PutUint64(h[40:], p.memsz)
		le.PutUint64(h[48:], p.alignment)
	}

	// ELF header.
	copy(out, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* EV_CURRENT */})
	le.PutUint16(out[16:], 3)  // ET_DYN
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[24:], 0) // no entry point
	le.PutUint64(out[32:], ehdrSize)
	le.PutUint64(out[40:], shoff)
	le.PutUint16(out[52:], ehdrSize)
	le.PutUint16(out[54:], phdrSize)
	le.PutUint16(out[56:], numPhdrs)
	le.PutUint16(out[58:], shdrSize)
	le.PutUint16(out[60:], numSections)
	le.PutUint16(out[62:], shShstrtab)

	// Build ID: SHA-1 of the image with the ID field still zero.
	sum := sha1.Sum(out)
	copy(out[im.buildIDOff:], sum[:])

	im.Data = out
	return im, nil
}

// BuildID returns the GNU build-id note's descriptor: a SHA-1 of the image
// with the descriptor zeroed, so identical images share an ID.
func (im *Image) BuildID() []byte {
	return append([]byte(nil), im.Data[im.buildIDOff:im.buildIDOff+buildIDLen]...)
}
