package kernelsim

import (
	"bytes"
	"os"
	"testing"
	"unsafe"
)

// TestHostArgArea: the area read once from /proc/self/stat holds what
// /proc/self/cmdline reads (the test binary's title is its own).
func TestHostArgArea(t *testing.T) {
	start, end, ok := hostArgArea()
	if !ok {
		t.Fatal("no argument area")
	}
	want, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	area := unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(start))), end-start)
	if !bytes.Equal(area, want) {
		t.Fatalf("area %#x-%#x holds %q, cmdline %q", start, end, area, want)
	}
	if s2, e2, _ := hostArgArea(); s2 != start || e2 != end {
		t.Fatalf("second read %#x-%#x, first %#x-%#x", s2, e2, start, end)
	}
}
