package tracing

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// symbolizer names a guest address as strace -k does,
// "/lib/x86_64-linux-gnu/libc.so.6(__open64+0x5b) [0x114f8b]": the object
// from /proc/self/maps (the guest's mappings are the host process's own),
// the function from the object's ELF symbols.
type symbolizer struct {
	mu   sync.Mutex
	maps []mapping
	objs map[string]*objSyms
}

type mapping struct {
	lo, hi, off uint64
	path        string
}

type objSyms struct {
	loads []elf.ProgHeader
	funcs []elf.Symbol // sorted by Value
}

func newSymbolizer() *symbolizer { return &symbolizer{objs: map[string]*objSyms{}} }

func (s *symbolizer) where(addr uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.find(addr)
	if !ok {
		s.maps = readMaps() // mapped since we last looked
		if m, ok = s.find(addr); !ok {
			return fmt.Sprintf("? [%#x]", addr)
		}
	}
	off := addr - m.lo + m.off
	if !strings.HasPrefix(m.path, "/") {
		return fmt.Sprintf("%s [%#x]", m.path, off)
	}
	o := s.object(m.path)
	fn := ""
	if o != nil {
		fn = o.function(off)
	}
	return fmt.Sprintf("%s(%s) [%#x]", m.path, fn, off)
}

func (s *symbolizer) find(addr uint64) (mapping, bool) {
	for _, m := range s.maps {
		if m.lo <= addr && addr < m.hi {
			return m, true
		}
	}
	return mapping{}, false
}

func readMaps() []mapping {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		var m mapping
		m.lo, _ = strconv.ParseUint(lo, 16, 64)
		m.hi, _ = strconv.ParseUint(hi, 16, 64)
		m.off, _ = strconv.ParseUint(fields[2], 16, 64)
		m.path = fields[5]
		out = append(out, m)
	}
	return out
}

func (s *symbolizer) object(path string) *objSyms {
	if o, ok := s.objs[path]; ok {
		return o
	}
	var o *objSyms
	if f, err := elf.Open(path); err == nil {
		o = &objSyms{}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD {
				o.loads = append(o.loads, p.ProgHeader)
			}
		}
		syms, _ := f.Symbols()
		dyn, _ := f.DynamicSymbols()
		for _, sym := range append(syms, dyn...) {
			if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 {
				o.funcs = append(o.funcs, sym)
			}
		}
		sort.Slice(o.funcs, func(i, j int) bool { return o.funcs[i].Value < o.funcs[j].Value })
		f.Close()
	}
	s.objs[path] = o
	return o
}

// function is "name+0xoff" for a file offset, "" when no symbol covers it.
func (o *objSyms) function(off uint64) string {
	var vaddr uint64
	found := false
	for _, p := range o.loads {
		if p.Off <= off && off < p.Off+p.Filesz {
			vaddr, found = off-p.Off+p.Vaddr, true
			break
		}
	}
	if !found {
		return ""
	}
	i := sort.Search(len(o.funcs), func(i int) bool { return o.funcs[i].Value > vaddr }) - 1
	if i < 0 {
		return ""
	}
	f := o.funcs[i]
	if f.Size != 0 && vaddr >= f.Value+f.Size {
		return ""
	}
	return fmt.Sprintf("%s+%#x", f.Name, vaddr-f.Value)
}
