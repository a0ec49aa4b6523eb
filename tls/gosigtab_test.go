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
