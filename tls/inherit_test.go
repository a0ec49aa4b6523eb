package tls

import (
	"testing"

	"github.com/vsysbed/vsysbed/internal/reexec"
)

// TestHostCommandsAreReexecs: the constructor in inherit.c, which runs
// before Go, knows the host processes' subcommands by the names
// internal/reexec gives them, and no other.
func TestHostCommandsAreReexecs(t *testing.T) {
	for _, name := range reexec.Commands {
		want := name == reexec.Host || name == reexec.Fork
		if got := isHostCommand(name); got != want {
			t.Errorf("inherit.c takes %s for a host process: %v, want %v", name, got, want)
		}
	}
	if isHostCommand("run") || isHostCommand("__hos") {
		t.Error("inherit.c takes a non-host subcommand for a host process")
	}
}
