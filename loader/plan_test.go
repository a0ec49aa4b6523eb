package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLayoutStack(t *testing.T) {
	const top = 0x7ffffff000
	aux := buildAuxv(auxvInput{VDSOBase: 0x1000, Phdr: 0x400040, Phnum: 9, ProgEntry: 0x401000}, hostAux{ClkTck: 100, HWCap2: 3, HasMinSigStkSz: true, MinSigStkSz: 2048})
	rnd := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	// Vary argc so both parities of the table length are covered: the
	// padding must keep %rsp 16-byte aligned either way.
	for argc := 0; argc < 4; argc++ {
		argv := []string{"prog", "a", "bb", "ccc"}[:argc]
		envp := []string{"X=1", "HOME=/root"}
		lay, err := layoutStack(top, stackArgs{Argv: argv, Envp: envp, ExecFn: "./prog", Random: rnd, Auxv: aux})
		if err != nil {
			t.Fatal(err)
		}
		if lay.SP%16 != 0 || lay.SP+uintptr(len(lay.Bytes)) != top {
			t.Fatalf("argc %d: SP %#x, %d bytes, top %#x", argc, lay.SP, len(lay.Bytes), top)
		}
		mem := func(a uintptr) []byte { return lay.Bytes[a-lay.SP:] }
		u64 := func(a uintptr) uint64 { return binary.LittleEndian.Uint64(mem(a)) }
		str := func(a uintptr) string { b := mem(a); return string(b[:bytes.IndexByte(b, 0)]) }

		p := lay.SP
		if got := u64(p); got != uint64(argc) {
			t.Fatalf("argc %d, want %d", got, argc)
		}
		p += 8
		var gotArgv, gotEnvp []string
		var lastArgEnd uintptr
		for i := 0; i < argc; i++ {
			a := uintptr(u64(p))
			gotArgv = append(gotArgv, str(a))
			if i > 0 && a != lastArgEnd {
				t.Errorf("argv strings not contiguous")
			}
			lastArgEnd = a + uintptr(len(str(a))) + 1
			p += 8
		}
		if u64(p) != 0 {
			t.Fatal("argv not NULL-terminated")
		}
		p += 8
		for ; u64(p) != 0; p += 8 {
			gotEnvp = append(gotEnvp, str(uintptr(u64(p))))
		}
		p += 8
		if fmt.Sprint(gotArgv) != fmt.Sprint(argv) || fmt.Sprint(gotEnvp) != fmt.Sprint(envp) {
			t.Errorf("argv %q envp %q", gotArgv, gotEnvp)
		}
		var gotAux []AuxEntry
		for {
			e := AuxEntry{u64(p), u64(p + 8)}
			gotAux = append(gotAux, e)
			p += 16
			if e.Type == AT_NULL {
				break
			}
		}
		if !reflect.DeepEqual(gotAux, lay.Auxv) {
			t.Errorf("auxv on stack %v, returned %v", gotAux, lay.Auxv)
		}
		for _, e := range lay.Auxv {
			switch e.Type {
			case AT_RANDOM:
				if !bytes.Equal(mem(uintptr(e.Val))[:16], rnd[:]) {
					t.Errorf("AT_RANDOM bytes wrong")
				}
			case AT_EXECFN:
				if str(uintptr(e.Val)) != "./prog" {
					t.Errorf("AT_EXECFN %q", str(uintptr(e.Val)))
				}
				// The kernel puts the filename last, just below 8 zero bytes.
				if uintptr(e.Val)+uintptr(len("./prog"))+1 != top-8 || u64(top-8) != 0 {
					t.Errorf("AT_EXECFN string not at the top of the stack")
				}
			case AT_PLATFORM:
				if str(uintptr(e.Val)) != "x86_64" {
					t.Errorf("AT_PLATFORM %q", str(uintptr(e.Val)))
				}
			case AT_HWCAP2:
				if e.Val != 1 {
					t.Errorf("AT_HWCAP2 %#x, want FSGSBASE (bit 1) cleared from 3", e.Val)
				}
			}
		}
		if p > uintptr(lay.Auxv[len(lay.Auxv)-1].Val) && p > lay.SP+uintptr(len(lay.Bytes)) {
			t.Errorf("table runs into the strings")
		}
	}
}

func TestLayoutStackLimits(t *testing.T) {
	if _, err := layoutStack(0x1008, stackArgs{}); err == nil {
		t.Error("unaligned top accepted")
	}
	_, err := layoutStack(1<<40, stackArgs{Argv: []string{strings.Repeat("x", maxArgStrlen)}})
	if ee, ok := err.(*ExecError); !ok || ee.Errno != unix.E2BIG {
		t.Errorf("over-long string: %v, want E2BIG", err)
	}
	if _, err := layoutStack(256, stackArgs{Argv: []string{strings.Repeat("x", 1000)}}); err == nil {
		t.Error("stack underflow below address 0 accepted")
	}
}

func TestBuildAuxvOrder(t *testing.T) {
	h := hostAux{HasMinSigStkSz: true, MinSigStkSz: 3632, HWCap: 0x178bfbff, HWCap2: 2, ClkTck: 100, UID: 1, EUID: 2, GID: 3, EGID: 4}
	got := buildAuxv(auxvInput{Phdr: 0x40, Phnum: 13, InterpBase: 0x7f0000, ProgEntry: 0x1040}, h)
	want := []AuxEntry{
		{AT_MINSIGSTKSZ, 3632}, {AT_HWCAP, 0x178bfbff}, {AT_PAGESZ, 4096}, {AT_CLKTCK, 100},
		{AT_PHDR, 0x40}, {AT_PHENT, 56}, {AT_PHNUM, 13}, {AT_BASE, 0x7f0000}, {AT_FLAGS, 0},
		{AT_ENTRY, 0x1040}, {AT_UID, 1}, {AT_EUID, 2}, {AT_GID, 3}, {AT_EGID, 4}, {AT_SECURE, 0},
		{AT_RANDOM, 0}, {AT_HWCAP2, 0}, {AT_EXECFN, 0}, {AT_PLATFORM, 0}, {AT_NULL, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	got = buildAuxv(auxvInput{VDSOBase: 0xdead000}, h)
	if got[0] != (AuxEntry{AT_SYSINFO_EHDR, 0xdead000}) {
		t.Errorf("AT_SYSINFO_EHDR must come first, got %v", got[0])
	}
}

func TestParseHostAuxv(t *testing.T) {
	var b []byte
	for _, e := range []AuxEntry{{AT_HWCAP, 7}, {AT_HWCAP2, 2}, {AT_CLKTCK, 250}, {AT_MINSIGSTKSZ, 999}, {AT_NULL, 0}, {AT_HWCAP, 1}} {
		b = binary.LittleEndian.AppendUint64(b, e.Type)
		b = binary.LittleEndian.AppendUint64(b, e.Val)
	}
	h := parseHostAuxv(b)
	if h.HWCap != 7 || h.HWCap2 != 2 || h.ClkTck != 250 || !h.HasMinSigStkSz || h.MinSigStkSz != 999 {
		t.Errorf("parsed %+v", h)
	}
	if h := parseHostAuxv(nil); h.ClkTck != 100 || h.HasMinSigStkSz {
		t.Errorf("empty auxv: %+v", h)
	}
	// The real one: this machine's kernel reports all of these.
	real := hostAuxv()
	if real.HWCap == 0 || real.ClkTck == 0 {
		t.Errorf("host auxv looks empty: %+v", real)
	}
}

func TestPlanSegments(t *testing.T) {
	obj := &elfObject{Loads: []loadSegment{
		{Vaddr: 0, Memsz: 0x518, Offset: 0, Filesz: 0x518, Flags: pfR},
		{Vaddr: 0x1000, Memsz: 0x2000, Offset: 0x1000, Filesz: 0x2000, Flags: pfR | pfX},
		{Vaddr: 0x3e10, Memsz: 0x5208, Offset: 0x2e10, Filesz: 0x200, Flags: pfR | pfW},
		{Vaddr: 0xa000, Memsz: 0x100, Flags: pfR | pfW}, // bss only
		{Vaddr: 0xb000, Memsz: 0x2100, Offset: 0x3000, Filesz: 0x10, Flags: pfR},
		{Vaddr: 0xe000, Memsz: 0x10, Flags: pfR | pfX},
	}}
	const bias = 0x7f0000000000
	got := planSegments(obj, bias)
	want := []segmentPlan{
		{Prot: protRead, FileAddr: bias, FileLen: 0x1000, FileOff: 0},
		{Prot: protRead | protExec, FileAddr: bias + 0x1000, FileLen: 0x2000, FileOff: 0x1000},
		// File bytes 0x3e10-0x4010 straddle a page boundary, so two file
		// pages are mapped, 0x4010-0x5000 is cleared, and bss up to
		// 0x9018 gets anonymous pages.
		{Prot: protRead | protWrite, FileAddr: bias + 0x3000, FileLen: 0x2000, FileOff: 0x2000,
			ZeroStart: bias + 0x4010, ZeroEnd: bias + 0x5000, AnonStart: bias + 0x5000, AnonEnd: bias + 0xa000,
			AnonProt: protRead | protWrite},
		{Prot: protRead | protWrite, AnonStart: bias + 0xa000, AnonEnd: bias + 0xb000, AnonProt: protRead | protWrite},
		// A read-only segment's bss pages are read-write, as Linux maps them.
		{Prot: protRead, FileAddr: bias + 0xb000, FileLen: 0x1000, FileOff: 0x3000,
			ZeroStart: bias + 0xb010, ZeroEnd: bias + 0xc000, AnonStart: bias + 0xc000, AnonEnd: bias + 0xe000,
			AnonProt: protRead | protWrite},
		{Prot: protRead | protExec, AnonStart: bias + 0xe000, AnonEnd: bias + 0xf000, AnonProt: protRead | protWrite | protExec},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestOverlay(t *testing.T) {
	base := []Mapping{{Start: 0x1000, End: 0x9000}}
	ms := overlay(base, Mapping{Start: 0x3000, End: 0x5000, Prot: 5, Path: "/f", Offset: 0x2000})
	ms = overlay(ms, Mapping{Start: 0x4000, End: 0x6000, Prot: 3, Path: "/g"})
	ms = overlay(ms, Mapping{Start: 0xa000, End: 0xb000, Path: "[stack]"})
	ms = overlay(ms, Mapping{Start: 0x0, End: 0x1000})
	want := []Mapping{
		{Start: 0x0, End: 0x1000},
		{Start: 0x1000, End: 0x3000},
		{Start: 0x3000, End: 0x4000, Prot: 5, Path: "/f", Offset: 0x2000},
		{Start: 0x4000, End: 0x6000, Prot: 3, Path: "/g"},
		{Start: 0x6000, End: 0x9000},
		{Start: 0xa000, End: 0xb000, Path: "[stack]"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("got  %+v\nwant %+v", ms, want)
	}
	// Trimming the front of a file mapping advances its offset.
	ms = overlay([]Mapping{{Start: 0x1000, End: 0x4000, Path: "/f", Offset: 0x1000}}, Mapping{Start: 0x0, End: 0x2000})
	if ms[1] != (Mapping{Start: 0x2000, End: 0x4000, Path: "/f", Offset: 0x2000}) {
		t.Errorf("trimmed file mapping %+v", ms[1])
	}
}

func TestParseELFPhdrFromLoad(t *testing.T) {
	// Without PT_PHDR, AT_PHDR is where e_phoff lands inside a PT_LOAD
	// (the high fixture is linked without one).
	path := fixture(t, "static-high")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	obj, err := parseELF(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if obj.Type != etExec || !obj.HasPhdr || obj.PhdrVaddr != 0x20000000+obj.Phoff {
		t.Errorf("type %d HasPhdr %v PhdrVaddr %#x phoff %#x", obj.Type, obj.HasPhdr, obj.PhdrVaddr, obj.Phoff)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	d1, d2, d3 := filepath.Join(dir, "1"), filepath.Join(dir, "2"), filepath.Join(dir, "3")
	for _, d := range []string{d1, d2, d3} {
		os.Mkdir(d, 0o755)
	}
	os.WriteFile(filepath.Join(d1, "tool"), []byte("x"), 0o644) // not executable
	os.Mkdir(filepath.Join(d1, "dirtool"), 0o755)
	os.WriteFile(filepath.Join(d2, "tool"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(d3, "tool"), []byte("x"), 0o755)
	path := d1 + ":" + d2 + ":" + d3

	if got, err := LookPath("tool", path); err != nil || got != filepath.Join(d2, "tool") {
		t.Errorf("LookPath(tool) = %q, %v; want the first executable, in %s", got, err, d2)
	}
	if got, err := LookPath("./rel/x", path); err != nil || got != "./rel/x" {
		t.Errorf("a name with a slash must be used as is, got %q %v", got, err)
	}
	_, err := LookPath("nosuch", path)
	if ee, ok := err.(*ExecError); !ok || ee.Errno != unix.ENOENT {
		t.Errorf("missing: %v, want ENOENT", err)
	}
	_, err = LookPath("dirtool", path)
	if ee, ok := err.(*ExecError); !ok || ee.Errno != unix.EACCES {
		t.Errorf("only a directory found: %v, want EACCES", err)
	}
	_, err = LookPath("tool", d1)
	if ee, ok := err.(*ExecError); !ok || ee.Errno != unix.EACCES {
		t.Errorf("only a non-executable found: %v, want EACCES", err)
	}
	// An empty PATH entry is the current directory.
	t.Chdir(d3)
	if got, err := LookPath("tool", d1+"::"); err != nil || got != "./tool" {
		t.Errorf("empty entry: %q %v", got, err)
	}
	if got, err := LookPath("sh", ""); err != nil || got != "/bin/sh" {
		t.Errorf("default PATH: %q %v", got, err)
	}
}
