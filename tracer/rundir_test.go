package tracer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vsysbed/vsysbed/rundir"
)

func TestGC(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name, record string, extra ...string) string {
		d := filepath.Join(tmp, runDirPrefix+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if record != "" {
			os.WriteFile(filepath.Join(d, rundir.SupervisorFile), []byte(record), 0o644)
		}
		for _, f := range extra {
			os.WriteFile(filepath.Join(d, f), nil, 0o644)
		}
		return d
	}
	stale := mk("stale", "1 1\n") // pid 1 never started at tick 1
	noRecord := mk("old", "")
	kept := mk("kept", "1 1\n", rundir.KeepFile)
	live := mk("live", "")
	if err := rundir.WriteSupervisor(live); err != nil {
		t.Fatal(err)
	}
	removed := GC(tmp)
	if len(removed) != 1 || removed[0] != stale {
		t.Fatalf("GC removed %v, want only %s", removed, stale)
	}
	for _, d := range []string{noRecord, kept, live} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// TestGCRegistered: a run's own GC takes the registered directories of
// killed supervisors (of any $TMPDIR) and forgets the entries of
// directories gone, kept or without a record; an unregistered stale
// directory waits for GC; a run leaves nothing in $TMPDIR.
func TestGCRegistered(t *testing.T) {
	tmp, other := t.TempDir(), t.TempDir()
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	mk := func(tmp, name, record string, extra ...string) string {
		d := filepath.Join(tmp, runDirPrefix+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if record != "" {
			os.WriteFile(filepath.Join(d, rundir.SupervisorFile), []byte(record), 0o644)
		}
		for _, f := range extra {
			os.WriteFile(filepath.Join(d, f), nil, 0o644)
		}
		return d
	}
	stale := mk(tmp, "stale", "1 1\n")
	staleOther := mk(other, "stale", "1 1\n") // same name, another $TMPDIR
	unregistered := mk(tmp, "unregistered", "1 1\n")
	kept := mk(tmp, "kept", "1 1\n", rundir.KeepFile)
	live := mk(tmp, "live", "")
	if err := rundir.WriteSupervisor(live); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{stale, staleOther, kept, filepath.Join(tmp, runDirPrefix+"gone")} {
		register(d)
	}
	unregisterLive := register(live)
	reg, ok := registry(false)
	if !ok || reg != filepath.Join(cache, "vsysbed", "runs") {
		t.Fatalf("registry %q, %v", reg, ok)
	}
	// Junk in the registry is dropped, never followed.
	os.WriteFile(filepath.Join(reg, runDirPrefix+"junk"), []byte("relative/path\n"), 0o600)
	entries := func() []string {
		ents, _ := os.ReadDir(reg)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if got := entries(); len(got) != 6 {
		t.Fatalf("registry holds %v, want 6 entries", got)
	}
	removed := GCRegistered(tmp)
	if len(removed) != 2 || removed[0] != min(stale, staleOther) || removed[1] != max(stale, staleOther) {
		t.Fatalf("GCRegistered removed %v, want %s and %s", removed, staleOther, stale)
	}
	if got := entries(); len(got) != 1 || got[0] != filepath.Base(live) {
		t.Errorf("registry holds %v after GCRegistered, want only the live run", got)
	}
	for _, d := range []string{unregistered, kept, live} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	unregisterLive()
	if got := entries(); len(got) != 0 {
		t.Errorf("registry holds %v after unregister", got)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 3 {
		t.Errorf("tmp holds %v, want the 3 run directories only", left)
	}
	// GC (vsysbed gc) forgets what it removes too.
	unregisterAgain := register(unregistered)
	if removed := GC(tmp); len(removed) != 1 || removed[0] != unregistered {
		t.Errorf("GC removed %v, want %s", removed, unregistered)
	}
	if got := entries(); len(got) != 0 {
		t.Errorf("registry holds %v after GC", got)
	}
	unregisterAgain()
}

// TestGCRegisteredForeignRegistry: a registry others may write to is not
// trusted, nor is one without a cache directory: the run's GC reads the
// whole of tmp instead.
func TestGCRegisteredForeignRegistry(t *testing.T) {
	tmp, cache := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	reg := filepath.Join(cache, "vsysbed", "runs")
	if err := os.MkdirAll(reg, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(reg, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, ok := registry(true); ok {
		t.Fatal("a world-writable registry is trusted")
	}
	stale := filepath.Join(tmp, runDirPrefix+"stale")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, rundir.SupervisorFile), []byte("1 1\n"), 0o644)
	register(stale) // not recorded: the registry is not ours
	if ents, _ := os.ReadDir(reg); len(ents) != 0 {
		t.Errorf("registered in a foreign registry: %v", ents)
	}
	if removed := GCRegistered(tmp); len(removed) != 1 || removed[0] != stale {
		t.Errorf("GCRegistered removed %v, want %s (by GC)", removed, stale)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, ok := registry(true); ok {
		t.Error("a registry without a cache directory")
	}
}
