package main

import (
	"testing"

	"github.com/vsysbed/vsysbed/internal/reexec"
)

// TestHiddenCommands: every hidden subcommand internal/reexec names is
// dispatched, and nothing else is.
func TestHiddenCommands(t *testing.T) {
	for _, name := range reexec.Commands {
		if hidden[name] == nil {
			t.Errorf("%s: no entry in the hidden table", name)
		}
	}
	if len(hidden) != len(reexec.Commands) {
		t.Errorf("the hidden table has %d entries, reexec.Commands %d", len(hidden), len(reexec.Commands))
	}
}
