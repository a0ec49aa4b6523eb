package tls

import (
	"testing"

	"github.com/vsysbed/vsysbed/internal/exitstatus"
)

func TestOffsets(t *testing.T) {
	for _, c := range offsetChecks() {
		if c.goOff != c.cOff {
			t.Errorf("%s: Go offset %d, C offset %d", c.name, c.goOff, c.cOff)
		}
	}
	if got := cSize(); got != Size {
		t.Errorf("sizeof(struct vsysbed_cb) = %d, Go Size = %d", got, Size)
	}
}

// TestConstants: every constant tls/cblock copies from cb.h or entry.h has the C
// value (the offsets above are checked the same way).
func TestConstants(t *testing.T) {
	for _, c := range constChecks() {
		if c.goVal != c.cVal {
			t.Errorf("%s: Go %#x, cb.h %#x", c.name, c.goVal, c.cVal)
		}
	}
}

// TestExitFailed: the status the C entry exits with when a fork child
// cannot tell its parent it is ready is vsysbed's own failure, the one
// the rest of vsysbed exits with.
func TestExitFailed(t *testing.T) {
	if exitFailed != exitstatus.Failed {
		t.Errorf("VSYSBED_EXIT_FAILED = %d, exitstatus.Failed = %d", exitFailed, exitstatus.Failed)
	}
}
