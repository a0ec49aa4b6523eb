package vdsoinject

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procMap is one line of /proc/self/maps.
type procMap struct {
	lo, hi uintptr
	perms  string
	name   string
}

func readMaps(t *testing.T) []procMap {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var out []procMap
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		lo, hi, ok := parseMapsRange(sc.Text())
		if !ok || len(f) < 2 {
			t.Fatalf("bad maps line %q", sc.Text())
		}
		m := procMap{lo: lo, hi: hi, perms: f[1]}
		if len(f) >= 6 {
			m.name = f[5]
		}
		out = append(out, m)
	}
	return out
}

func TestHostVDSO(t *testing.T) {
	got, err := HostVDSO()
	if errors.Is(err, ErrNoVDSO) {
		t.Skip("host has no vDSO")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[ClockGettime]; !ok {
		t.Fatalf("no __vdso_clock_gettime in host vDSO: %v", got)
	}
	if _, ok := got[KernelVsyscall]; ok {
		t.Error("x86-64 Linux has no __kernel_vsyscall, yet one was found")
	}
	var vdso *procMap
	for _, m := range readMaps(t) {
		if m.name == "[vdso]" {
			vdso = &m
		}
	}
	if vdso == nil {
		t.Fatal("no [vdso] in /proc/self/maps")
	}
	for tg, a := range got {
		if a < vdso.lo || a >= vdso.hi {
			t.Errorf("%v at %#x outside [vdso] %#x-%#x", tg, a, vdso.lo, vdso.hi)
		}
	}
	// Cross-check against debug/elf on a copy of the same memory.
	mem := append([]byte(nil), memAt(vdso.lo, int(vdso.hi-vdso.lo))...)
	im := &Image{Data: mem}
	f := mustELF(t, im)
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		for tg, a := range got {
			if s.Name == tg.Symbol() && s.Version == VersionName && vdso.lo+uintptr(s.Value) != a {
				t.Errorf("%v: HostVDSO %#x, debug/elf %#x", tg, a, vdso.lo+uintptr(s.Value))
			}
		}
	}
}

func TestLookupTargetsOwnImage(t *testing.T) {
	im := mustBuild(t)
	got, err := LookupTargets(im.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(Targets) {
		t.Fatalf("found %d of %d targets", len(got), len(Targets))
	}
	for tg, off := range got {
		if off != im.StubOffset(tg) {
			t.Errorf("%v at %#x, want %#x", tg, off, im.StubOffset(tg))
		}
	}
}

// Bad images must give errors, never panics: every truncation, and every
// byte of the metadata page overwritten.
func TestLookupTargetsBadInput(t *testing.T) {
	im := mustBuild(t)
	for n := 0; n < len(im.Data); n += 7 {
		_, err := LookupTargets(im.Data[:n])
		if n < 64 && err == nil {
			t.Fatalf("truncated to %d: no error", n)
		}
	}
	var fe *FormatError
	if _, err := LookupTargets([]byte("not an ELF file at all, just some text padding it out ......")); !errors.As(err, &fe) {
		t.Errorf("text input: %v, want *FormatError", err)
	}
	buf := make([]byte, len(im.Data))
	for i := 0; i < int(im.textOff); i++ {
		for _, v := range []byte{0xff, 0x80, 0x01} {
			copy(buf, im.Data)
			buf[i] = v
			LookupTargets(buf) // must not panic
		}
	}
}

func TestMap(t *testing.T) {
	im := mustBuild(t)
	targets := map[Target]uintptr{
		KernelVsyscall: 0x7f0000001230,
		ClockGettime:   0x7f0000004560,
		Time:           0x7f0000007890,
	}
	m, err := im.Map(targets)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Unmap(); err != nil {
			t.Error(err)
		}
	}()
	if m.Base%PageSize != 0 || m.Size%PageSize != 0 || m.Size < uintptr(len(im.Data)) {
		t.Fatalf("mapping %#x+%#x", m.Base, m.Size)
	}
	for _, tg := range Targets {
		want, ok := targets[tg]
		if !ok {
			fb, _ := im.FallbackOffset(tg)
			want = m.Addr(fb)
		}
		if got := m.Slot(tg); got != want {
			t.Errorf("slot %v = %#x, want %#x", tg, got, want)
		}
	}
	// Apart from the slots the memory is the file image.
	mem := memAt(m.Base, len(im.Data))
	want := append([]byte(nil), im.Data...)
	for _, tg := range Targets {
		copy(want[im.SlotOffset(tg):], mem[im.SlotOffset(tg):im.SlotOffset(tg)+8])
	}
	if !bytes.Equal(mem, want) {
		t.Error("mapped image differs from Data outside the slots")
	}
	if e := m.Entry(ClockGettime); e != m.Base+uintptr(im.StubOffset(ClockGettime)) {
		t.Errorf("Entry %#x", e)
	}

	// Every page: text r-x, the rest r--, nothing writable.
	maps := readMaps(t)
	for page := m.Base; page < m.Base+m.Size; page += PageSize {
		var perms string
		for _, pm := range maps {
			if pm.lo <= page && page < pm.hi {
				perms = pm.perms
			}
		}
		off := uint64(page - m.Base)
		want := "r--p"
		if off >= im.textOff && off < im.textEnd {
			want = "r-xp"
		}
		if perms != want {
			t.Errorf("page +%#x is %q, want %q", off, perms, want)
		}
	}

	// A second mapping lands elsewhere and is independent.
	m2, err := im.Map(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Base == m.Base {
		t.Error("two mappings at one address")
	}
	if fb, _ := im.FallbackOffset(ClockGettime); m2.Slot(ClockGettime) != m2.Addr(fb) {
		t.Error("absent target not pointed at the fallback")
	}
	if err := m2.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := m2.Unmap(); err != nil {
		t.Errorf("second Unmap: %v", err)
	}
}

func TestMapBadInput(t *testing.T) {
	im := mustBuild(t)
	if _, err := im.Map(map[Target]uintptr{Target(42): 1}); err == nil {
		t.Error("unknown target accepted")
	}
	if _, err := (&Image{}).Map(nil); err == nil {
		t.Error("empty image mapped")
	}
}

func TestWriteFile(t *testing.T) {
	im := mustBuild(t)
	p := filepath.Join(t.TempDir(), "v.so")
	if err := im.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(b, im.Data) {
		t.Fatalf("dump differs: %v", err)
	}
	if err := im.WriteFile(filepath.Join(p, "sub")); err == nil {
		t.Error("write below a regular file succeeded")
	}
}

func TestFillAndRegions(t *testing.T) {
	im := mustBuild(t)
	const base = 0x7ffff7fc0000
	img, err := im.Fill(base, map[Target]uintptr{Getcpu: 0x1111})
	if err != nil {
		t.Fatal(err)
	}
	if len(img)%PageSize != 0 || !bytes.Equal(img[:im.SlotOffset(KernelVsyscall)], im.Data[:im.SlotOffset(KernelVsyscall)]) {
		t.Fatal("Fill changed bytes before the slots")
	}
	for _, tg := range Targets {
		want := uint64(0x1111)
		if tg != Getcpu {
			fb, _ := im.FallbackOffset(tg)
			want = base + fb
		}
		if got := le.Uint64(img[im.SlotOffset(tg):]); got != want {
			t.Errorf("%v slot %#x, want %#x", tg, got, want)
		}
	}
	if _, err := im.Fill(base+1, nil); err == nil {
		t.Error("unaligned base accepted")
	}
	var next uint64
	for _, r := range im.Regions() {
		if r.Off != next || r.Off%PageSize != 0 || r.Len%PageSize != 0 || r.Prot&0x2 != 0 {
			t.Errorf("region %+v (expected start %#x, page aligned, not writable)", r, next)
		}
		next = r.Off + r.Len
	}
	if next != uint64(len(img)) {
		t.Errorf("regions end at %#x, image %#x", next, len(img))
	}
}
