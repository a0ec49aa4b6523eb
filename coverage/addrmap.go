package coverage

import (
	"debug/elf"
	"sort"
	"strconv"
	"strings"
)

// mapping is a file-backed range of the guest's address space.
type mapping struct {
	start, end, offset uint64
	path               string
}

// addressMap replays the map/unmap events. live is the address space at the
// end of the run; history keeps every mapping ever logged, because counts
// were taken while a since-unmapped object (a dlclose'd library, the image
// before an execve) was still there.
type addressMap struct {
	live    []mapping
	history []mapping
}

func newAddressMap() *addressMap { return &addressMap{} }

func (m *addressMap) mapRange(start, end, offset uint64, path string) {
	if end <= start {
		return
	}
	m.unmapRange(start, end) // a MAP_FIXED mapping replaces what was there
	mp := mapping{start, end, offset, path}
	m.live = append(m.live, mp)
	m.history = append(m.history, mp)
}

func (m *addressMap) unmapRange(start, end uint64) {
	if end <= start {
		return
	}
	var kept []mapping
	for _, mp := range m.live {
		if mp.end <= start || mp.start >= end {
			kept = append(kept, mp)
			continue
		}
		if mp.start < start {
			kept = append(kept, mapping{mp.start, start, mp.offset, mp.path})
		}
		if mp.end > end {
			kept = append(kept, mapping{end, mp.end, mp.offset + (end - mp.start), mp.path})
		}
	}
	m.live = kept
}

// resolve names the object holding addr and the file offset of addr in it:
// the live mapping at the end of the run if one covers addr, else the
// latest logged mapping that did. Addresses in neither are UnknownObject
// at offset addr.
func (m *addressMap) resolve(addr uint64) (object string, offset uint64) {
	for _, mp := range m.live {
		if addr >= mp.start && addr < mp.end {
			return mp.path, addr - mp.start + mp.offset
		}
	}
	for i := len(m.history) - 1; i >= 0; i-- {
		mp := m.history[i]
		if addr >= mp.start && addr < mp.end {
			return mp.path, addr - mp.start + mp.offset
		}
	}
	return UnknownObject, addr
}

// symbolizer names the function around a file offset of an object, from
// the object's ELF symbol table (or its dynamic one, for stripped
// libraries: libc's syscall wrappers are exported). Objects that cannot be
// read resolve to "".
type symbolizer struct {
	enabled bool
	objects map[string]*objectSymbols
}

type objectSymbols struct {
	loads []elf.ProgHeader
	funcs []elf.Symbol // sorted by Value
}

func newSymbolizer(enabled bool) *symbolizer {
	return &symbolizer{enabled: enabled, objects: map[string]*objectSymbols{}}
}

func (s *symbolizer) lookup(object string, offset uint64) string {
	if !s.enabled || object == "" || strings.HasPrefix(object, "[") {
		return ""
	}
	obj, ok := s.objects[object]
	if !ok {
		obj = loadObjectSymbols(object)
		s.objects[object] = obj
	}
	if obj == nil {
		return ""
	}
	return obj.lookup(offset)
}

func loadObjectSymbols(path string) *objectSymbols {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	obj := &objectSymbols{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			obj.loads = append(obj.loads, p.ProgHeader)
		}
	}
	syms, _ := f.Symbols()
	dyn, _ := f.DynamicSymbols()
	for _, sym := range append(syms, dyn...) {
		if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 && sym.Section != elf.SHN_UNDEF {
			obj.funcs = append(obj.funcs, sym)
		}
	}
	// By address; at one address prefer the public name (no leading
	// underscore, as libc's "write" over "__libc_write"), then the shorter.
	sort.Slice(obj.funcs, func(i, j int) bool {
		a, b := obj.funcs[i], obj.funcs[j]
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		au, bu := strings.HasPrefix(a.Name, "_"), strings.HasPrefix(b.Name, "_")
		if au != bu {
			return !au
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) < len(b.Name)
		}
		return a.Name < b.Name
	})
	return obj
}

// lookup returns "name+0xoff" for the function covering file offset off.
func (o *objectSymbols) lookup(off uint64) string {
	vaddr, ok := uint64(0), false
	for _, p := range o.loads {
		if off >= p.Off && off < p.Off+p.Filesz {
			vaddr, ok = off-p.Off+p.Vaddr, true
			break
		}
	}
	if !ok {
		return ""
	}
	i := sort.Search(len(o.funcs), func(i int) bool { return o.funcs[i].Value > vaddr })
	// Walk back over the symbols at or below vaddr for one whose extent
	// covers it; the first in sort order at an address is the preferred name.
	for j := i - 1; j >= 0; j-- {
		sym := o.funcs[j]
		if vaddr < sym.Value+max(sym.Size, 1) {
			k := j
			for k > 0 && o.funcs[k-1].Value == sym.Value {
				k--
			}
			sym = o.funcs[k]
			if d := vaddr - sym.Value; d != 0 {
				return sym.Name + "+0x" + strconv.FormatUint(d, 16)
			}
			return sym.Name
		}
		if vaddr-sym.Value > 1<<20 {
			break // nested symbols are never this far apart
		}
	}
	return ""
}
