package loader

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mapsLine is one line of /proc/self/maps.
type mapsLine struct {
	start, end uintptr
	prot       int
	offset     uint64
	path       string
}

func readMaps(t *testing.T) []mapsLine {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mapsLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l mapsLine
		var perms, dev string
		var inode uint64
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s %x %s %d", &l.start, &l.end, &perms, &l.offset, &dev, &inode); err != nil {
			t.Fatalf("parsing maps line %q: %v", sc.Text(), err)
		}
		if f := strings.Fields(sc.Text()); len(f) >= 6 {
			l.path = f[5]
		}
		for i, c := range "rwx" {
			if perms[i] == byte(c) {
				l.prot |= []int{protRead, protWrite, protExec}[i]
			}
		}
		out = append(out, l)
	}
	return out
}

// checkMappingsAgainstKernel proves each reported Mapping exists with the
// reported protection and file.
func checkMappingsAgainstKernel(t *testing.T, im *Image) {
	t.Helper()
	maps := readMaps(t)
	for i, m := range im.Mappings {
		if i > 0 && im.Mappings[i-1].End > m.Start {
			t.Errorf("mappings %d and %d overlap or are unsorted: %+v %+v", i-1, i, im.Mappings[i-1], m)
		}
		covered := m.Start
		for _, l := range maps {
			if l.end <= m.Start || l.start >= m.End {
				continue
			}
			if l.prot != m.Prot {
				t.Errorf("mapping %#x-%#x: kernel says prot %d at %#x-%#x, Image says %d", m.Start, m.End, l.prot, l.start, l.end, m.Prot)
			}
			if m.Path != "" && m.Path[0] == '/' {
				if l.path != m.Path {
					t.Errorf("mapping %#x-%#x: kernel says file %q, Image says %q", m.Start, m.End, l.path, m.Path)
				}
				if want := m.Offset + uint64(max(l.start, m.Start)-m.Start); l.offset+uint64(max(l.start, m.Start)-l.start) != want {
					t.Errorf("mapping %#x-%#x: file offset mismatch with kernel line %+v", m.Start, m.End, l)
				}
			}
			if l.start <= covered {
				covered = max(covered, l.end)
			}
		}
		if covered < m.End {
			t.Errorf("mapping %+v is not (fully) mapped; covered up to %#x", m, covered)
		}
	}
}

// checkObjectMapped compares every PT_LOAD of the ELF file at path, placed
// at bias, with memory: file bytes, zeroed bss, protections.
func checkObjectMapped(t *testing.T, path string, bias uintptr) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	maps := readMaps(t)
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		addr := bias + uintptr(p.Vaddr)
		want := 0
		if p.Flags&elf.PF_R != 0 {
			want |= protRead
		}
		if p.Flags&elf.PF_W != 0 {
			want |= protWrite
		}
		if p.Flags&elf.PF_X != 0 {
			want |= protExec
		}
		// Check the protection of the segment's interior pages (edge pages
		// may be shared with a neighbour segment).
		for page := uintptr(alignUp(uint64(addr))); page+pageSize <= addr+uintptr(p.Memsz)&^(pageSize-1); page += pageSize {
			found := false
			for _, l := range maps {
				if l.start <= page && page < l.end {
					found = true
					if l.prot != want {
						t.Errorf("%s segment at %#x: page %#x has prot %d, want %d", filepath.Base(path), addr, page, l.prot, want)
					}
					break
				}
			}
			if !found {
				t.Errorf("%s segment at %#x: page %#x not mapped", filepath.Base(path), addr, page)
			}
		}
		if want&protRead == 0 {
			continue
		}
		if got := memAt(addr, int(p.Filesz)); !bytes.Equal(got, raw[p.Off:p.Off+p.Filesz]) {
			t.Errorf("%s segment at %#x: memory differs from file bytes", filepath.Base(path), addr)
		}
		if p.Memsz > p.Filesz {
			// bss, including the rest of the last file page, reads zero.
			end := uintptr(alignUp(uint64(addr + uintptr(p.Memsz))))
			bss := memAt(addr+uintptr(p.Filesz), int(end-addr-uintptr(p.Filesz)))
			if i := bytes.IndexFunc(bss, func(r rune) bool { return r != 0 }); i >= 0 {
				t.Errorf("%s segment at %#x: bss byte at %#x is not zero", filepath.Base(path), addr, addr+uintptr(p.Filesz)+uintptr(i))
			}
		}
	}
}

func readU64(addr uintptr) uint64 { return le.Uint64(memAt(addr, 8)) }

func readCString(addr uintptr) string {
	var b []byte
	for {
		c := memAt(addr, 1)[0]
		if c == 0 {
			return string(b)
		}
		b = append(b, c)
		addr++
	}
}

// decodedStack is the initial stack read back from memory.
type decodedStack struct {
	argv, envp []string
	auxv       []AuxEntry
}

func decodeStack(t *testing.T, im *Image) decodedStack {
	t.Helper()
	if im.SP%16 != 0 {
		t.Fatalf("SP %#x is not 16-byte aligned", im.SP)
	}
	if im.SP < im.StackStart || im.SP >= im.StackEnd {
		t.Fatalf("SP %#x outside the stack %#x-%#x", im.SP, im.StackStart, im.StackEnd)
	}
	var d decodedStack
	p := im.SP
	argc := readU64(p)
	p += 8
	for i := uint64(0); i < argc; i++ {
		d.argv = append(d.argv, readCString(uintptr(readU64(p))))
		p += 8
	}
	if readU64(p) != 0 {
		t.Fatalf("argv not NULL-terminated")
	}
	p += 8
	for ; readU64(p) != 0; p += 8 {
		d.envp = append(d.envp, readCString(uintptr(readU64(p))))
	}
	p += 8
	for {
		e := AuxEntry{readU64(p), readU64(p + 8)}
		d.auxv = append(d.auxv, e)
		p += 16
		if e.Type == AT_NULL {
			break
		}
	}
	return d
}

func auxVal(t *testing.T, auxv []AuxEntry, typ uint64) uint64 {
	t.Helper()
	for _, e := range auxv {
		if e.Type == typ {
			return e.Val
		}
	}
	t.Fatalf("auxv has no entry %d", typ)
	return 0
}

// checkStack decodes the stack Load wrote and checks it against the spec
// and the program file.
func checkStack(t *testing.T, im *Image, spec Spec, progPath string) {
	t.Helper()
	d := decodeStack(t, im)
	if fmt.Sprint(d.argv) != fmt.Sprint(im.Argv) {
		t.Errorf("stack argv %q, Image.Argv %q", d.argv, im.Argv)
	}
	if fmt.Sprint(d.envp) != fmt.Sprint(spec.Envp) {
		t.Errorf("stack envp %q, want %q", d.envp, spec.Envp)
	}
	if fmt.Sprint(d.auxv) != fmt.Sprint(im.Auxv) {
		t.Errorf("stack auxv %v differs from Image.Auxv %v", d.auxv, im.Auxv)
	}
	var order []uint64
	for _, e := range d.auxv {
		order = append(order, e.Type)
	}
	wantOrder := []uint64{AT_MINSIGSTKSZ, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY,
		AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_NULL}
	if !hostAuxv().HasMinSigStkSz {
		wantOrder = wantOrder[1:]
	}
	if spec.VDSOBase != 0 {
		wantOrder = append([]uint64{AT_SYSINFO_EHDR}, wantOrder...)
		if v := auxVal(t, d.auxv, AT_SYSINFO_EHDR); v != uint64(spec.VDSOBase) {
			t.Errorf("AT_SYSINFO_EHDR = %#x, want %#x", v, spec.VDSOBase)
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(wantOrder) {
		t.Errorf("auxv order %v, want %v", order, wantOrder)
	}

	raw, err := os.ReadFile(progPath)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	phoff := le.Uint64(raw[32:])
	tab := raw[phoff : phoff+uint64(len(ef.Progs))*phdrSize]
	checks := []struct {
		typ  uint64
		want uint64
	}{
		{AT_PAGESZ, pageSize},
		{AT_PHENT, phdrSize},
		{AT_PHNUM, uint64(len(ef.Progs))},
		{AT_PHDR, uint64(im.Phdr)},
		{AT_ENTRY, uint64(im.Bias) + ef.Entry},
		{AT_BASE, uint64(im.Base)},
		{AT_FLAGS, 0},
		{AT_SECURE, 0},
		{AT_UID, uint64(os.Getuid())},
		{AT_EUID, uint64(os.Geteuid())},
		{AT_GID, uint64(os.Getgid())},
		{AT_EGID, uint64(os.Getegid())},
		{AT_CLKTCK, hostAuxv().ClkTck},
		{AT_HWCAP, hostAuxv().HWCap},
		{AT_HWCAP2, hostAuxv().HWCap2 &^ hwcap2FSGSBASE},
	}
	for _, c := range checks {
		if got := auxVal(t, d.auxv, c.typ); got != c.want {
			t.Errorf("auxv[%d] = %#x, want %#x", c.typ, got, c.want)
		}
	}
	if im.ProgEntry != im.Bias+uintptr(ef.Entry) {
		t.Errorf("ProgEntry %#x, want bias %#x + e_entry %#x", im.ProgEntry, im.Bias, ef.Entry)
	}
	if !bytes.Equal(memAt(im.Phdr, len(tab)), tab) {
		t.Errorf("AT_PHDR %#x does not point at the program headers", im.Phdr)
	}
	if s := readCString(uintptr(auxVal(t, d.auxv, AT_EXECFN))); s != spec.Path {
		t.Errorf("AT_EXECFN string %q, want %q", s, spec.Path)
	}
	if s := readCString(uintptr(auxVal(t, d.auxv, AT_PLATFORM))); s != "x86_64" {
		t.Errorf("AT_PLATFORM string %q", s)
	}
	rnd := uintptr(auxVal(t, d.auxv, AT_RANDOM))
	if rnd < im.SP || rnd+16 > im.StackEnd {
		t.Errorf("AT_RANDOM %#x outside the used stack", rnd)
	} else if bytes.Equal(memAt(rnd, 16), make([]byte, 16)) {
		t.Errorf("AT_RANDOM bytes are all zero")
	}
}

func TestLoadInProcess(t *testing.T) {
	for _, name := range []string{"static-pie", "dynamic", "static-high", "musl-pie", "musl-dynamic", "musl-high"} {
		t.Run(name, func(t *testing.T) {
			path := fixture(t, name)
			spec := Spec{
				Path:     path,
				Argv:     []string{"prog", "one", "two words", ""},
				Envp:     []string{"A=1", "EMPTY=", "PATH=/bin"},
				VDSOBase: 0x7fff12340000,
			}
			im, err := Load(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := im.Unmap(); err != nil {
					t.Error(err)
				}
				// Other threads may reuse freed anonymous ranges at once, so
				// only the file mappings give a race-free answer.
				for _, l := range readMaps(t) {
					if l.path == im.Path {
						t.Errorf("after Unmap, %#x-%#x still maps %s", l.start, l.end, l.path)
					}
				}
			}()
			raw, _ := os.ReadFile(path)
			ef, err := elf.NewFile(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if ef.Type == elf.ET_EXEC && im.Bias != 0 {
				t.Errorf("ET_EXEC loaded with bias %#x", im.Bias)
			}
			if im.Bias%pageSize != 0 {
				t.Errorf("bias %#x not page aligned", im.Bias)
			}
			checkObjectMapped(t, path, im.Bias)
			checkMappingsAgainstKernel(t, im)
			checkStack(t, im, spec, path)

			if resolved, _ := filepath.EvalSymlinks(path); im.Path != resolved {
				t.Errorf("Image.Path %q, want %q", im.Path, resolved)
			}
			if fmt.Sprint(im.Argv) != fmt.Sprint(spec.Argv) {
				t.Errorf("Argv %q, want %q", im.Argv, spec.Argv)
			}
			var interp string
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					b, _ := io_ReadAll(p)
					interp = strings.TrimRight(string(b), "\x00")
				}
			}
			if im.Interp != interp {
				t.Errorf("Interp %q, want %q", im.Interp, interp)
			}
			if interp == "" {
				if im.Entry != im.ProgEntry || im.Base != 0 {
					t.Errorf("static program: Entry %#x ProgEntry %#x Base %#x", im.Entry, im.ProgEntry, im.Base)
				}
			} else {
				checkObjectMapped(t, interp, im.Base)
				ief, err := elf.Open(interp)
				if err != nil {
					t.Fatal(err)
				}
				ief.Close()
				if im.Entry != im.Base+uintptr(ief.Entry) {
					t.Errorf("Entry %#x, want interpreter base %#x + %#x", im.Entry, im.Base, ief.Entry)
				}
			}

			// brk: reserved right after the image, PROT_NONE, nothing else.
			var imageEnd uint64
			for _, p := range ef.Progs {
				if p.Type == elf.PT_LOAD {
					imageEnd = max(imageEnd, alignUp(uint64(im.Bias)+p.Vaddr+p.Memsz))
				}
			}
			if uint64(im.BrkStart) != imageEnd {
				t.Errorf("BrkStart %#x, want image end %#x", im.BrkStart, imageEnd)
			}
			if im.BrkMax <= im.BrkStart {
				t.Errorf("no brk reservation: %#x-%#x", im.BrkStart, im.BrkMax)
			}
			var heap *Mapping
			for i := range im.Mappings {
				if im.Mappings[i].Path == "[heap]" {
					heap = &im.Mappings[i]
				}
			}
			if heap == nil || heap.Start != im.BrkStart || heap.End != im.BrkMax || heap.Prot != protNone {
				t.Errorf("[heap] mapping %+v, want PROT_NONE %#x-%#x", heap, im.BrkStart, im.BrkMax)
			}
		})
	}
}

// io_ReadAll reads a program header's file bytes.
func io_ReadAll(p *elf.Prog) ([]byte, error) {
	b := make([]byte, p.Filesz)
	_, err := p.ReadAt(b, 0)
	return b, err
}

func TestStackGuardAndSize(t *testing.T) {
	path := fixture(t, "static-pie")
	spec := Spec{Path: path, Argv: []string{path}, StackSize: 256 << 10}
	im, err := Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Unmap()
	if im.StackEnd-im.StackStart != 256<<10 {
		t.Errorf("stack is %#x bytes, want %#x", im.StackEnd-im.StackStart, 256<<10)
	}
	found := false
	for _, l := range readMaps(t) {
		if l.start <= im.StackStart-pageSize && im.StackStart-pageSize < l.end {
			found = true
			if l.prot != protNone {
				t.Errorf("guard page below the stack has prot %d", l.prot)
			}
		}
	}
	if !found {
		t.Errorf("no guard page below the stack")
	}
	// Arguments beyond a quarter of RLIMIT_STACK (but at least 128 KiB)
	// are refused like execve does.
	big := strings.Repeat("x", 30000)
	_, err = Load(Spec{Path: path, Argv: []string{path, big, big, big, big, big}, StackRlimit: 64 << 10})
	expectExecError(t, err, unix.E2BIG, "argument list too long")
	// Arguments execve accepts but the stack cannot hold.
	_, err = Load(Spec{Path: path, Argv: []string{path, big, big, big}, StackSize: 64 << 10})
	expectExecError(t, err, unix.ENOMEM, "do not fit")
	_, err = Load(Spec{Path: path, Argv: []string{path, "a\x00b"}})
	expectExecError(t, err, unix.EINVAL, "NUL byte")
}

func TestEmptyArgv(t *testing.T) {
	path := fixture(t, "static-pie")
	im, err := Load(Spec{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Unmap()
	if d := decodeStack(t, im); len(d.argv) != 1 || d.argv[0] != "" {
		t.Errorf("argv %q, want [\"\"] as Linux supplies", d.argv)
	}
}

func TestExecStack(t *testing.T) {
	// A PT_GNU_STACK with PF_X asks for an executable stack.
	b, err := os.ReadFile(fixture(t, "static-pie"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := 0; i < int(le.Uint16(b[56:])); i++ {
		if p := phdrAt(b, i); le.Uint32(p) == ptGNUStack {
			le.PutUint32(p[4:], pfR|pfW|pfX)
			found = true
		}
	}
	if !found {
		t.Fatal("fixture has no PT_GNU_STACK")
	}
	p := writeFile(t, "execstack", b, 0o755)
	im, err := Load(Spec{Path: p, Argv: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Unmap()
	checkMappingsAgainstKernel(t, im)
	for _, m := range im.Mappings {
		if m.Path == "[stack]" && m.Prot != protRead|protWrite|protExec {
			t.Errorf("stack prot %d, want rwx", m.Prot)
		}
	}
}
