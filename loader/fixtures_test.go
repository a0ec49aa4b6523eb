package loader

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The guest fixtures are tiny C programs compiled when a test first asks
// for them, into one temporary directory (shared by the tests, so each
// fixture is built once) that TestMain removes at the end.

const fixtureSource = `
#include <stdio.h>
char big_bss[100000];                  /* bss spanning many pages */
int data_var = 42;                     /* .data right before .bss */
const char marker[] = "vsysbed-fixture";
int main(int argc, char **argv) {
	big_bss[argc] = 1;
	printf("%s %d %s\n", marker, data_var, argv[0]);
	return 0;
}
`

var (
	fixtureDir  string
	fixtureMu   sync.Mutex
	fixtureDone = map[string]fixtureResult{}
)

type fixtureResult struct {
	path string
	err  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// fixtureKinds maps a fixture name to the compiler and flags that build it.
var fixtureKinds = map[string][]string{
	"static":       {"gcc", "-static", "-no-pie"},                                  // ET_EXEC at 0x400000
	"static-high":  {"gcc", "-static", "-no-pie", "-Wl,-Ttext-segment=0x20000000"}, // ET_EXEC clear of the test binary
	"static-pie":   {"gcc", "-static-pie"},
	"dynamic":      {"gcc", "-pie", "-fPIE"},
	"musl-static":  {"musl-gcc", "-static"},
	"musl-high":    {"musl-gcc", "-static", "-Wl,-Ttext-segment=0x30000000"},
	"musl-pie":     {"musl-gcc", "-static-pie", "-Wl,--no-dynamic-linker"},
	"musl-dynamic": {"musl-gcc"},
}

// fixture returns the path of the named fixture, building it on first use;
// it skips the test when the compiler is missing.
func fixture(t testing.TB, name string) string {
	t.Helper()
	args, ok := fixtureKinds[name]
	if !ok {
		t.Fatalf("unknown fixture %q", name)
	}
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if r, ok := fixtureDone[name]; ok {
		if r.err != "" {
			t.Skip(r.err)
		}
		return r.path
	}
	cc, err := exec.LookPath(args[0])
	if err != nil {
		r := fixtureResult{err: args[0] + " is not installed, so the " + name + " fixture cannot be built"}
		fixtureDone[name] = r
		t.Skip(r.err)
	}
	if fixtureDir == "" {
		dir, err := os.MkdirTemp("", "loader-fixtures-")
		if err != nil {
			t.Fatal(err)
		}
		fixtureDir = dir
	}
	src := filepath.Join(fixtureDir, "fixture.c")
	if _, err := os.Stat(src); err != nil {
		if err := os.WriteFile(src, []byte(fixtureSource), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(fixtureDir, name)
	cmd := exec.Command(cc, append(args[1:], "-O1", "-o", out, src)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building fixture %s: %v\n%s", name, err, b)
	}
	fixtureDone[name] = fixtureResult{path: out}
	return out
}

// writeFile writes an executable file into a fresh test directory.
func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFileMode(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o755)
}
