package probecache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := MachineKey()
	if _, ok := LoadValue(dir, "tsc", key); ok {
		t.Fatal("empty dir had a value")
	}
	want := []string{"hz 2596093432", "source measured"}
	if err := StoreValue(dir, "tsc", key, want); err != nil {
		t.Fatal(err)
	}
	got, ok := LoadValue(dir, "tsc", key)
	if !ok || !slices.Equal(got, want) {
		t.Fatalf("LoadValue = %q, %v; want %q", got, ok, want)
	}
	if _, ok := LoadValue(dir, "tsc", key+"other 1\n"); ok {
		t.Error("another key read the value")
	}
	if _, ok := LoadValue(dir, "calibrate", key); ok {
		t.Error("another name read the value")
	}
	// A flipped byte fails the checksum.
	p := valuePath(dir, "tsc", key)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, ok := LoadValue(dir, "tsc", key); ok {
		t.Error("a corrupt file read")
	}
	if err := StoreValue(dir, "tsc", key, []string{"sum 1"}); err == nil {
		t.Error("a line starting with sum stored")
	}
	if _, ok := LoadValue("", "tsc", key); ok {
		t.Error(`dir "" had a value`)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".tsc-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
