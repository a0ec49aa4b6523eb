package kernelsim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// /proc/self/maps (and smaps, numa_maps, in every spelling) list the host
// process: vsysbed's binary, Go's heap and arenas, the host's libc, the
// mmapped shard files. The guest sees only its own ranges (glibc sizes the
// main thread's stack from maps; sanitizers and runtimes read it too),
// with the names Linux would give them: [stack] for its stack, [heap] for
// its break, [vdso] for the synthetic vDSO its auxv points at. The line
// format is the kernel's, byte for byte for every line kept as it is.

// mapsView is what the guest owns of the address space, as maps shows it.
type mapsView struct {
	guest      [][2]uint64 // sorted, disjoint: the guest's ranges (vmaSet)
	vdso       [2]uint64
	stack      [2]uint64 // the main thread's stack, without the guard page
	heap       [2]uint64 // [brkStart, page-rounded brk): "[heap]"
	reserved   [2]uint64 // the brk reservation above the break: not a mapping natively
	stackGuard [2]uint64 // the loader's guard page below the stack: none natively
}

// mapsLine is one parsed /proc/PID/maps line (or smaps header).
type mapsLine struct {
	start, end uint64
	perms      string
	offset     uint64
	dev        string
	inode      string
	name       string
}

// parseMapsLine parses "start-end perms offset dev inode [name]".
func parseMapsLine(s string) (mapsLine, bool) {
	var l mapsLine
	f := strings.Fields(s)
	if len(f) < 5 {
		return l, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok || len(f[1]) != 4 {
		return l, false
	}
	var err1, err2, err3 error
	l.start, err1 = strconv.ParseUint(lo, 16, 64)
	l.end, err2 = strconv.ParseUint(hi, 16, 64)
	l.offset, err3 = strconv.ParseUint(f[2], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || !strings.Contains(f[3], ":") {
		return l, false
	}
	if _, err := strconv.ParseUint(f[4], 10, 64); err != nil {
		return l, false
	}
	l.perms, l.dev, l.inode = f[1], f[3], f[4]
	// The name is the rest after the inode: it may hold spaces.
	rest := s
	for i := 0; i < 5; i++ {
		rest = strings.TrimLeft(rest, " ")
		rest = rest[strings.IndexByte(rest+" ", ' '):]
	}
	l.name = strings.TrimLeft(rest, " ")
	return l, true
}

// String formats the line as the kernel does (show_vma_header_prefix,
// then the name padded to column 73 by seq_pad).
func (l mapsLine) String() string {
	s := fmt.Sprintf("%08x-%08x %s %08x %s %s ", l.start, l.end, l.perms, l.offset, l.dev, l.inode)
	if l.name == "" {
		return s
	}
	const width = 25 + 8*6 - 1
	if len(s) < width {
		s += strings.Repeat(" ", width-len(s))
	}
	return s + " " + l.name
}

// guestPieces is what the guest sees of l: the parts inside its ranges,
// named as Linux would name them; nil when none.
func (v *mapsView) guestPieces(l mapsLine) []mapsLine {
	if l.name == "[vsyscall]" {
		return []mapsLine{l} // the kernel's own page, in every process
	}
	var out []mapsLine
	for _, r := range v.guest {
		lo, hi := max(l.start, r[0]), min(l.end, r[1])
		if lo >= hi {
			continue
		}
		for _, c := range v.cut(lo, hi) {
			if p, ok := v.piece(l, c[0], c[1]); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// cut splits [lo, hi) where the stack, the heap, the vDSO and the
// reservations begin and end: the kernel merges a guest's bss with the
// break after it (natively the break starts at a random gap) into one VMA.
func (v *mapsView) cut(lo, hi uint64) [][2]uint64 {
	var at []uint64
	for _, r := range [][2]uint64{v.vdso, v.stack, v.heap, v.reserved, v.stackGuard} {
		for _, x := range r {
			if x > lo && x < hi {
				at = append(at, x)
			}
		}
	}
	slices.Sort(at)
	var out [][2]uint64
	for _, x := range slices.Compact(at) {
		out = append(out, [2]uint64{lo, x})
		lo = x
	}
	return append(out, [2]uint64{lo, hi})
}

// piece is [lo, hi) of l as the guest sees it, or ok=false when hidden.
func (v *mapsView) piece(l mapsLine, lo, hi uint64) (mapsLine, bool) {
	p := l
	p.start, p.end = lo, hi
	if p.inode != "0" {
		p.offset += lo - l.start
	}
	if p.perms == "---p" && p.inode == "0" && (inRange(v.reserved, lo, hi) || inRange(v.stackGuard, lo, hi)) {
		return p, false
	}
	switch {
	case inRange(v.vdso, lo, hi):
		p.name = "[vdso]"
	case inRange(v.stack, lo, hi):
		p.name = "[stack]"
	case p.inode == "0" && p.name == "" && inRange(v.heap, lo, hi):
		p.name = "[heap]"
	}
	return p, true
}

func inRange(r [2]uint64, lo, hi uint64) bool { return r[0] < r[1] && lo >= r[0] && hi <= r[1] }

// filterMaps keeps the guest's lines of a maps file; a line kept whole and
// unrenamed stays byte for byte the kernel's.
func (v *mapsView) filterMaps(host []byte) []byte {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(host), "\n") {
		if line == "" {
			continue
		}
		l, ok := parseMapsLine(strings.TrimSuffix(line, "\n"))
		if !ok {
			continue
		}
		for _, p := range v.guestPieces(l) {
			if p == l {
				out.WriteString(line)
			} else {
				out.WriteString(p.String() + "\n")
			}
		}
	}
	return []byte(out.String())
}

// filterSmaps keeps the guest's entries of an smaps file: a header line as
// in maps and the fields that follow it. A clipped entry's Size is its
// own; its other counts are the whole mapping's.
func (v *mapsView) filterSmaps(host []byte) []byte {
	var out strings.Builder
	var pieces []mapsLine
	var orig mapsLine
	var body []string
	flush := func() {
		for _, p := range pieces {
			out.WriteString(p.String() + "\n")
			for _, b := range body {
				if strings.HasPrefix(b, "Size:") && p.end-p.start != orig.end-orig.start {
					b = fmt.Sprintf("Size:           %8d kB\n", (p.end-p.start)/1024)
				}
				out.WriteString(b)
			}
		}
		pieces, body = nil, nil
	}
	for _, line := range strings.SplitAfter(string(host), "\n") {
		if line == "" {
			continue
		}
		if l, ok := parseMapsLine(strings.TrimSuffix(line, "\n")); ok {
			flush()
			orig, pieces = l, v.guestPieces(l)
			continue
		}
		body = append(body, line)
	}
	flush()
	return []byte(out.String())
}

// filterNumaMaps keeps the lines of numa_maps ("start policy ...") whose
// mapping starts in the guest's ranges.
func (v *mapsView) filterNumaMaps(host []byte) []byte {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(host), "\n") {
		addr, _, _ := strings.Cut(line, " ")
		a, err := strconv.ParseUint(addr, 16, 64)
		if err != nil {
			continue
		}
		for _, r := range v.guest {
			if a >= r[0] && a < r[1] {
				out.WriteString(line)
				break
			}
		}
	}
	return []byte(out.String())
}

// mapsView is the process's current view for its maps files.
func (p *Process) mapsView() *mapsView {
	p.mu.Lock()
	defer p.mu.Unlock()
	brkEnd := pageUp(p.brkCur)
	v := &mapsView{
		guest:    append([][2]uint64(nil), p.vmas.r...),
		vdso:     [2]uint64{p.vdsoBase, p.vdsoEnd},
		stack:    p.stack,
		reserved: [2]uint64{brkEnd, p.brkMax},
	}
	if brkEnd > p.brkStart {
		v.heap = [2]uint64{p.brkStart &^ (pageSize - 1), brkEnd}
	}
	if p.stack[0] >= pageSize {
		v.stackGuard = [2]uint64{p.stack[0] - pageSize, p.stack[0]}
	}
	return v
}

// mapsContent is the guest's view of one of the maps files (file is
// "maps", "smaps" or "numa_maps") read from real, a path of this process.
func (p *Process) mapsContent(file, real string) ([]byte, bool, int64) {
	return p.mapsView().content(file, real)
}

// content is the view of one of the maps files, read from real.
func (v *mapsView) content(file, real string) ([]byte, bool, int64) {
	if file == "smaps_rollup" {
		real = strings.TrimSuffix(real, "_rollup") // summed from the guest's smaps
	}
	host, err := machine.ReadFile(real)
	if err != nil {
		return nil, true, errnoOf(err)
	}
	switch file {
	case "maps":
		return v.filterMaps(host), true, 0
	case "smaps":
		return v.filterSmaps(host), true, 0
	case "smaps_rollup":
		return smapsRollup(v.filterSmaps(host)), true, 0
	case "numa_maps":
		return v.filterNumaMaps(host), true, 0
	}
	return nil, false, 0
}

// rollupFields are smaps_rollup's lines after its header, in its order.
var rollupFields = []string{"Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem",
	"Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous",
	"KSM", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb",
	"Private_Hugetlb", "Swap", "SwapPss", "Locked"}

// smapsRollup sums the guest's smaps (as filterSmaps leaves it) the way
// smaps_rollup sums every mapping: a header line spanning them, then the
// totals in kB. Linux splits Pss by the kind of each page; here a
// mapping's Pss is split in the proportion of its Anonymous to its Rss,
// the rest counted as shmem for shared memory objects (memfd, SysV, /dev/zero)
// and as file otherwise.
func smapsRollup(guestSmaps []byte) []byte {
	sum := map[string]uint64{}
	var first, last uint64
	var cur map[string]uint64
	var shmem, seen bool
	flush := func() {
		if cur == nil {
			return
		}
		for k, v := range cur {
			sum[k] += v
		}
		anon := cur["Pss"]
		if cur["Rss"] > 0 {
			anon = cur["Pss"] * cur["Anonymous"] / cur["Rss"]
		}
		sum["Pss_Anon"] += anon
		if shmem {
			sum["Pss_Shmem"] += cur["Pss"] - anon
		} else {
			sum["Pss_File"] += cur["Pss"] - anon
		}
	}
	for _, line := range strings.Split(string(guestSmaps), "\n") {
		if l, ok := parseMapsLine(line); ok {
			flush()
			if l.name == "[vsyscall]" {
				cur = nil
				continue
			}
			if !seen {
				first, seen = l.start, true
			}
			last = l.end
			cur = map[string]uint64{}
			shmem = strings.HasPrefix(l.name, "/memfd:") || strings.HasPrefix(l.name, "/SYSV") || strings.HasPrefix(l.name, "/dev/zero")
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || cur == nil || k == "Pss_Anon" || k == "Pss_File" || k == "Pss_Shmem" {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
			cur[k] = n
		}
	}
	flush()
	var out strings.Builder
	out.WriteString(mapsLine{start: first, end: last, perms: "---p", dev: "00:00", inode: "0", name: "[rollup]"}.String() + "\n")
	for _, k := range rollupFields {
		fmt.Fprintf(&out, "%-16s%8d kB\n", k+":", sum[k])
	}
	return []byte(out.String())
}

// lazyMaps is a maps file the guest opened: Linux makes the listing when
// it is read, so its first read refills it (a program that maps its read
// buffer between open and read sees that mapping). The C entry sends reads
// of the fd here as it does a signalfd's (Entry.MarkSignalfd).
type lazyMaps struct {
	file, real string
	ino        uint64 // the memfd's: the number may be another file by now
}

// openMaps is the guest's open of a maps file of this process.
func (p *Process) openMaps(file, real string, flags uint64, lazy bool) (int64, bool) {
	c, ok, errno := p.mapsContent(file, real)
	if !ok {
		return 0, false
	}
	if errno != 0 {
		return errno, true
	}
	r, ok := p.procFile(c, flags)
	if r < 0 || !lazy {
		return r, ok
	}
	fd := int(r)
	p.mu.Lock()
	if p.lazyMaps == nil {
		p.lazyMaps = map[int]lazyMaps{}
	}
	p.lazyMaps[fd] = lazyMaps{file, real, inodeOf(fd)}
	p.mu.Unlock()
	entry.MarkSignalfd(fd, true)
	return r, true
}

// refillMaps makes the content of a maps file now, at its first read.
func (p *Process) refillMaps(fd int) {
	p.mu.Lock()
	lm, ok := p.lazyMaps[fd]
	delete(p.lazyMaps, fd)
	p.mu.Unlock()
	if !ok || inodeOf(fd) != lm.ino {
		return
	}
	if off, errno := hostCall(unix.SYS_LSEEK, uint64(fd), 0, unix.SEEK_CUR); errno != 0 || off != 0 {
		return
	}
	c, ok, errno := p.mapsContent(lm.file, lm.real)
	if !ok || errno != 0 {
		return
	}
	if _, errno := hostCall(unix.SYS_FTRUNCATE, uint64(fd), 0); errno == 0 {
		hostPwrite(fd, c, 0)
	}
}

// forgetMaps: the guest closed fd (caller: sysClose).
func (p *Process) forgetMaps(fd int) {
	p.mu.Lock()
	delete(p.lazyMaps, fd)
	p.mu.Unlock()
}
