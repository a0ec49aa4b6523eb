package bed

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCgoDependencies keeps bed, bedmatch and the report package they
// use free of vsysbed's C and assembly (tls) and of any cgo package, so a
// user's test binary builds with CGO_ENABLED=0 and links none of it.
func TestNoCgoDependencies(t *testing.T) {
	pkgs := []string{"github.com/vsysbed/vsysbed/bed", "github.com/vsysbed/vsysbed/bed/bedmatch", "github.com/vsysbed/vsysbed/coverage"}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}"}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, cgoFiles, _ := strings.Cut(line, " ")
		if path == "github.com/vsysbed/vsysbed/tls" || cgoFiles != "0" {
			t.Errorf("%s depends on %s (%s cgo files)", strings.Join(pkgs, ", "), path, cgoFiles)
		}
	}
	build := exec.Command("go", append([]string{"build"}, pkgs...)...)
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
}
