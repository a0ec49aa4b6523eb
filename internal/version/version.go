// Package version names the vsysbed build: what `vsysbed --version`
// prints and every report records (its vsysbed_version field).
package version

import (
	"runtime"
	"runtime/debug"
)

// stamp, when set at link time (-ldflags "-X
// github.com/vsysbed/vsysbed/internal/version.stamp=v1.2.3"; `make build`
// sets git describe's answer), is the version; else the module version the
// go command stamped from the repository (a pseudo-version naming the
// commit, +dirty for a modified tree), else the VCS revision it recorded,
// else "devel".
var stamp string

// String is the version of this vsysbed build, e.g. "f43ae06-dirty".
func String() string {
	if stamp != "" {
		return stamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(len(s.Value), 12)]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev != "" {
		return "devel-" + rev + dirty
	}
	return "devel"
}

// Line is the line `vsysbed --version` prints: the version, the Go
// release it was built with and the platform.
func Line() string {
	return "vsysbed " + String() + " (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
