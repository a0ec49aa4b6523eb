package coverage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mapStore is a SymbolStore in memory, counting its calls.
type mapStore struct {
	m             map[string][]SymbolEntry
	loads, stores int
}

func newMapStore() *mapStore { return &mapStore{m: map[string][]SymbolEntry{}} }

func (s *mapStore) Load(key string) []SymbolEntry {
	s.loads++
	return s.m[key]
}

func (s *mapStore) Store(key string, entries []SymbolEntry) {
	s.stores++
	s.m[key] = append([]SymbolEntry(nil), entries...)
}

// storeSymbolizer is a fresh symbolizer with store.
func storeSymbolizer(store SymbolStore) *symbolizer {
	s := freshSymbolizer()
	s.store = store
	return s
}

// TestSymbolStoreAnswersWithoutParsing names a trap site and a bypass site
// of a binary with DWARF, stores the answers, and names them again from
// the store alone: the same sites, and the object never parsed.
func TestSymbolStoreAnswersWithoutParsing(t *testing.T) {
	bin, src := buildProbe(t, t.TempDir(), "gcc", "-fPIE", "-pie", "-Wl,-Ttext-segment=0x10000")
	off, _ := probeSite(t, bin)
	store := newMapStore()
	s := storeSymbolizer(store)
	trap, bypass := symbolize(s, bin, off, "trap"), symbolize(s, bin, off+2, "bypass")
	if trap.Function != "probe_raw" || trap.File != src || trap.Line != probeSyscallLine || bypass.Function != "probe_raw" {
		t.Fatalf("sites %+v %+v", trap, bypass)
	}
	if store.stores != 0 {
		t.Fatal("stored before flush")
	}
	s.flush()
	if store.stores != 1 || len(store.m) != 1 {
		t.Fatalf("%d stores of %d keys, want 1 of 1", store.stores, len(store.m))
	}
	for key, entries := range store.m {
		for _, want := range []string{"object build-id:" + trap.BuildID + " ", "\ndebug none\n", "\nsymbolizer "} {
			if !strings.Contains(key, want) {
				t.Errorf("key %q lacks %q", key, want)
			}
		}
		if len(entries) != 2 {
			t.Errorf("%d entries, want 2 (the trap's address and the byte before the return address)", len(entries))
		}
	}

	again := storeSymbolizer(store)
	if got := symbolize(again, bin, off, "trap"); got != trap {
		t.Errorf("from the store %+v, want %+v", got, trap)
	}
	if got := symbolize(again, bin, off+2, "bypass"); got != bypass {
		t.Errorf("from the store %+v, want %+v", got, bypass)
	}
	if ref := again.byPath[bin]; ref == nil || ref.parsed || len(again.cache.entries) != 0 {
		t.Error("the object was parsed although the store had every site")
	}
	again.flush()
	if store.stores != 1 {
		t.Error("nothing new, yet stored again")
	}

	// A site the store lacks parses the object and is added to the rest.
	third := storeSymbolizer(store)
	symbolize(third, bin, off, "trap")
	symbolize(third, bin, off-1, "trap")
	third.flush()
	for _, entries := range store.m {
		if len(entries) != 3 {
			t.Errorf("%d entries after a new site, want 3", len(entries))
		}
	}
}

// TestSymbolStoreUsesStoredAnswers proves the store is what answers: a
// stored entry the object would never give is what the site gets, and an
// impossible one (a function above the address) names no function.
func TestSymbolStoreUsesStoredAnswers(t *testing.T) {
	bin, _ := buildProbe(t, t.TempDir(), "gcc")
	off, vaddr := probeSite(t, bin)
	ref := openObject(bin)
	if ref == nil || ref.storeKey == "" {
		t.Fatalf("no store key for %s", bin)
	}
	store := newMapStore()
	store.m[ref.storeKey] = []SymbolEntry{
		{Addr: vaddr, Function: "stored_fn", Value: vaddr - 3, File: "stored.c", Line: 7},
		{Addr: vaddr + 1, Function: "above", Value: vaddr + 100, File: "x.c", Line: 1},
	}
	s := storeSymbolizer(store)
	if got := symbolize(s, bin, off, "trap"); got.Symbol != "stored_fn+0x3" || got.File != "stored.c" || got.Line != 7 {
		t.Errorf("site %+v, want the stored answer", got)
	}
	if got := symbolize(s, bin, off+1, "trap"); got.Function != "" || got.Symbol != "" || got.File != "x.c" {
		t.Errorf("site %+v: a function above the address was used", got)
	}
}

// TestSymbolStoreKey changes with what the answers depend on beyond the
// object itself: its separate debug file (installing libc6-dbg adds
// lines), and names the object by build-id and size, not path.
func TestSymbolStoreKey(t *testing.T) {
	dir := t.TempDir()
	bin, _ := buildProbe(t, dir, "gcc")
	copyFile(t, bin, filepath.Join(dir, "copy"))
	setDebugRoot(t, t.TempDir())
	a, b := openObject(bin), openObject(filepath.Join(dir, "copy"))
	if a == nil || b == nil || a.storeKey != b.storeKey {
		t.Fatalf("a copy has another key: %+v %+v", a, b)
	}
	dbg := debugFile(a.buildID)
	if err := os.MkdirAll(filepath.Dir(dbg), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, dbg)
	if c := openObject(bin); c.storeKey == a.storeKey || !strings.Contains(c.storeKey, "\ndebug ") || strings.Contains(c.storeKey, "debug none") {
		t.Errorf("the key ignores the debug file:\n%s\n%s", a.storeKey, c.storeKey)
	}
	// Without a build-id nothing is stored.
	noID := filepath.Join(dir, "noid")
	if out, err := exec.Command("objcopy", "--remove-section=.note.gnu.build-id", bin, noID).CombinedOutput(); err != nil {
		t.Skipf("objcopy: %v\n%s", err, out)
	}
	if ref := openObject(noID); ref == nil || ref.storeKey != "" {
		t.Errorf("an object without build-id has a store key: %+v", ref)
	}
}

// TestBuildStoresSymbols: Build hands Input.Symbols the answers of the
// objects its sites are in, and only those.
func TestBuildStoresSymbols(t *testing.T) {
	dir := t.TempDir()
	bin, _ := buildProbe(t, dir, "gcc")
	otherDir := filepath.Join(dir, "b")
	if err := os.Mkdir(otherDir, 0o755); err != nil {
		t.Fatal(err)
	}
	other, _ := buildProbe(t, otherDir, "gcc", "-O0")
	off, _ := probeSite(t, bin)
	store := newMapStore()
	in := Input{
		Shards: []Shard{{Pid: 10, Sites: []Site{{Address: Hex(0x400000 + off), Nr: 39, Kind: KindTrap, Count: 1}}}},
		Events: []Event{
			{Ev: EvMap, Pid: 10, Start: 0x400000, End: 0x500000, Path: bin},
			{Ev: EvMap, Pid: 10, Start: 0x600000, End: 0x700000, Path: other},
		},
		Symbols: store,
	}
	r := Build(in)
	if len(r.Sites) != 1 || r.Sites[0].Function != "probe_raw" {
		t.Fatalf("sites %+v", r.Sites)
	}
	if len(store.m) != 1 || store.loads != 1 {
		t.Errorf("%d objects stored, %d loads; want the one object with a site", len(store.m), store.loads)
	}
	if r2 := Build(in); r2.Sites[0] != r.Sites[0] {
		t.Errorf("from the store %+v, want %+v", r2.Sites[0], r.Sites[0])
	}
}

// TestBuildAuditStoresSymbols: the audit's sites are named through the
// store as the report's are.
func TestBuildAuditStoresSymbols(t *testing.T) {
	bin, _ := buildProbe(t, t.TempDir(), "gcc")
	off, _ := probeSite(t, bin)
	store := newMapStore()
	in := AuditInput{
		Platform: AuditNative,
		Sites:    []AuditRawSite{{Addr: 0x400000 + off, Nr: 39, Count: 1}},
		Events:   []Event{{Ev: EvMap, Pid: 10, Start: 0x400000, End: 0x500000, Path: bin}},
		Symbols:  store,
	}
	a := BuildAudit(in, nil)
	if len(a.Sites) != 1 || a.Sites[0].Function != "probe_raw" {
		t.Fatalf("audit sites %+v", a.Sites)
	}
	if len(store.m) != 1 {
		t.Fatalf("%d objects stored, want 1", len(store.m))
	}
	for k := range store.m {
		store.m[k][0].Function = "from_store"
	}
	if b := BuildAudit(in, nil); b.Sites[0].Function != "from_store" {
		t.Errorf("the second audit parsed again: %+v", b.Sites[0])
	}
}
