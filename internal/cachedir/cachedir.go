// Package cachedir is where vsysbed keeps what it caches across runs (the
// code-range probe's answer: internal/probecache; symbolisation:
// internal/symcache) and the registry of runs (tracer.GCRegistered):
// $XDG_CACHE_HOME/vsysbed, else $HOME/.cache/vsysbed.
// Each cache has its own switch, an environment variable that turns it
// off when set to "off".
package cachedir

import (
	"os"
	"path/filepath"
)

// Dir is the cache directory, or "" when envVar is "off" or neither
// XDG_CACHE_HOME nor HOME is set to an absolute path.
func Dir(envVar string) string {
	if os.Getenv(envVar) == "off" {
		return ""
	}
	return Root()
}

// Root is the cache directory whatever the switches say (the registry of
// runs, tracer.GCRegistered, is not a cache); "" when neither
// XDG_CACHE_HOME nor HOME is set to an absolute path.
func Root() string {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "vsysbed")
	}
	if h := os.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "vsysbed")
	}
	return ""
}
