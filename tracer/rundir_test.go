package tracer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
// killed supervisors and forgets the entries of directories gone, kept or
// without a record; an unregistered stale directory waits for GC.
func TestGCRegistered(t *testing.T) {
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
	stale := mk("stale", "1 1\n")
	unregistered := mk("unregistered", "1 1\n")
	kept := mk("kept", "1 1\n", rundir.KeepFile)
	live := mk("live", "")
	if err := rundir.WriteSupervisor(live); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{stale, kept, live, filepath.Join(tmp, runDirPrefix+"gone")} {
		register(tmp, d)
	}
	unregisterLive := register(tmp, live) // again: no error, one entry
	reg, ok := registry(tmp, false)
	if !ok {
		t.Fatal("no registry after register")
	}
	entries := func() []string {
		ents, _ := os.ReadDir(reg)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if got := entries(); len(got) != 4 {
		t.Fatalf("registry holds %v, want 4 entries", got)
	}
	removed := GCRegistered(tmp)
	if len(removed) != 1 || removed[0] != stale {
		t.Fatalf("GCRegistered removed %v, want only %s", removed, stale)
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
	if _, err := os.Lstat(reg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the empty registry is still there (%v): %v", err, entries())
	}
	// A registry removed under a run that has just made it is made again.
	if _, ok := registry(tmp, true); !ok {
		t.Fatal("no registry")
	}
	os.Remove(reg)
	unregister := register(tmp, live)
	if got := entries(); len(got) != 1 {
		t.Errorf("registry holds %v, want the live run", got)
	}
	unregister()
	if removed := GC(tmp); len(removed) != 1 || removed[0] != unregistered {
		t.Errorf("GC removed %v, want %s", removed, unregistered)
	}
}

// TestGCRegisteredForeignRegistry: a registry others may write to is not
// trusted; the run's GC reads the whole of tmp instead.
func TestGCRegisteredForeignRegistry(t *testing.T) {
	tmp := t.TempDir()
	reg := filepath.Join(tmp, registryPrefix+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(reg, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(reg, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, ok := registry(tmp, true); ok {
		t.Fatal("a world-writable registry is trusted")
	}
	stale := filepath.Join(tmp, runDirPrefix+"stale")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, rundir.SupervisorFile), []byte("1 1\n"), 0o644)
	register(tmp, stale) // not recorded: the registry is not ours
	if ents, _ := os.ReadDir(reg); len(ents) != 0 {
		t.Errorf("registered in a foreign registry: %v", ents)
	}
	if removed := GCRegistered(tmp); len(removed) != 1 || removed[0] != stale {
		t.Errorf("GCRegistered removed %v, want %s (by GC)", removed, stale)
	}
}
