package coverage

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

// clone is an independent copy (a forked process's map starts as its
// parent's).
func (m *addressMap) clone() *addressMap {
	return &addressMap{
		live:    append([]mapping(nil), m.live...),
		history: append([]mapping(nil), m.history...),
	}
}

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
