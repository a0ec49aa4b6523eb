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
