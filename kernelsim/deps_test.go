package kernelsim

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCgoDependencies keeps kernelsim, and everything it imports, free
// of tls (the C entry, which platform/inprocess hands in as the Entry) and
// of any cgo package: its unit tests link none of our C and assembly, and
// it builds with CGO_ENABLED=0. tls/cblock, the control block's pure Go
// mirror, is what it may use of tls.
func TestNoCgoDependencies(t *testing.T) {
	const pkg = "github.com/vsysbed/vsysbed/kernelsim"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], pkg+" ") {
		t.Fatalf("go list -deps %s listed %q, not kernelsim's dependencies", pkg, out)
	}
	for _, line := range lines {
		path, cgoFiles, _ := strings.Cut(line, " ")
		if path == "github.com/vsysbed/vsysbed/tls" || cgoFiles != "0" {
			t.Errorf("kernelsim depends on %s (%s cgo files)", path, cgoFiles)
		}
	}
	build := exec.Command("go", "vet", pkg)
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go vet %s: %v\n%s", pkg, err, out)
	}
}
