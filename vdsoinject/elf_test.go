package vdsoinject

import (
	"bytes"
	"crypto/sha1"
	"debug/elf"
	"encoding/binary"
	"golang.org/x/sys/unix"
	"sort"
	"testing"
)

var le = binary.LittleEndian

func mustBuild(t *testing.T) *Image {
	t.Helper()
	im, err := Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return im
}

func mustELF(t *testing.T, im *Image) *elf.File {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(im.Data))
	if err != nil {
		t.Fatalf("debug/elf: %v", err)
	}
	return f
}

// exports is the complete, exact export list with what each resolves to.
var exports = map[string]Target{
	"__kernel_vsyscall":    KernelVsyscall,
	"__vdso_clock_gettime": ClockGettime,
	"__vdso_gettimeofday":  Gettimeofday,
	"__vdso_time":          Time,
	"__vdso_getcpu":        Getcpu,
	"__vdso_clock_getres":  ClockGetres,
	"clock_gettime":        ClockGettime,
	"gettimeofday":         Gettimeofday,
	"time":                 Time,
	"getcpu":               Getcpu,
	"clock_getres":         ClockGetres,
}

var nonExports = []string{"__vdso_getrandom", "getrandom", "__kernel_rt_sigreturn",
	"__vdso_clock_gettime_fallback", "LINUX_2.6", "linux-vdso.so.1", "", "clock_gettim", "time "}

func TestDeterministic(t *testing.T) {
	a, b := mustBuild(t), mustBuild(t)
	if !bytes.Equal(a.Data, b.Data) {
		t.Fatal("two builds differ")
	}
	// The build-id is SHA-1 of the image with the id zeroed.
	id := a.BuildID()
	z := append([]byte(nil), a.Data...)
	copy(z[a.buildIDOff:], make([]byte, len(id)))
	if sum := sha1.Sum(z); !bytes.Equal(sum[:], id) {
		t.Fatalf("build-id %x, want %x", id, sum)
	}
	c, err := BuildWith(Options{NoCounters: true})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c.BuildID(), id) {
		t.Fatal("different images share a build-id")
	}
}

func TestELFStructure(t *testing.T) {
	im := mustBuild(t)
	f := mustELF(t, im)
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_DYN ||
		f.Machine != elf.EM_X86_64 {
		t.Fatalf("header: %v %v %v %v", f.Class, f.Data, f.Type, f.Machine)
	}
	want := map[string]elf.SectionType{
		".hash": elf.SHT_HASH, ".gnu.hash": elf.SHT_GNU_HASH, ".dynsym": elf.SHT_DYNSYM,
		".dynstr": elf.SHT_STRTAB, ".gnu.version": elf.SHT_GNU_VERSYM,
		".gnu.version_d": elf.SHT_GNU_VERDEF, ".text": elf.SHT_PROGBITS,
		".eh_frame_hdr": elf.SHT_PROGBITS, ".eh_frame": elf.SHT_PROGBITS,
		".dynamic": elf.SHT_DYNAMIC, ".note": elf.SHT_NOTE, ".vdso_slots": elf.SHT_PROGBITS,
		".shstrtab": elf.SHT_STRTAB,
	}
	for name, typ := range want {
		s := f.Section(name)
		if s == nil {
			t.Errorf("missing section %s", name)
			continue
		}
		if s.Type != typ {
			t.Errorf("%s type %v, want %v", name, s.Type, typ)
		}
		if s.Flags&elf.SHF_ALLOC != 0 && s.Addr != s.Offset {
			t.Errorf("%s addr %#x != offset %#x: image must be linked at 0", name, s.Addr, s.Offset)
		}
	}
	if s := f.Section(".text"); s.Flags&elf.SHF_EXECINSTR == 0 || s.Flags&elf.SHF_WRITE != 0 {
		t.Errorf(".text flags %v", s.Flags)
	}

	// Program headers: first PT_LOAD at vaddr 0 offset 0 (glibc's l_addr),
	// one PT_DYNAMIC / PT_NOTE / PT_GNU_EH_FRAME each, nothing writable.
	seen := map[elf.ProgType]int{}
	var loads []*elf.Prog
	for _, p := range f.Progs {
		seen[p.Type]++
		if p.Type == elf.PT_LOAD {
			loads = append(loads, p)
			if p.Vaddr != p.Off || p.Vaddr%PageSize != 0 || p.Filesz != p.Memsz {
				t.Errorf("PT_LOAD %+v", p.ProgHeader)
			}
			if p.Flags&elf.PF_W != 0 {
				t.Errorf("writable PT_LOAD at %#x", p.Vaddr)
			}
		}
	}
	// Exactly one PT_LOAD at vaddr 0, as Linux's vDSO: glibc's setup_vdso
	// mistakes a second PT_LOAD's p_vaddr for the load bias when the first
	// one's is 0.
	if len(loads) != 1 || loads[0].Vaddr != 0 {
		t.Fatalf("want one PT_LOAD at vaddr 0, have %d", len(loads))
	}
	for _, typ := range []elf.ProgType{elf.PT_DYNAMIC, elf.PT_NOTE, elf.PT_GNU_EH_FRAME} {
		if seen[typ] != 1 {
			t.Errorf("%v count %d", typ, seen[typ])
		}
	}
	if seen[elf.PT_TLS] != 0 || seen[elf.PT_INTERP] != 0 {
		t.Error("glibc's setup_vdso asserts there is no PT_TLS")
	}
	// The slots must be in a page of their own, outside the text pages,
	// so Map can make them read-only while text stays R+X.
	for _, tg := range Targets {
		so := im.SlotOffset(tg)
		for _, r := range im.Regions() {
			if so >= r.Off && so < r.Off+r.Len && r.Prot&unix.PROT_EXEC != 0 {
				t.Errorf("slot %v in an executable region", tg)
			}
		}
		if so/PageSize == im.StubOffset(tg)/PageSize {
			t.Errorf("slot %v shares a page with code", tg)
		}
	}
	// The last PT_LOAD covers the section headers so gdb reading the vDSO
	// from process memory finds them.
	last := loads[len(loads)-1]
	shoff := le.Uint64(im.Data[40:])
	if shoff+uint64(len(f.Sections))*64 > last.Off+last.Filesz {
		t.Error("section headers outside the loaded image")
	}

	tags := map[elf.DynTag]uint64{
		elf.DT_HASH: f.Section(".hash").Addr, elf.DT_GNU_HASH: f.Section(".gnu.hash").Addr,
		elf.DT_SYMTAB: f.Section(".dynsym").Addr, elf.DT_STRTAB: f.Section(".dynstr").Addr,
		elf.DT_STRSZ: f.Section(".dynstr").Size, elf.DT_SYMENT: 24,
		elf.DT_VERSYM: f.Section(".gnu.version").Addr, elf.DT_VERDEF: f.Section(".gnu.version_d").Addr,
		elf.DT_VERDEFNUM: 2,
	}
	for tag, v := range tags {
		got, err := f.DynValue(tag)
		if err != nil || len(got) != 1 || got[0] != v {
			t.Errorf("%v = %v (%v), want [%#x]", tag, got, err, v)
		}
	}
	for _, tag := range []elf.DynTag{elf.DT_NEEDED, elf.DT_RELA, elf.DT_REL, elf.DT_JMPREL, elf.DT_TEXTREL, elf.DT_INIT} {
		if got, _ := f.DynValue(tag); len(got) != 0 {
			t.Errorf("unexpected %v", tag)
		}
	}
	soname, err := f.DynString(elf.DT_SONAME)
	if err != nil || len(soname) != 1 || soname[0] != "linux-vdso.so.1" {
		t.Errorf("soname %v %v", soname, err)
	}

	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range syms {
		got[s.Name] = true
		tg, ok := exports[s.Name]
		if !ok {
			t.Errorf("unexpected export %q", s.Name)
			continue
		}
		if s.Version != "LINUX_2.6" || s.Library != "" || !s.HasVersion || s.VersionIndex.IsHidden() {
			t.Errorf("%s version %q lib %q idx %v", s.Name, s.Version, s.Library, s.VersionIndex)
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			t.Errorf("%s type %v", s.Name, elf.ST_TYPE(s.Info))
		}
		wantBind := elf.STB_GLOBAL
		if s.Name[0] != '_' {
			wantBind = elf.STB_WEAK
		}
		if elf.ST_BIND(s.Info) != wantBind || elf.ST_VISIBILITY(s.Other) != elf.STV_DEFAULT {
			t.Errorf("%s bind %v vis %v", s.Name, elf.ST_BIND(s.Info), elf.ST_VISIBILITY(s.Other))
		}
		if s.Value != im.StubOffset(tg) || s.Size == 0 || f.Sections[s.Section].Name != ".text" {
			t.Errorf("%s at %#x size %d sect %v, want %#x", s.Name, s.Value, s.Size, s.Section, im.StubOffset(tg))
		}
	}
	for name := range exports {
		if !got[name] {
			t.Errorf("missing export %s", name)
		}
	}

	vers, err := f.DynamicVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(vers) != 2 || vers[0].Name != "linux-vdso.so.1" || vers[0].Flags&elf.VER_FLG_BASE == 0 ||
		vers[0].Index != 1 || vers[1].Name != "LINUX_2.6" || vers[1].Index != 2 || vers[1].Flags != 0 {
		t.Errorf("versions %+v", vers)
	}
}

func TestNotes(t *testing.T) {
	im := mustBuild(t)
	f := mustELF(t, im)
	d, err := f.Section(".note").Data()
	if err != nil {
		t.Fatal(err)
	}
	type note struct {
		name string
		typ  uint32
		desc []byte
	}
	var notes []note
	for len(d) >= 12 {
		nsz, dsz, typ := le.Uint32(d), le.Uint32(d[4:]), le.Uint32(d[8:])
		n := (12 + nsz + 3) &^ 3
		end := n + (dsz+3)&^3
		if uint32(len(d)) < end {
			t.Fatalf("truncated note")
		}
		notes = append(notes, note{string(bytes.TrimRight(d[12:12+nsz], "\x00")), typ, d[n : n+dsz]})
		d = d[end:]
	}
	if len(d) != 0 || len(notes) != 2 {
		t.Fatalf("notes %+v rest %d", notes, len(d))
	}
	if notes[0].name != "Linux" || notes[0].typ != 0 || len(notes[0].desc) != 4 ||
		le.Uint32(notes[0].desc) < 3<<16|2<<8 { // glibc's minimum kernel: 3.2
		t.Errorf("Linux note %+v", notes[0])
	}
	if notes[1].name != "GNU" || notes[1].typ != 3 /* NT_GNU_BUILD_ID */ ||
		!bytes.Equal(notes[1].desc, im.BuildID()) {
		t.Errorf("build-id note %+v", notes[1])
	}
}

// loaderView is an independent reimplementation of how glibc and musl
// resolve a versioned symbol in the vDSO: nothing here uses the generator's
// own code or constants.
type loaderView struct {
	b              []byte
	symtab, strtab uint64
	hash, gnuhash  uint64
	versym, verdef uint64
	verdefnum      uint64
}

func newLoaderView(t *testing.T, im *Image) *loaderView {
	t.Helper()
	f := mustELF(t, im)
	v := &loaderView{b: im.Data}
	get := func(tag elf.DynTag) uint64 {
		x, err := f.DynValue(tag)
		if err != nil || len(x) != 1 {
			t.Fatalf("%v: %v %v", tag, x, err)
		}
		return x[0]
	}
	v.symtab, v.strtab = get(elf.DT_SYMTAB), get(elf.DT_STRTAB)
	v.hash, v.gnuhash = get(elf.DT_HASH), get(elf.DT_GNU_HASH)
	v.versym, v.verdef, v.verdefnum = get(elf.DT_VERSYM), get(elf.DT_VERDEF), get(elf.DT_VERDEFNUM)
	return v
}

func (v *loaderView) str(off uint32) string {
	s := v.b[v.strtab+uint64(off):]
	return string(s[:bytes.IndexByte(s, 0)])
}

func (v *loaderView) symName(i uint32) string  { return v.str(le.Uint32(v.b[v.symtab+24*uint64(i):])) }
func (v *loaderView) symValue(i uint32) uint64 { return le.Uint64(v.b[v.symtab+24*uint64(i)+8:]) }

func testElfHash(s string) uint32 {
	var h uint32
	for _, c := range []byte(s) {
		h = (h << 4) + uint32(c)
		if g := h & 0xf0000000; g != 0 {
			h ^= g >> 24
			h &^= g
		}
	}
	return h
}

func testGnuHash(s string) uint32 {
	var h uint32 = 5381
	for _, c := range []byte(s) {
		h = (h << 5) + h + uint32(c)
	}
	return h
}

// glibcVersionOK is check_match's test: l_versions[versym & 0x7fff] (built
// from verdef by _dl_check_map_versions) must match name and hash.
func (v *loaderView) glibcVersionOK(i uint32, ver string) bool {
	ndx := le.Uint16(v.b[v.versym+2*uint64(i):]) & 0x7fff
	off := v.verdef
	for n := uint64(0); n < v.verdefnum; n++ {
		d := v.b[off:]
		if le.Uint16(d[0:]) != 1 {
			return false
		}
		if le.Uint16(d[4:]) == ndx && le.Uint16(d[2:])&uint16(elf.VER_FLG_BASE) == 0 {
			aux := le.Uint32(d[12:])
			return le.Uint32(d[8:]) == testElfHash(ver) && v.str(le.Uint32(d[aux:])) == ver
		}
		off += uint64(le.Uint32(d[16:]))
	}
	return false
}

func (v *loaderView) sysvLookup(name, ver string) (uint64, bool) {
	nbucket := le.Uint32(v.b[v.hash:])
	buckets := v.hash + 8
	chains := buckets + 4*uint64(nbucket)
	h := testElfHash(name)
	for i := le.Uint32(v.b[buckets+4*uint64(h%nbucket):]); i != 0; i = le.Uint32(v.b[chains+4*uint64(i):]) {
		if v.symName(i) == name && v.glibcVersionOK(i, ver) {
			return v.symValue(i), true
		}
	}
	return 0, false
}

func (v *loaderView) gnuLookup(name, ver string) (uint64, bool) {
	g := v.b[v.gnuhash:]
	nbuckets, symoffset, bloomSize, shift := le.Uint32(g), le.Uint32(g[4:]), le.Uint32(g[8:]), le.Uint32(g[12:])
	if bloomSize&(bloomSize-1) != 0 {
		return 0, false // glibc masks with bloomSize-1: must be a power of two
	}
	h := testGnuHash(name)
	word := le.Uint64(g[16+8*((h/64)&(bloomSize-1)):])
	if (word>>(h%64))&(word>>((h>>shift)%64))&1 == 0 {
		return 0, false
	}
	buckets := g[16+8*bloomSize:]
	chain := buckets[4*nbuckets:]
	i := le.Uint32(buckets[4*(h%nbuckets):])
	if i == 0 {
		return 0, false
	}
	for ; ; i++ {
		ch := le.Uint32(chain[4*(i-symoffset):])
		if (ch^h)>>1 == 0 && v.symName(i) == name && v.glibcVersionOK(i, ver) {
			return v.symValue(i), true
		}
		if ch&1 != 0 {
			return 0, false
		}
	}
}

func TestHashLookups(t *testing.T) {
	im := mustBuild(t)
	v := newLoaderView(t, im)
	for name, tg := range exports {
		for _, how := range []struct {
			kind string
			fn   func(string, string) (uint64, bool)
		}{{"DT_HASH", v.sysvLookup}, {"DT_GNU_HASH", v.gnuLookup}} {
			got, ok := how.fn(name, "LINUX_2.6")
			if !ok || got != im.StubOffset(tg) {
				t.Errorf("%s: %s -> %#x %v, want %#x", how.kind, name, got, ok, im.StubOffset(tg))
			}
			if _, ok := how.fn(name, "LINUX_2.5"); ok {
				t.Errorf("%s: %s resolved with the wrong version", how.kind, name)
			}
		}
	}
	for _, name := range nonExports {
		if _, ok := v.sysvLookup(name, "LINUX_2.6"); ok {
			t.Errorf("DT_HASH resolves non-export %q", name)
		}
		if _, ok := v.gnuLookup(name, "LINUX_2.6"); ok {
			t.Errorf("DT_GNU_HASH resolves non-export %q", name)
		}
	}
	// DT_HASH's nchain must count every dynamic symbol (musl iterates it).
	f := mustELF(t, im)
	syms, _ := f.DynamicSymbols()
	if n := le.Uint32(im.Data[v.hash+4:]); int(n) != len(syms)+1 {
		t.Errorf("nchain %d, want %d", n, len(syms)+1)
	}
}

// TestMuslVdsosym walks the image the way musl's __vdsosym
// (src/internal/vdso.c) does, treating Data as the mapped vDSO.
func TestMuslVdsosym(t *testing.T) {
	im := mustBuild(t)
	b := im.Data
	muslSym := func(vername, name string) (uint64, bool) {
		phoff, phentsize, phnum := le.Uint64(b[32:]), uint64(le.Uint16(b[54:])), uint64(le.Uint16(b[56:]))
		var base int64 = -1
		var dynv uint64
		haveDyn := false
		for i := uint64(0); i < phnum; i++ {
			ph := b[phoff+i*phentsize:]
			switch elf.ProgType(le.Uint32(ph)) {
			case elf.PT_LOAD:
				base = int64(le.Uint64(ph[8:])) - int64(le.Uint64(ph[16:]))
			case elf.PT_DYNAMIC:
				dynv, haveDyn = le.Uint64(ph[8:]), true
			}
		}
		if !haveDyn || base == -1 {
			return 0, false
		}
		var strings, syms, hashtab, versym, verdef uint64
		for i := dynv; le.Uint64(b[i:]) != 0; i += 16 {
			p := uint64(base + int64(le.Uint64(b[i+8:])))
			switch elf.DynTag(le.Uint64(b[i:])) {
			case elf.DT_STRTAB:
				strings = p
			case elf.DT_SYMTAB:
				syms = p
			case elf.DT_HASH:
				hashtab = p
			case elf.DT_VERSYM:
				versym = p
			case elf.DT_VERDEF:
				verdef = p
			}
		}
		if strings == 0 || syms == 0 || hashtab == 0 {
			return 0, false
		}
		if verdef == 0 {
			versym = 0
		}
		cstr := func(o uint64) string { s := b[o:]; return string(s[:bytes.IndexByte(s, 0)]) }
		checkver := func(def uint64, vsym uint16) bool {
			vsym &= 0x7fff
			for {
				d := b[def:]
				if le.Uint16(d[2:])&uint16(elf.VER_FLG_BASE) == 0 && le.Uint16(d[4:])&0x7fff == vsym {
					aux := def + uint64(le.Uint32(d[12:]))
					return cstr(strings+uint64(le.Uint32(b[aux:]))) == vername
				}
				if le.Uint32(d[16:]) == 0 {
					return false
				}
				def += uint64(le.Uint32(d[16:]))
			}
		}
		const okTypes = 1<<elf.STT_NOTYPE | 1<<elf.STT_OBJECT | 1<<elf.STT_FUNC | 1<<elf.STT_COMMON
		const okBinds = 1<<elf.STB_GLOBAL | 1<<elf.STB_WEAK | 1<<10 /* STB_GNU_UNIQUE */
		nchain := uint64(le.Uint32(b[hashtab+4:]))
		for i := uint64(0); i < nchain; i++ {
			s := b[syms+24*i:]
			if (1<<(s[4]&0xf))&okTypes == 0 || (1<<(s[4]>>4))&okBinds == 0 || le.Uint16(s[6:]) == 0 {
				continue
			}
			if cstr(strings+uint64(le.Uint32(s))) != name {
				continue
			}
			if versym != 0 && !checkver(verdef, le.Uint16(b[versym+2*i:])) {
				continue
			}
			return uint64(base) + le.Uint64(s[8:]), true
		}
		return 0, false
	}
	got, ok := muslSym("LINUX_2.6", "__kernel_vsyscall")
	if !ok || got != im.StubOffset(KernelVsyscall) {
		t.Fatalf("musl __vdsosym(__kernel_vsyscall) = %#x %v, want %#x", got, ok, im.StubOffset(KernelVsyscall))
	}
	for name, tg := range exports {
		if got, ok := muslSym("LINUX_2.6", name); !ok || got != im.StubOffset(tg) {
			t.Errorf("musl %s = %#x %v", name, got, ok)
		}
	}
	if _, ok := muslSym("LINUX_2.6", "__vdso_getrandom"); ok {
		t.Error("musl finds __vdso_getrandom")
	}
	if _, ok := muslSym("LINUX_2.5", "__kernel_vsyscall"); ok {
		t.Error("musl accepts the wrong version")
	}
}

func TestSymbolsListing(t *testing.T) {
	im := mustBuild(t)
	syms := im.Symbols()
	if !sort.SliceIsSorted(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value }) {
		t.Error("Symbols not sorted by address")
	}
	nExport := 0
	for _, s := range syms {
		if s.Export {
			nExport++
			if tg, ok := exports[s.Name]; !ok || tg != s.Target || s.Value != im.StubOffset(tg) {
				t.Errorf("export %+v", s)
			}
			continue
		}
		if fb, _ := im.FallbackOffset(s.Target); s.Value != fb {
			t.Errorf("local %+v, fallback at %#x", s, fb)
		}
	}
	if nExport != len(exports) {
		t.Errorf("%d exports listed, want %d", nExport, len(exports))
	}
}
