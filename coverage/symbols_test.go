package coverage

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsysbed/vsysbed/vdsoinject"
)

// freshSymbolizer reads every object anew: the shared cache would let one
// test's objects answer for another's.
func freshSymbolizer() *symbolizer {
	s := newSymbolizer(true, testVDSO())
	s.cache = newObjectCache()
	return s
}

// testVDSO is the synthetic vDSO's image, as the supervisor passes it in
// Input.VDSOImage. Only the tests import vdsoinject (and so tls).
var testVDSO = sync.OnceValue(func() []byte {
	im, err := vdsoinject.Build()
	if err != nil {
		panic(err)
	}
	return im.Data
})

// symbolize fills a site of object at file offset off.
func symbolize(s *symbolizer, object string, off uint64, kind string) Site {
	site := Site{Object: object, Offset: Hex(off), Kind: kind}
	s.fill(&site)
	return site
}

// readelfBuildID is the build-id as binutils prints it, "" when it finds none.
func readelfBuildID(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-n", path).CombinedOutput()
	if err != nil {
		t.Skipf("readelf -n %s: %v", path, err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// fileOffset converts a symbol's address to its file offset, the inverse
// of what the symbolizer does, through the executable PT_LOAD segment.
func fileOffset(t *testing.T, f *elf.File, vaddr uint64) uint64 {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off
		}
	}
	t.Fatalf("no PT_LOAD holds %#x", vaddr)
	return 0
}

func findSymbol(t *testing.T, path, name string) elf.Symbol {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	dyn, _ := f.DynamicSymbols()
	for _, s := range append(syms, dyn...) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s: no symbol %s", path, name)
	return elf.Symbol{}
}

// setDebugRoot points the separate-debug-file lookup at dir for one test.
func setDebugRoot(t *testing.T, dir string) {
	old := debugRoot
	debugRoot = dir
	t.Cleanup(func() { debugRoot = old })
}

const glibcSO = "/lib/x86_64-linux-gnu/libc.so.6"

func TestSymbolsGlibcDynsym(t *testing.T) {
	setDebugRoot(t, t.TempDir()) // names from libc itself, not libc6-dbg
	f, err := elf.Open(glibcSO)
	if err != nil {
		t.Skipf("glibc not installed: %v", err)
	}
	defer f.Close()
	if syms, _ := f.Symbols(); len(syms) > 0 {
		t.Skip("this libc has a .symtab; the test is about a stripped one")
	}
	write := findSymbol(t, glibcSO, "write")
	if write.Size < 8 {
		t.Fatalf("write is %d bytes", write.Size)
	}
	off := fileOffset(t, f, write.Value) + 5
	site := symbolize(freshSymbolizer(), glibcSO, off, "trap")
	if site.Function != "write" || site.Symbol != "write+0x5" {
		t.Errorf("function %q symbol %q, want write, write+0x5", site.Function, site.Symbol)
	}
	if want := readelfBuildID(t, glibcSO); want == "" || site.BuildID != want {
		t.Errorf("build_id %q, readelf says %q", site.BuildID, want)
	}
	if site.Object != glibcSO || uint64(site.Offset) != off || site.File != "" || site.Line != 0 {
		t.Errorf("object+offset changed or a line without DWARF: %+v", site)
	}
}

// TestSymbolsGlibcDebugFile names libc's sites down to the line through
// libc6-dbg's separate debug file, as addr2line does.
func TestSymbolsGlibcDebugFile(t *testing.T) {
	id := readelfBuildID(t, glibcSO)
	if id == "" {
		t.Skip("libc has no build-id")
	}
	dbg := filepath.Join(debugRoot, id[:2], id[2:]+".debug")
	if _, err := os.Stat(dbg); err != nil {
		t.Skipf("no separate debug file for libc (apt-get install libc6-dbg): %v", err)
	}
	a2l, err := exec.LookPath("addr2line")
	if err != nil {
		t.Skip("addr2line not installed")
	}
	f, err := elf.Open(glibcSO)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := []string{"write", "getpid", "mmap", "close", "clock_nanosleep"}
	args := []string{"-e", dbg}
	for _, name := range names {
		args = append(args, "0x"+strconv.FormatUint(findSymbol(t, glibcSO, name).Value+4, 16))
	}
	out, err := exec.Command(a2l, args...).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(names) {
		t.Fatalf("addr2line printed %q", out)
	}
	s := freshSymbolizer()
	for i, name := range names {
		fn := findSymbol(t, glibcSO, name)
		site := symbolize(s, glibcSO, fileOffset(t, f, fn.Value)+4, "trap")
		file, line, _ := strings.Cut(strings.Fields(lines[i])[0], ":")
		wantLine, _ := strconv.Atoi(line)
		if site.File != filepath.Clean(file) || site.Line != wantLine || site.Function == "" {
			t.Errorf("%s: %s:%d in %q, addr2line says %s", name, site.File, site.Line, site.Function, lines[i])
		}
	}
}

// TestLineDir0Truncated reads directory 0 of a real DWARF 5 line program
// and of every truncation of its header, which must give "" or the
// directory, never a panic.
func TestLineDir0Truncated(t *testing.T) {
	dir := t.TempDir()
	bin, _ := buildProbe(t, dir, "gcc", "-gdwarf-5")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := func(name string) []byte {
		b, err := f.Section(name).Data()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	line, lineStr := data(".debug_line"), data(".debug_line_str")
	var str []byte
	if f.Section(".debug_str") != nil {
		str = data(".debug_str")
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// gcc records the directory it ran in; the crt objects' programs come
	// first in a linked binary, so look for the probe's own.
	found := false
	for off := 0; off+4 <= len(line); off += 4 + int(binary.LittleEndian.Uint32(line[off:])) {
		if lineDir0(line[off:], lineStr, str, binary.LittleEndian) == cwd {
			found = true
			for n := 0; n < 200 && off+n <= len(line); n++ {
				if got := lineDir0(line[off:off+n], lineStr, str, binary.LittleEndian); got != "" && got != cwd {
					t.Errorf("header cut at %d: %q", n, got)
				}
			}
		}
	}
	if !found {
		t.Errorf("no line program with directory 0 = %s", cwd)
	}
}

// probeSource has one raw syscall on a known line, behind a global label
// so the test finds its address without disassembling.
const probeSource = `#include <unistd.h>
__attribute__((noinline)) long probe_raw(long nr)
{
	long ret;
	__asm__ volatile(".globl probe_site\nprobe_site: syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}
int main(void) { return probe_raw(39) < 0; }
`

const probeSyscallLine = 5

func buildProbe(t *testing.T, dir, cc string, args ...string) (bin, src string) {
	t.Helper()
	path, err := exec.LookPath(cc)
	if err != nil {
		t.Skipf("%s not installed", cc)
	}
	src = filepath.Join(dir, "probe.c")
	if err := os.WriteFile(src, []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "probe-"+cc)
	argv := append([]string{"-g", "-O1", "-Wl,--build-id", "-o", bin}, args...)
	if out, err := exec.Command(path, append(argv, src)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return bin, src
}

// probeSite is the file offset of the syscall instruction and the
// address it is linked at.
func probeSite(t *testing.T, bin string) (off, vaddr uint64) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vaddr = findSymbol(t, bin, "probe_site").Value
	return fileOffset(t, f, vaddr), vaddr
}

func TestSymbolsMuslStaticDWARF(t *testing.T) {
	dir := t.TempDir()
	bin, src := buildProbe(t, dir, "musl-gcc", "-static")
	off, vaddr := probeSite(t, bin)
	if off == vaddr {
		t.Fatalf("static binary links text at its file offset %#x; the test wants them apart", off)
	}
	fn := findSymbol(t, bin, "probe_raw")
	site := symbolize(freshSymbolizer(), bin, off, "trap")
	if site.Function != "probe_raw" {
		t.Errorf("function %q, want probe_raw", site.Function)
	}
	if want := "probe_raw+0x" + strconv.FormatUint(vaddr-fn.Value, 16); site.Symbol != want {
		t.Errorf("symbol %q, want %q", site.Symbol, want)
	}
	if site.File != src || site.Line != probeSyscallLine {
		t.Errorf("at %s:%d, want %s:%d", site.File, site.Line, src, probeSyscallLine)
	}
	if want := readelfBuildID(t, bin); want == "" || site.BuildID != want {
		t.Errorf("build_id %q, readelf says %q", site.BuildID, want)
	}

	// Stripped: the build-id survives, names and lines do not.
	stripped := filepath.Join(dir, "probe-stripped")
	if out, err := exec.Command("strip", "-o", stripped, bin).CombinedOutput(); err != nil {
		t.Skipf("strip: %v\n%s", err, out)
	}
	setDebugRoot(t, t.TempDir()) // no debug file for it
	s := symbolize(freshSymbolizer(), stripped, off, "trap")
	want := Site{Object: stripped, Offset: Hex(off), Kind: "trap", BuildID: site.BuildID}
	if s != want {
		t.Errorf("stripped: %+v, want %+v", s, want)
	}

	// With the unstripped file installed as its separate debug file, the
	// stripped binary is named again.
	id := site.BuildID
	dbg := filepath.Join(debugRoot, id[:2], id[2:]+".debug")
	if err := os.MkdirAll(filepath.Dir(dbg), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, dbg)
	s = symbolize(freshSymbolizer(), stripped, off, "trap")
	if s.Function != "probe_raw" || s.File != src || s.Line != probeSyscallLine {
		t.Errorf("stripped with debug file: %+v", s)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSymbolsPIEOffsetToVaddr links a PIE whose text sits 0x10000 above
// its file offset, so a symbolizer that looked symbols up by file offset
// would name the wrong function or none.
func TestSymbolsPIEOffsetToVaddr(t *testing.T) {
	for _, dw := range []string{"-gdwarf-4", "-gdwarf-5"} {
		t.Run(dw, func(t *testing.T) { testPIE(t, dw) })
	}
}

func testPIE(t *testing.T, dwarfVersion string) {
	bin, src := buildProbe(t, t.TempDir(), "gcc", dwarfVersion, "-fPIE", "-pie", "-Wl,-Ttext-segment=0x10000")
	off, vaddr := probeSite(t, bin)
	if vaddr-off != 0x10000 {
		t.Fatalf("probe_site at offset %#x, vaddr %#x: linker ignored -Ttext-segment", off, vaddr)
	}
	site := symbolize(freshSymbolizer(), bin, off, "trap")
	if site.Function != "probe_raw" || site.File != src || site.Line != probeSyscallLine {
		t.Errorf("site %+v, want probe_raw at %s:%d", site, src, probeSyscallLine)
	}

	// A bypass site is a return address: its function and line are those
	// of the byte before, the call.
	after := symbolize(freshSymbolizer(), bin, off+2, "bypass")
	if after.Function != "probe_raw" || after.Line != probeSyscallLine {
		t.Errorf("return-address site %+v, want probe_raw line %d", after, probeSyscallLine)
	}
}

func TestSymbolsVDSO(t *testing.T) {
	im, err := vdsoinject.Build()
	if err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(im.BuildID())
	s := freshSymbolizer()
	for _, tg := range vdsoinject.Targets {
		fb, ok := im.FallbackOffset(tg)
		if !ok {
			t.Fatalf("%v: no fallback", tg)
		}
		site := symbolize(s, VDSOObject, fb+1, "trap")
		want := tg.Symbol() + "_fallback"
		if site.Function != want || site.Symbol != want+"+0x1" || site.BuildID != id {
			t.Errorf("%v fallback: %+v, want %s+0x1 build_id %s", tg, site, want, id)
		}
		stub := symbolize(s, VDSOObject, im.StubOffset(tg), "trap")
		if stub.Function != tg.Symbol() && stub.Function != tg.Alias() {
			t.Errorf("%v stub: function %q, want %s or %s", tg, stub.Function, tg.Symbol(), tg.Alias())
		}
	}
}

func TestSymbolsUnreadableObjects(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(notELF, []byte("not an ELF file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := freshSymbolizer()
	for _, obj := range []string{filepath.Join(dir, "deleted.so"), notELF, dir, UnknownObject, "[stack]", ""} {
		site := symbolize(s, obj, 0x1234, "trap")
		if want := (Site{Object: obj, Offset: 0x1234, Kind: "trap"}); site != want {
			t.Errorf("%q: %+v, want object+offset only", obj, site)
		}
	}
}

// TestSymbolsCacheByBuildID reads an object under a second path from the
// cache, and a stripped copy with the same build-id anew.
func TestSymbolsCacheByBuildID(t *testing.T) {
	dir := t.TempDir()
	bin, _ := buildProbe(t, dir, "gcc")
	link := filepath.Join(dir, "same")
	copyFile(t, bin, link)
	stripped := filepath.Join(dir, "stripped")
	if out, err := exec.Command("strip", "-o", stripped, bin).CombinedOutput(); err != nil {
		t.Skipf("strip: %v\n%s", err, out)
	}
	c := newObjectCache()
	a, b, st := c.load(bin), c.load(link), c.load(stripped)
	if a == nil || a.buildID == "" {
		t.Fatalf("no build-id read from %s", bin)
	}
	if a != b {
		t.Error("the same object under another path was parsed again")
	}
	if st == a || st.buildID != a.buildID || len(st.funcs) >= len(a.funcs) {
		t.Errorf("stripped copy: shared %v, build-id %q vs %q, %d vs %d functions",
			st == a, st.buildID, a.buildID, len(st.funcs), len(a.funcs))
	}
	// Without a build-id the path, size and mtime identify the file.
	noID := filepath.Join(dir, "noid")
	if out, err := exec.Command("objcopy", "--remove-section=.note.gnu.build-id", bin, noID).CombinedOutput(); err != nil {
		t.Skipf("objcopy: %v\n%s", err, out)
	}
	x := c.load(noID)
	if x == nil || x.buildID != "" || c.load(noID) != x {
		t.Fatalf("object without build-id: %+v not cached by path", x)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(noID, later, later); err != nil {
		t.Fatal(err)
	}
	if c.load(noID) == x {
		t.Error("a file with a new mtime came from the cache")
	}
}

func TestObjectCacheBounded(t *testing.T) {
	c := newObjectCache()
	first := &objectSymbols{}
	c.put("first", first)
	for i := 0; i < objectCacheSize; i++ {
		c.put("k"+strconv.Itoa(i), &objectSymbols{})
	}
	if len(c.entries) != objectCacheSize {
		t.Errorf("%d entries, want at most %d", len(c.entries), objectCacheSize)
	}
	if c.get("first") != nil {
		t.Error("the least recently used entry was kept")
	}
}

func TestNoteBuildIDMalformed(t *testing.T) {
	le := binary.LittleEndian
	note := func(namesz, descsz, typ uint32, name string, desc []byte, pad int) []byte {
		b := le.AppendUint32(nil, namesz)
		b = le.AppendUint32(b, descsz)
		b = le.AppendUint32(b, typ)
		b = append(b, name...)
		for len(b)%pad != 0 {
			b = append(b, 0)
		}
		b = append(b, desc...)
		for len(b)%pad != 0 {
			b = append(b, 0)
		}
		return b
	}
	id := []byte{0xde, 0xad, 0xbe, 0xef, 1}
	good := note(4, 5, ntGNUBuildID, noteGNU, id, 4)
	property8 := note(4, 16, 5, noteGNU, make([]byte, 16), 8)
	for _, tc := range []struct {
		name  string
		data  []byte
		align uint64
		want  string
	}{
		{"build-id", good, 4, "deadbeef01"},
		{"after an 8-aligned property note", append(note(4, 4, 5, noteGNU, make([]byte, 4), 8), note(4, 5, ntGNUBuildID, noteGNU, id, 8)...), 8, "deadbeef01"},
		{"property only", property8, 8, ""},
		{"other owner", note(4, 5, ntGNUBuildID, "Xen\x00", id, 4), 4, ""},
		{"truncated descriptor", good[:18], 4, ""},
		{"huge sizes", note(0xffffffff, 0xffffffff, ntGNUBuildID, noteGNU, nil, 4), 4, ""},
		{"short header", good[:7], 4, ""},
		{"empty", nil, 4, ""},
	} {
		r := strings.NewReader(string(tc.data))
		if got := noteBuildID(r, uint64(len(tc.data)), tc.align, le); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSymbolsProbeGuestReport runs the musl probe guest under vsysbed and
// checks its one raw-syscall site is named down to the guest's source.
func TestSymbolsProbeGuestReport(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bed := filepath.Join(root, "build/vsysbed")
	guest := filepath.Join(root, "build/guests/vsyscall_probe-musl")
	for _, p := range []string{bed, guest} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s not built (make build guests): %v", p, err)
		}
	}
	out := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.Command(bed, "run", "--report", out, "--", guest, "--require-bypass")
	cmd.Dir = t.TempDir()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vsysbed run: %v\n%s", err, b)
	}
	r, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// raw_entry's one syscall instruction is raw_syscall6's inline asm.
	header := filepath.Join(root, "e2e/guests/vdsosym.h")
	src, err := os.ReadFile(header)
	if err != nil {
		t.Fatal(err)
	}
	asmLine := 0
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, `__asm__ volatile("syscall"`) {
			asmLine = i + 1
		}
	}
	if asmLine == 0 {
		t.Fatalf("%s: no raw syscall asm line", header)
	}
	var found bool
	for _, s := range r.Sites {
		if s.Kind != "trap" || s.Object != guest || s.Function != "raw_entry" {
			continue
		}
		found = true
		if s.File != header || s.Line != asmLine {
			t.Errorf("raw_entry site at %s:%d, want %s:%d", s.File, s.Line, header, asmLine)
		}
		if !strings.HasPrefix(s.Symbol, "raw_entry+0x") {
			t.Errorf("symbol %q", s.Symbol)
		}
	}
	if !found {
		t.Errorf("no trap site in raw_entry of %s (is build/vsysbed older than this package? make build); sites: %+v", guest, r.Sites)
	}
}

// BenchmarkSymbolizePython times naming every site of a python3 run with
// nothing cached, as `vsysbed run --report` does once per run.
func BenchmarkSymbolizePython(b *testing.B) {
	bed, err := filepath.Abs("../build/vsysbed")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bed); err != nil {
		b.Skipf("%s not built: %v", bed, err)
	}
	const py = "/usr/bin/python3" // not a PATH shim: a shell script would execve
	if _, err := os.Stat(py); err != nil {
		b.Skipf("python3 not installed: %v", err)
	}
	out := filepath.Join(b.TempDir(), "r.json")
	script := `import json, decimal, ssl, sqlite3, ctypes, asyncio, hashlib, zlib, socket, os, threading, select, time
for d in ("/usr/lib", "/etc", "/proc/self"):
    os.listdir(d)
sock = socket.socketpair()
sock[0].send(b"x"); select.select([sock[1]], [], [], 0); sock[1].recv(1)
t = threading.Thread(target=time.sleep, args=(0.01,)); t.start(); t.join()
sqlite3.connect(":memory:").execute("select 1")
ssl.create_default_context()
`
	if o, err := exec.Command(bed, "run", "--report", out, "--", py, "-c", script).CombinedOutput(); err != nil {
		b.Fatalf("vsysbed run: %v\n%s", err, o)
	}
	r, err := Load(out)
	if err != nil {
		b.Fatal(err)
	}
	objects := map[string]bool{}
	for _, s := range r.Sites {
		objects[s.Object] = true
	}
	b.Logf("%d sites in %d objects", len(r.Sites), len(objects))
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := freshSymbolizer()
			for j := range r.Sites {
				site := r.Sites[j]
				s.fill(&site)
			}
		}
	}
	// With libc6-dbg installed, libc and ld.so get their lines from the
	// separate debug files: the costly case.
	b.Run("debug-files", run)
	b.Run("no-debug-files", func(b *testing.B) {
		old := debugRoot
		debugRoot = b.TempDir()
		defer func() { debugRoot = old }()
		run(b)
	})
}
