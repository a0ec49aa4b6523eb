package coverage

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// VDSOObject is the object name the host logs for the synthetic vDSO.
const VDSOObject = "[vdso]"

// debugRoot holds separate debug files by build-id (Debian's *-dbg and
// *-dbgsym packages install them there), used when an object carries no
// DWARF of its own.
var debugRoot = "/usr/lib/debug/.build-id"

// symbolizer names the sites of one report: the object's build-id, the
// function around the site (.symtab, else .dynsym) and its source line
// (DWARF). Only objects that have sites are read, each opened once per
// report; the parsed objects live in a process-wide cache keyed by
// build-id, so `vsysbed` embedded in a test suite reads libc once for many
// runs. With a SymbolStore (Input.Symbols) the answers also outlive the
// process: an object whose every site the store answers is opened for its
// identity and load segments only, never parsed (libc's line table alone
// costs ~50 ms to decompress). Objects that cannot be read (deleted, no
// permission, not ELF) leave the site at object+offset.
type symbolizer struct {
	enabled bool
	vdso    []byte // the synthetic vDSO's image (Input.VDSOImage)
	cache   *objectCache
	store   SymbolStore // nil: none
	byPath  map[string]*objectRef
}

func newSymbolizer(enabled bool, vdso []byte) *symbolizer {
	return &symbolizer{enabled: enabled, vdso: vdso, cache: sharedObjects, byPath: map[string]*objectRef{}}
}

// objectRef is one object of a report: its identity and load segments,
// read when its first site is filled; the full parse only when a site is
// not in the store.
type objectRef struct {
	path     string
	buildID  string
	loads    []elf.ProgHeader
	storeKey string // "" when the answers cannot be stored (no build-id)
	stored   map[uint64]SymbolEntry
	added    []SymbolEntry
	parsed   bool
	obj      *objectSymbols // once parsed; nil: unreadable
}

// fill sets the site's BuildID, Function, Symbol, File and Line from its
// Object and Offset.
func (s *symbolizer) fill(site *Site) {
	if !s.enabled {
		return
	}
	ref := s.object(site.Object)
	if ref == nil {
		return
	}
	site.BuildID = ref.buildID
	vaddr, ok := segmentAddr(ref.loads, uint64(site.Offset))
	if !ok {
		return
	}
	// A bypass or vdso site is the return address of a call: the call
	// itself is the byte before, and that is the line a user looks for
	// (the return address of a call to a noreturn function can even lie
	// in the next function).
	at := vaddr
	if site.Kind != KindTrap && site.Kind != KindInt80 && site.Kind != KindPatched && at > 0 {
		at--
	}
	e, ok := s.lookup(ref, at)
	if !ok {
		return
	}
	if e.Function != "" && e.Value <= at {
		site.Function = e.Function
		site.Symbol = e.Function
		if d := vaddr - e.Value; d != 0 {
			site.Symbol += "+0x" + strconv.FormatUint(d, 16)
		}
	}
	site.File, site.Line = e.File, e.Line
}

// lookup answers address at of ref from the store, else from the parsed
// object (and remembers the answer for the store); ok is false when the
// object cannot be parsed.
func (s *symbolizer) lookup(ref *objectRef, at uint64) (SymbolEntry, bool) {
	if ref.storeKey != "" && s.store != nil && ref.stored == nil {
		ref.stored = map[uint64]SymbolEntry{}
		for _, e := range s.store.Load(ref.storeKey) {
			ref.stored[e.Addr] = e
		}
	}
	if e, ok := ref.stored[at]; ok {
		return e, true
	}
	if !ref.parsed {
		ref.parsed = true
		switch ref.path {
		case VDSOObject:
			ref.obj = parseVDSO(s.vdso)
		default:
			ref.obj = s.cache.load(ref.path)
		}
	}
	if ref.obj == nil {
		return SymbolEntry{}, false
	}
	e := SymbolEntry{Addr: at}
	if fn, ok := ref.obj.function(at); ok {
		e.Function, e.Value = fn.name, fn.value
	}
	e.File, e.Line = ref.obj.line(at)
	if ref.storeKey != "" && s.store != nil {
		ref.stored[at] = e
		ref.added = append(ref.added, e)
	}
	return e, true
}

func (s *symbolizer) object(path string) *objectRef {
	if ref, ok := s.byPath[path]; ok {
		return ref
	}
	var ref *objectRef
	switch {
	case path == VDSOObject:
		if obj := parseVDSO(s.vdso); obj != nil {
			ref = &objectRef{path: path, buildID: obj.buildID, loads: obj.loads, parsed: true, obj: obj}
		}
	case path == "" || strings.HasPrefix(path, "["):
	default:
		ref = openObject(path)
	}
	s.byPath[path] = ref
	return ref
}

// flush hands the store the answers this report added, each object's
// with those it already had (at most maxStoredEntries).
func (s *symbolizer) flush() {
	if s.store == nil {
		return
	}
	paths := make([]string, 0, len(s.byPath))
	for p := range s.byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		ref := s.byPath[p]
		if ref == nil || len(ref.added) == 0 {
			continue
		}
		all := make([]SymbolEntry, 0, len(ref.stored))
		for _, e := range ref.stored {
			all = append(all, e)
		}
		if len(all) > maxStoredEntries {
			all = ref.added[:min(len(ref.added), maxStoredEntries)]
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Addr < all[j].Addr })
		s.store.Store(ref.storeKey, all)
	}
}

// maxStoredEntries bounds one object's answers in the store (a site table
// holds 4096 sites).
const maxStoredEntries = 1 << 14

// SymbolStore keeps what symbolisation found in objects across reports
// (Input.Symbols; vsysbed's is internal/symcache, a file per object under
// $XDG_CACHE_HOME). key names one object's contents: its build-id and
// size, the separate debug file's size and mtime (or none) and
// SymbolizerVersion; every answer stored under it is a function of those
// bytes alone. Load returns nil when nothing (valid) is stored; Store
// replaces what key held and may fail silently: the next report parses
// the object again.
type SymbolStore interface {
	Load(key string) []SymbolEntry
	Store(key string, entries []SymbolEntry)
}

// SymbolEntry is what an object says about one address in it.
type SymbolEntry struct {
	Addr     uint64 // the address looked up, as the object is linked
	Function string // the function covering it ("" when none)
	Value    uint64 // the function's address
	File     string // source file ("" when no line table covers it)
	Line     int
}

// SymbolizerVersion is part of every SymbolStore key: a change to what
// the symbolizer answers for the same bytes (a new rule for names or
// lines: which symbol wins at one address, directory joining, the byte
// before a return address) must add one to it, or stored answers of the
// old rules keep being used. A change to how Site fields are rendered
// from the answers (Symbol's "+0x", a demangler) needs none.
const SymbolizerVersion = 1

// openELF opens path, a regular file, as ELF; the caller closes file.
func openELF(path string) (file *os.File, st os.FileInfo, f *elf.File, ok bool) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, false
	}
	st, err = file.Stat()
	if err == nil && st.Mode().IsRegular() {
		if f, err = elf.NewFile(file); err == nil {
			return file, st, f, true
		}
	}
	file.Close()
	return nil, nil, nil, false
}

// openObject reads path's identity and load segments; nil when it is not
// a readable ELF file.
func openObject(path string) *objectRef {
	file, st, f, ok := openELF(path)
	if !ok {
		return nil
	}
	defer file.Close()
	ref := &objectRef{path: path, buildID: BuildID(f), loads: loadSegments(f)}
	if ref.buildID != "" {
		dbg := "none"
		if dst, err := os.Stat(debugFile(ref.buildID)); err == nil {
			dbg = strconv.FormatInt(dst.Size(), 10) + " " + strconv.FormatInt(dst.ModTime().UnixNano(), 10)
		}
		ref.storeKey = "object build-id:" + ref.buildID + " " + strconv.FormatInt(st.Size(), 10) + "\n" +
			"debug " + dbg + "\n" + "symbolizer " + strconv.Itoa(SymbolizerVersion) + "\n"
	}
	return ref
}

// debugFile is where a separate debug file for build-id id would be.
func debugFile(id string) string {
	return filepath.Join(debugRoot, id[:2], id[2:]+".debug")
}

// objectSymbols is what one ELF object tells about its code.
type objectSymbols struct {
	buildID string
	loads   []elf.ProgHeader
	funcs   []funcSymbol // by value; at one value the preferred name first

	// The line tables are read on the first line lookup, from dwarfPath
	// (the object itself or its separate debug file); "" when there are
	// none.
	dwarfPath string
	linesOnce sync.Once
	lines     *lineTable
}

type funcSymbol struct {
	name        string
	value, size uint64
}

// segmentAddr converts a file offset to the virtual address the object is
// linked at, through the PT_LOAD segment holding that file byte. They
// differ in non-PIE executables (text at 0x401000, file offset 0x1000) and
// in any segment the linker placed at a page-misaligned delta.
func segmentAddr(loads []elf.ProgHeader, off uint64) (uint64, bool) {
	for _, p := range loads {
		if off >= p.Off && off < p.Off+p.Filesz {
			return off - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

// function finds the function symbol covering vaddr. A function of size 0
// (hand-written assembly without .size) covers up to the next symbol.
func (o *objectSymbols) function(vaddr uint64) (funcSymbol, bool) {
	i := sort.Search(len(o.funcs), func(i int) bool { return o.funcs[i].value > vaddr })
	next := uint64(1<<64 - 1)
	if i < len(o.funcs) {
		next = o.funcs[i].value
	}
	for j := i - 1; j >= 0; j-- {
		fn := o.funcs[j]
		end := fn.value + fn.size
		if fn.size == 0 {
			end = min(next, fn.value+4096)
		}
		if vaddr < end {
			for j > 0 && o.funcs[j-1].value == fn.value {
				j--
			}
			return o.funcs[j], true
		}
		if vaddr-fn.value > 1<<20 {
			break // nested functions are never this far apart
		}
		next = fn.value
	}
	return funcSymbol{}, false
}

// line is the source position of vaddr ("", 0 when unknown).
func (o *objectSymbols) line(vaddr uint64) (string, int) {
	if o.dwarfPath == "" {
		return "", 0
	}
	o.linesOnce.Do(func() { o.lines = loadLineTable(o.dwarfPath) })
	if o.lines == nil {
		return "", 0
	}
	return o.lines.lookup(vaddr)
}

// readObject parses what symbolisation needs from an ELF file: program
// headers, build-id and function symbols. path is the file the DWARF is
// later read from ("" for an in-memory image).
func readObject(f *elf.File, path string) *objectSymbols {
	obj := &objectSymbols{buildID: BuildID(f), loads: loadSegments(f)}
	syms, _ := f.Symbols()
	if len(syms) == 0 {
		syms, _ = f.DynamicSymbols()
	}
	if path != "" && hasDWARF(f) {
		obj.dwarfPath = path
	}
	if obj.buildID != "" && (obj.dwarfPath == "" || len(syms) == 0) && path != "" {
		// A separate debug file carries the .symtab and DWARF that strip
		// removed, at the same addresses.
		dbg := debugFile(obj.buildID)
		if df, err := elf.Open(dbg); err == nil {
			if obj.dwarfPath == "" && hasDWARF(df) {
				obj.dwarfPath = dbg
			}
			if ds, _ := df.Symbols(); len(ds) > 0 {
				syms = append(syms, ds...)
			}
			df.Close()
		}
	}
	for _, sym := range syms {
		if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 && sym.Section != elf.SHN_UNDEF {
			obj.funcs = append(obj.funcs, funcSymbol{name: sym.Name, value: sym.Value, size: sym.Size})
		}
	}
	// At one address prefer the public name (no leading underscore, as
	// libc's "write" over "__write"), then the shorter.
	sort.Slice(obj.funcs, func(i, j int) bool {
		a, b := obj.funcs[i], obj.funcs[j]
		if a.value != b.value {
			return a.value < b.value
		}
		au, bu := strings.HasPrefix(a.name, "_"), strings.HasPrefix(b.name, "_")
		if au != bu {
			return !au
		}
		if len(a.name) != len(b.name) {
			return len(a.name) < len(b.name)
		}
		return a.name < b.name
	})
	return obj
}

// loadSegments are f's PT_LOAD segments, the executable ones first: where
// file ranges of segments touch, the site is code.
func loadSegments(f *elf.File) []elf.ProgHeader {
	var loads []elf.ProgHeader
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads = append(loads, p.ProgHeader)
		}
	}
	sort.SliceStable(loads, func(i, j int) bool {
		return loads[i].Flags&elf.PF_X > loads[j].Flags&elf.PF_X
	})
	return loads
}

func hasDWARF(f *elf.File) bool { return f.Section(".debug_line") != nil }

// BuildID is the hex descriptor of f's NT_GNU_BUILD_ID note, from the
// PT_NOTE segments or, for a file without program headers, the note
// sections; "" when there is none. The report keys debug files by it, the
// probe cache (internal/probecache) vsysbed's own binary.
func BuildID(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_NOTE {
			if id := noteBuildID(p.Open(), p.Filesz, p.Align, f.ByteOrder); id != "" {
				return id
			}
		}
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE {
			if id := noteBuildID(s.Open(), s.Size, s.Addralign, f.ByteOrder); id != "" {
				return id
			}
		}
	}
	return ""
}

// noteGNU is the owner of GNU notes; ntGNUBuildID their build-id type.
const (
	noteGNU      = "GNU\x00"
	ntGNUBuildID = 3
)

// noteBuildID scans one note area. The descriptor and the next note start
// at the area's alignment: 4 in classic notes, 8 in the .note.gnu.property
// segments newer linkers emit.
func noteBuildID(r io.ReadSeeker, size, align uint64, bo binary.ByteOrder) string {
	if size > 1<<20 {
		return ""
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return ""
	}
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(b)), uint64(bo.Uint32(b[4:])), bo.Uint32(b[8:])
		if namesz > uint64(len(b)) || descsz > uint64(len(b)) {
			return ""
		}
		nameEnd := alignTo(12+namesz, pad)
		descEnd := alignTo(nameEnd+descsz, pad)
		if nameEnd+descsz > uint64(len(b)) {
			return ""
		}
		if typ == ntGNUBuildID && string(b[12:12+namesz]) == noteGNU && descsz > 0 {
			return hex.EncodeToString(b[nameEnd : nameEnd+descsz])
		}
		if descEnd >= uint64(len(b)) {
			return ""
		}
		b = b[descEnd:]
	}
	return ""
}

func alignTo(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// parseVDSO reads the synthetic vDSO's image: generated, not read from a
// file, the one the host maps (vdsoinject.Build), with its .symtab naming
// the local fallbacks. nil when there is none.
func parseVDSO(image []byte) *objectSymbols {
	if image == nil {
		return nil
	}
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil
	}
	return readObject(f, "")
}

// objectCache keeps parsed objects across reports. The key is the build-id
// plus the file size (a stripped copy keeps its build-id but not its
// symbols), or for objects without a build-id the path, size and mtime. It
// holds at most objectCacheSize objects, dropping the least recently used.
type objectCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
	clock   uint64
}

type cacheEntry struct {
	obj  *objectSymbols
	used uint64
}

const objectCacheSize = 64

var sharedObjects = newObjectCache()

func newObjectCache() *objectCache { return &objectCache{entries: map[string]*cacheEntry{}} }

// load opens path and returns its symbols, from the cache when an object
// with the same identity was read before; nil when path is not a readable
// ELF file.
func (c *objectCache) load(path string) *objectSymbols {
	file, st, f, ok := openELF(path)
	if !ok {
		return nil
	}
	defer file.Close()
	size := strconv.FormatInt(st.Size(), 10)
	key := "path:" + path + "\x00" + size + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	if id := BuildID(f); id != "" {
		key = "id:" + id + "\x00" + size
	}
	if obj := c.get(key); obj != nil {
		return obj
	}
	obj := readObject(f, path)
	c.put(key, obj)
	return obj
}

func (c *objectCache) get(key string) *objectSymbols {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	c.clock++
	e.used = c.clock
	return e.obj
}

func (c *objectCache) put(key string, obj *objectSymbols) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= objectCacheSize {
		oldest, oldestKey := uint64(1<<64-1), ""
		for k, e := range c.entries {
			if e.used < oldest {
				oldest, oldestKey = e.used, k
			}
		}
		delete(c.entries, oldestKey)
	}
	c.clock++
	c.entries[key] = &cacheEntry{obj: obj, used: c.clock}
}

// lineTable answers file:line from .debug_line alone. The rest of DWARF is
// not read: .debug_info is most of it (5.8 MB of libc's 10 MB, compressed
// in debug files) and costs a third of a second to inflate, while the line
// programs hold everything a site needs. debug/dwarf reads a line program
// only through a compilation unit, so each program gets a synthetic
// one-attribute unit (DW_AT_stmt_list) pointing at it.
type lineTable struct {
	mu      sync.Mutex // LineReaders are stateful
	data    *dwarf.Data
	units   []*dwarf.Entry
	dir0    []string // DWARF 5 directory 0 (the compilation directory) per program
	seqs    []lineSequence
	readers map[int]*dwarf.LineReader
}

// lineSequence is one contiguous run of code a line program describes.
type lineSequence struct {
	lo, hi uint64
	prog   int
}

// DWARF encodings the synthetic units and the directory-0 reader use.
const (
	dwTagCompileUnit  = 0x11
	dwAtStmtList      = 0x10
	dwFormSecOffset   = 0x17
	dwFormString      = 0x08
	dwFormStrp        = 0x0e
	dwFormLineStrp    = 0x1f
	dwFormUdata       = 0x0f
	dwFormData1       = 0x0b
	dwFormData2       = 0x05
	dwFormData4       = 0x06
	dwFormData8       = 0x07
	dwFormData16      = 0x1e
	dwFormBlock       = 0x09
	dwLnctPath        = 1
	dwarf64Escape     = 0xffffffff
	dwarfLengthLimit  = 0xfffffff0 // lengths at or above are reserved
	syntheticUnitSize = 16         // 4 length + 2 version + 4 abbrev + 1 address size + 1 code + 4 stmt_list
)

// loadLineTable reads the line programs of the ELF file at path; nil when it
// has none or they cannot be parsed.
func loadLineTable(path string) *lineTable {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	section := func(name string) []byte {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			if b, err := s.Data(); err == nil {
				return b
			}
		}
		return nil
	}
	line := section(".debug_line")
	if line == nil {
		return nil
	}
	lineStr, str := section(".debug_line_str"), section(".debug_str")
	bo := f.ByteOrder
	ab, ok := bo.(binary.AppendByteOrder)
	if !ok {
		return nil
	}

	// One synthetic DWARF 4 unit per line program.
	abbrev := []byte{1, dwTagCompileUnit, 0, dwAtStmtList, dwFormSecOffset, 0, 0, 0}
	var info []byte
	var offsets []uint64
	for off := uint64(0); off+4 <= uint64(len(line)) && off <= 0xffffffff; {
		n := uint64(bo.Uint32(line[off:]))
		next := off + 4 + n
		if n == dwarf64Escape {
			if off+12 > uint64(len(line)) {
				break
			}
			next = off + 12 + bo.Uint64(line[off+4:])
		} else if n >= dwarfLengthLimit {
			break
		}
		if next > uint64(len(line)) || next <= off {
			break
		}
		offsets = append(offsets, off)
		info = ab.AppendUint32(info, syntheticUnitSize-4)
		info = ab.AppendUint16(info, 4)
		info = ab.AppendUint32(info, 0)
		info = append(info, 8, 1)
		info = ab.AppendUint32(info, uint32(off))
		off = next
	}
	d, err := dwarf.New(abbrev, nil, nil, info, line, nil, nil, str)
	if err != nil {
		return nil
	}
	if lineStr != nil {
		if err := d.AddSection(".debug_line_str", lineStr); err != nil {
			return nil
		}
	}
	t := &lineTable{data: d, readers: map[int]*dwarf.LineReader{}}
	r := d.Reader()
	for prog := 0; ; prog++ {
		unit, err := r.Next()
		if err != nil || unit == nil || prog >= len(offsets) {
			break
		}
		t.units = append(t.units, unit)
		t.dir0 = append(t.dir0, lineDir0(line[offsets[prog]:], lineStr, str, bo))
		lr, err := d.LineReader(unit)
		if err != nil || lr == nil {
			continue
		}
		var e dwarf.LineEntry
		var lo uint64
		in := false
		for lr.Next(&e) == nil {
			switch {
			case e.EndSequence:
				// Sequences of code the linker discarded start at 0 (or
				// a -1/-2 tombstone); they would shadow real code.
				if in && lo != 0 && lo < 1<<63 && e.Address > lo {
					t.seqs = append(t.seqs, lineSequence{lo, e.Address, prog})
				}
				in = false
			case !in:
				lo, in = e.Address, true
			}
		}
	}
	sort.Slice(t.seqs, func(i, j int) bool { return t.seqs[i].lo < t.seqs[j].lo })
	return t
}

// lookup finds the sequence covering vaddr and in it the row with the
// greatest address <= vaddr.
func (t *lineTable) lookup(vaddr uint64) (string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.seqs), func(i int) bool { return t.seqs[i].lo > vaddr })
	for j := i - 1; j >= 0 && j >= i-8; j-- { // overlapping sequences are rare
		sq := t.seqs[j]
		if vaddr >= sq.hi {
			continue
		}
		lr, ok := t.readers[sq.prog]
		if !ok {
			lr, _ = t.data.LineReader(t.units[sq.prog])
			t.readers[sq.prog] = lr
		}
		var e dwarf.LineEntry
		if lr == nil || lr.SeekPC(vaddr, &e) != nil || e.File == nil || e.Line == 0 {
			continue
		}
		return t.dir0Join(sq.prog, e.File.Name), e.Line
	}
	return "", 0
}

// dir0Join puts a file name under the program's directory 0. In DWARF 5
// every directory is relative to directory 0, the compilation directory,
// but debug/dwarf joins only a file's own directory. A name that already
// starts with directory 0 had it as its own directory. glibc's is "./io"
// (built with -fdebug-prefix-map): "../sysdeps/x/read.c" becomes
// "sysdeps/x/read.c", relative to the source tree as addr2line prints it.
func (t *lineTable) dir0Join(prog int, name string) string {
	dir := t.dir0[prog]
	if dir == "" || filepath.IsAbs(name) || strings.HasPrefix(name, dir+"/") {
		return filepath.Clean(name)
	}
	return filepath.Join(dir, name)
}

// lineDir0 reads directory 0 of a DWARF 5 line program header (the
// compilation directory); "" for older versions or forms it does not know.
func lineDir0(b, lineStr, str []byte, bo binary.ByteOrder) string {
	p := uint64(4)
	offSize := uint64(4)
	if len(b) >= 4 && bo.Uint32(b) == dwarf64Escape {
		p, offSize = 12, 8
	}
	need := func(n uint64) bool { return p+n <= uint64(len(b)) }
	uleb := func() (uint64, bool) {
		var v uint64
		for shift := uint(0); need(1) && shift < 64; shift += 7 {
			c := b[p]
			p++
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, true
			}
		}
		return 0, false
	}
	offset := func() uint64 {
		if offSize == 8 {
			return bo.Uint64(b[p:])
		}
		return uint64(bo.Uint32(b[p:]))
	}
	cstr := func(sec []byte, at uint64) string {
		if at >= uint64(len(sec)) {
			return ""
		}
		if n := bytes.IndexByte(sec[at:], 0); n >= 0 {
			return string(sec[at : at+uint64(n)])
		}
		return ""
	}
	// version, address_size, segment_selector_size, header_length,
	// minimum_instruction_length, maximum_operations_per_instruction,
	// default_is_stmt, line_base, line_range, opcode_base.
	if !need(4+offSize+6) || bo.Uint16(b[p:]) != 5 {
		return ""
	}
	p += 4 + offSize + 5
	p += uint64(b[p]) // opcode_base, then its opcode_base-1 lengths
	if !need(1) {
		return ""
	}
	nFormats := int(b[p])
	p++
	type format struct{ content, form uint64 }
	formats := make([]format, 0, nFormats)
	for range nFormats {
		c, ok1 := uleb()
		f, ok2 := uleb()
		if !ok1 || !ok2 {
			return ""
		}
		formats = append(formats, format{c, f})
	}
	if n, ok := uleb(); !ok || n == 0 {
		return ""
	}
	dir := ""
	for _, f := range formats {
		var v string
		switch f.form {
		case dwFormString:
			v = cstr(b, p)
			p += uint64(len(v)) + 1
		case dwFormLineStrp, dwFormStrp:
			if !need(offSize) {
				return ""
			}
			sec := lineStr
			if f.form == dwFormStrp {
				sec = str
			}
			v = cstr(sec, offset())
			p += offSize
		case dwFormUdata:
			if _, ok := uleb(); !ok {
				return ""
			}
		case dwFormData1, dwFormData2, dwFormData4, dwFormData8, dwFormData16:
			p += map[uint64]uint64{dwFormData1: 1, dwFormData2: 2, dwFormData4: 4, dwFormData8: 8, dwFormData16: 16}[f.form]
		case dwFormBlock:
			n, ok := uleb()
			if !ok {
				return ""
			}
			p += n
		default:
			return ""
		}
		if !need(0) {
			return ""
		}
		if f.content == dwLnctPath {
			dir = v
		}
	}
	return dir
}
