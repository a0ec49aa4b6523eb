package loader

// segmentPlan is how one PT_LOAD becomes mappings once the load bias is
// known: a private file mapping of the pages holding file bytes, the tail
// of the last file page cleared when bss starts inside it (in a writable
// segment only, as Linux manages: see mapSegment), and anonymous
// zero pages for the rest of bss.
type segmentPlan struct {
	Prot int

	FileAddr, FileLen uintptr // FileLen 0: the segment has no file bytes
	FileOff           uint64  // page-aligned offset of FileAddr's page

	ZeroStart, ZeroEnd uintptr // bytes of the last file page past p_filesz

	AnonStart, AnonEnd uintptr // whole pages of bss past the file pages
	// AnonProt is what Linux gives those pages: elf_load maps them with
	// vm_brk_flags, read-write whatever the segment's flags (executable
	// if it is), so a read-only segment's bss can be written.
	AnonProt int
}

// planSegments maps obj's PT_LOADs at bias. Linux does the same in
// elf_load (binfmt_elf.c): map file pages, padzero the partial page, then
// anonymous pages for the remaining bss.
func planSegments(obj *elfObject, bias uintptr) []segmentPlan {
	plans := make([]segmentPlan, 0, len(obj.Loads))
	for _, s := range obj.Loads {
		start := bias + uintptr(s.Vaddr)
		fileEnd := start + uintptr(s.Filesz)
		memEnd := start + uintptr(s.Memsz)
		p := segmentPlan{Prot: s.prot()}
		anonFrom := uintptr(alignDown(uint64(start)))
		if s.Filesz > 0 {
			p.FileAddr = anonFrom
			p.FileLen = uintptr(alignUp(uint64(fileEnd))) - p.FileAddr
			p.FileOff = alignDown(s.Offset)
			anonFrom = p.FileAddr + p.FileLen
			if s.Memsz > s.Filesz && fileEnd != anonFrom {
				p.ZeroStart, p.ZeroEnd = fileEnd, anonFrom
			}
		}
		if end := uintptr(alignUp(uint64(memEnd))); end > anonFrom {
			p.AnonStart, p.AnonEnd = anonFrom, end
			p.AnonProt = protRead | protWrite | p.Prot&protExec
		}
		plans = append(plans, p)
	}
	return plans
}

// overlay returns ms with m placed on top, the way a MAP_FIXED mapping
// replaces whatever it covers: ranges under m are trimmed or split. ms is
// sorted by address and stays so.
func overlay(ms []Mapping, m Mapping) []Mapping {
	if m.End <= m.Start {
		return ms
	}
	out := make([]Mapping, 0, len(ms)+2)
	placed := false
	for _, o := range ms {
		if o.End <= m.Start || o.Start >= m.End {
			if !placed && o.Start >= m.End {
				out = append(out, m)
				placed = true
			}
			out = append(out, o)
			continue
		}
		if o.Start < m.Start {
			left := o
			left.End = m.Start
			out = append(out, left)
		}
		if !placed {
			out = append(out, m)
			placed = true
		}
		if o.End > m.End {
			right := o
			if right.Path != "" && right.Path[0] != '[' {
				right.Offset += uint64(m.End - o.Start)
			}
			right.Start = m.End
			out = append(out, right)
		}
	}
	if !placed {
		out = append(out, m)
	}
	return out
}
