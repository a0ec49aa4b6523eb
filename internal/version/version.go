// Package version names the vsysbed build: what `vsysbed --version`
// prints and every report records (its vsysbed_version field).
package version

import (
	"runtime"
	"runtime/debug"
)

// stamp, when set at link time (-ldflags "-X
// github.com/vsysbed/vsysbed/internal/version.stamp=v1.2.3"), is the
// version; else the module version the go command stamped from the
// repository (a pseudo-version naming the commit, +dirty for a modified
// tree), else "devel".
var stamp string

// String is the version of this vsysbed build, e.g.
// "v0.0.0-20261202131500-cacc991abcde+dirty".
func String() string {
	if stamp != "" {
		return stamp
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Line is the line `vsysbed --version` prints: the version, the Go
// release it was built with and the platform.
func Line() string {
	return "vsysbed " + String() + " (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
