package ptrace

import (
	"testing"

	"github.com/vsysbed/vsysbed/internal/depcheck"
)

// TestNoCgoDependencies keeps the ptrace platform, and everything it
// imports, free of tls (the in-process platform's C entry) and of any cgo
// package: it counts into the shards with tls/cblock's Count, the Go twin
// of entry.c's, and builds with CGO_ENABLED=0.
func TestNoCgoDependencies(t *testing.T) {
	depcheck.NoCgo(t, "github.com/vsysbed/vsysbed/platform/ptrace")
}
