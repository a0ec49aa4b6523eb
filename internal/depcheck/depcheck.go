// Package depcheck is a test helper: it checks that a package of
// vsysbed's, with everything it imports, links none of our C and
// assembly (package tls) and no cgo package at all.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// NoCgo fails t if pkg depends on tls or on any package with cgo files,
// or does not vet with CGO_ENABLED=0. A `go list` that fails fails the
// test rather than skipping it: the check must not pass for nothing.
func NoCgo(t testing.TB, pkg string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], pkg+" ") {
		t.Fatalf("go list -deps %s listed %q, not its dependencies", pkg, out)
	}
	for _, line := range lines {
		path, cgoFiles, _ := strings.Cut(line, " ")
		if path == "github.com/vsysbed/vsysbed/tls" || cgoFiles != "0" {
			t.Errorf("%s depends on %s (%s cgo files)", pkg, path, cgoFiles)
		}
	}
	vet := exec.Command("go", "vet", pkg)
	vet.Env = append(vet.Environ(), "CGO_ENABLED=0")
	if out, err := vet.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go vet %s: %v\n%s", pkg, err, out)
	}
}
