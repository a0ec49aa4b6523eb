package tls

import "testing"

// Go's runtime unblocks signal 34 on each thread it starts unless
// gosigtab.c found its sigtable as expected: a Go upgrade that changes
// the table must fail here, not lose the order of a guest's SIGRTMIN.
func TestGoSignal34Blockable(t *testing.T) {
	if !GoSignal34Blockable() {
		t.Fatal("runtime.sigtable not found or not as expected: Go's threads unblock signal 34")
	}
}

// The supervisor and the host processes make SIGHUP, SIGINT, SIGQUIT and
// SIGTERM blockable the same way: a Go upgrade that changes their entries
// must fail here, not bring back signals delivered twice or lost at start.
func TestGoTerminalSignalsBlockable(t *testing.T) {
	if !goTerminalSignalsBlockable() {
		t.Fatal("runtime.sigtable's SIGHUP, SIGINT, SIGQUIT or SIGTERM entry is not as expected")
	}
}
