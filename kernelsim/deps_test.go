package kernelsim

import (
	"testing"

	"github.com/vsysbed/vsysbed/internal/depcheck"
)

// TestNoCgoDependencies keeps kernelsim, and everything it imports, free
// of tls (the C entry, which platform/inprocess hands in as the Entry) and
// of any cgo package: its unit tests link none of our C and assembly, and
// it builds with CGO_ENABLED=0. tls/cblock, the control block's pure Go
// mirror, is what it may use of tls.
func TestNoCgoDependencies(t *testing.T) {
	depcheck.NoCgo(t, "github.com/vsysbed/vsysbed/kernelsim")
}
