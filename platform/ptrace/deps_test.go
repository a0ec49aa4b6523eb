package ptrace

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCgoDependencies keeps the ptrace platform, and everything it
// imports, free of tls (the in-process platform's C entry) and of any cgo
// package: it counts into the shards with tls/cblock's Count, the Go twin
// of entry.c's, and builds with CGO_ENABLED=0.
func TestNoCgoDependencies(t *testing.T) {
	const pkg = "github.com/vsysbed/vsysbed/platform/ptrace"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], pkg+" ") {
		t.Fatalf("go list -deps %s listed %q, not the platform's dependencies", pkg, out)
	}
	for _, line := range lines {
		path, cgoFiles, _ := strings.Cut(line, " ")
		if path == "github.com/vsysbed/vsysbed/tls" || cgoFiles != "0" {
			t.Errorf("platform/ptrace depends on %s (%s cgo files)", path, cgoFiles)
		}
	}
	build := exec.Command("go", "vet", pkg)
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go vet %s: %v\n%s", pkg, err, out)
	}
}
