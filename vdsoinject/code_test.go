package vdsoinject

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

func TestStubBytes(t *testing.T) {
	for _, counters := range []bool{true, false} {
		im, err := BuildWith(Options{NoCounters: !counters})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range Targets {
			p := im.StubOffset(tg)
			b := im.Data[p:]
			if nr := tg.Syscall(); nr >= 0 && counters {
				// incq %gs:disp32 (SIB, no base, no index: absolute).
				if string(b[:5]) != "\x65\x48\xff\x04\x25" {
					t.Fatalf("%v: prefix % x", tg, b[:5])
				}
				if got, want := int(int32(le.Uint32(b[5:]))), cblock.CounterOffset(nr, cblock.KindVDSO); got != want {
					t.Errorf("%v: counter %#x, want %#x", tg, got, want)
				}
				p += 9
				b = b[9:]
			}
			// jmp *rel32(%rip): target = end of instruction + rel32.
			if b[0] != 0xff || b[1] != 0x25 {
				t.Fatalf("%v: jmp % x", tg, b[:6])
			}
			if got := uint64(int64(p+6) + int64(int32(le.Uint32(b[2:])))); got != im.SlotOffset(tg) {
				t.Errorf("%v: jmp through %#x, slot at %#x", tg, got, im.SlotOffset(tg))
			}
			if im.SlotOffset(tg)%8 != 0 {
				t.Errorf("%v: slot misaligned", tg)
			}

			fb, ok := im.FallbackOffset(tg)
			if !ok {
				t.Fatalf("%v: no fallback", tg)
			}
			f := im.Data[fb:]
			if nr := tg.Syscall(); nr >= 0 {
				want := fmt.Sprintf("\xb8%s\x0f\x05\xc3", string(le.AppendUint32(nil, uint32(nr))))
				if string(f[:8]) != want {
					t.Errorf("%v: fallback % x", tg, f[:8])
				}
			} else if !strings.Contains(string(f[:32]), "\x4c\x8b\x4c\x24\x08\x0f\x05\xc3") {
				t.Errorf("kernel_vsyscall fallback does not load a6 from 8(%%rsp) before syscall: % x", f[:32])
			}
		}
	}
}

// TestEhFrame checks the search table unwinders binary-search and every
// FDE it points at, decoding the raw bytes.
func TestEhFrame(t *testing.T) {
	im := mustBuild(t)
	f := mustELF(t, im)
	hdrS, ef := f.Section(".eh_frame_hdr"), f.Section(".eh_frame")
	var gnuEh *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_EH_FRAME {
			gnuEh = p
		}
	}
	if gnuEh == nil || gnuEh.Vaddr != hdrS.Addr || gnuEh.Memsz != hdrS.Size {
		t.Fatal("PT_GNU_EH_FRAME does not cover .eh_frame_hdr")
	}
	h := im.Data[hdrS.Addr:]
	if h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b {
		t.Fatalf("eh_frame_hdr encodings % x", h[:4])
	}
	if got := uint64(int64(hdrS.Addr+4) + int64(int32(le.Uint32(h[4:])))); got != ef.Addr {
		t.Errorf("eh_frame_ptr -> %#x, .eh_frame at %#x", got, ef.Addr)
	}
	n := le.Uint32(h[8:])
	if uint64(12+8*n) != hdrS.Size {
		t.Fatalf("fde_count %d does not fill the section", n)
	}

	// CIE: version 1, "zR", code align 1, data align -8, RA column 16,
	// pointer encoding pcrel|sdata4, CFA = rsp+8, rip at CFA-8.
	cie := im.Data[ef.Addr:]
	wantCIE := "\x00\x00\x00\x00\x01zR\x00\x01\x78\x10\x01\x1b\x0c\x07\x08\x90\x01"
	if string(cie[4:4+len(wantCIE)]) != wantCIE {
		t.Errorf("CIE % x", cie[:24])
	}

	type rng struct{ lo, hi uint64 }
	var covered []rng
	var prev uint64
	for i := uint32(0); i < n; i++ {
		loc := uint64(int64(hdrS.Addr) + int64(int32(le.Uint32(h[12+8*i:]))))
		fdeAddr := uint64(int64(hdrS.Addr) + int64(int32(le.Uint32(h[16+8*i:]))))
		if i > 0 && loc <= prev {
			t.Errorf("table not sorted at %d", i)
		}
		prev = loc
		if fdeAddr < ef.Addr || fdeAddr >= ef.Addr+ef.Size {
			t.Fatalf("entry %d points outside .eh_frame", i)
		}
		fde := im.Data[fdeAddr:]
		length := le.Uint32(fde)
		if cieBack := uint64(le.Uint32(fde[4:])); fdeAddr+4-cieBack != ef.Addr {
			t.Errorf("FDE %#x: CIE pointer -> %#x", fdeAddr, fdeAddr+4-cieBack)
		}
		pc := uint64(int64(fdeAddr+8) + int64(int32(le.Uint32(fde[8:]))))
		size := uint64(le.Uint32(fde[12:]))
		if pc != loc {
			t.Errorf("FDE pc %#x, table says %#x", pc, loc)
		}
		// Augmentation length 0 and only DW_CFA_nop: the CIE's rule holds
		// at every instruction because the stubs never touch rsp.
		for _, c := range fde[16 : 4+length] {
			if c != 0 {
				t.Errorf("FDE %#x has CFA instructions % x", fdeAddr, fde[16:4+length])
				break
			}
		}
		covered = append(covered, rng{pc, pc + size})
	}
	if end := le.Uint32(im.Data[ef.Addr+ef.Size-4:]); end != 0 {
		t.Error(".eh_frame lacks its zero terminator")
	}
	for _, s := range im.Symbols() {
		found := false
		for _, r := range covered {
			if r.lo == s.Value && r.hi == s.Value+s.Size {
				found = true
			}
		}
		if !found {
			t.Errorf("%s [%#x,%#x) has no FDE", s.Name, s.Value, s.Value+s.Size)
		}
	}
	if int(n) != 2*len(Targets) {
		t.Errorf("%d FDEs, want one per stub and fallback", n)
	}
}

func dumpImage(t *testing.T, im *Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vdso.so")
	if err := im.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

var warnRE = regexp.MustCompile(`(?i)warning|error|corrupt|invalid`)

func TestReadelfClean(t *testing.T) {
	readelf := needTool(t, "readelf")
	im := mustBuild(t)
	p := dumpImage(t, im)
	for _, args := range [][]string{{"-aW"}, {"--debug-dump=frames"}, {"-n"}, {"-V"}} {
		out, err := exec.Command(readelf, append(args, p)...).CombinedOutput()
		if err != nil {
			t.Fatalf("readelf %v: %v\n%s", args, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if warnRE.MatchString(line) {
				t.Errorf("readelf %v: %s", args, line)
			}
		}
		if args[0] == "-aW" && !strings.Contains(string(out), "__kernel_vsyscall@@LINUX_2.6") {
			t.Errorf("readelf -aW does not show __kernel_vsyscall@@LINUX_2.6")
		}
	}
}

func TestObjdumpDisassembly(t *testing.T) {
	objdump := needTool(t, "objdump")
	im := mustBuild(t)
	out, err := exec.Command(objdump, "-d", dumpImage(t, im)).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "(bad)") {
		t.Errorf("undecodable bytes:\n%s", s)
	}
	for _, tg := range Targets {
		want := fmt.Sprintf(`jmp\s+\*0x[0-9a-f]+\(%%rip\)\s+# %x <%s_slot>`, im.SlotOffset(tg), tg.Symbol())
		if !regexp.MustCompile(want).MatchString(s) {
			t.Errorf("no %q in disassembly", want)
		}
		if nr := tg.Syscall(); nr >= 0 {
			inc := fmt.Sprintf("incq   %%gs:0x%x", cblock.CounterOffset(nr, cblock.KindVDSO))
			if !strings.Contains(s, inc) {
				t.Errorf("no %q in disassembly", inc)
			}
			mov := fmt.Sprintf("mov    $0x%x,%%eax", nr)
			if !strings.Contains(s, mov) {
				t.Errorf("no %q in disassembly", mov)
			}
		}
	}
}

func TestGDBReadsImage(t *testing.T) {
	gdb := needTool(t, "gdb")
	im := mustBuild(t)
	out, err := exec.Command(gdb, "-nx", "-batch", "-ex", "info functions", "-ex", "x/2i __vdso_time",
		dumpImage(t, im)).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	s := string(out)
	for name := range exports {
		if !regexp.MustCompile(`(?m)\s` + regexp.QuoteMeta(name) + `$`).MatchString(s) {
			t.Errorf("gdb does not list %s", name)
		}
	}
	if !strings.Contains(s, "__vdso_time_slot") {
		t.Errorf("gdb does not resolve the slot:\n%s", s)
	}
}

func TestLLVMReadelfClean(t *testing.T) {
	tool := needTool(t, "llvm-readelf")
	out, err := exec.Command(tool, "-a", "--dyn-syms", "-V", "--unwind", dumpImage(t, mustBuild(t))).CombinedOutput()
	if err != nil {
		t.Fatalf("llvm-readelf: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if warnRE.MatchString(line) {
			t.Errorf("llvm-readelf: %s", line)
		}
	}
}
