package reexec

import (
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestStartPassesATooLongArgvThroughAFile: an argument longer than
// execve takes (MAX_ARG_STRLEN, 128 KiB) goes through the argv file,
// which ReadArgvFile reads back whole.
func TestStartPassesATooLongArgvThroughAFile(t *testing.T) {
	dir := t.TempDir()
	argv := []string{"prog", strings.Repeat("x", 200<<10), "", "last"}
	pid, cleanup, err := Start("/bin/true", []string{"true", "--flag"}, argv, dir, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadArgvFile(filepath.Join(dir, "argv"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, argv) {
		t.Errorf("argv file holds %d strings, want %q... (%d)", len(got), argv[0], len(argv))
	}
}
