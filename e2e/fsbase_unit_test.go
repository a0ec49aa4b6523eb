package e2e

import (
	"encoding/binary"
	"os"
	"testing"
)

func auxvOf(pairs ...uint64) []byte {
	b := make([]byte, 8*len(pairs))
	for i, v := range pairs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// The wrfsbase spec skips on what hwcap2 says, so a wrong parse would
// either skip everywhere or run where the instruction faults.
func TestHWCap2(t *testing.T) {
	cases := []struct {
		name    string
		auxv    []byte
		want    uint64
		wantErr bool
	}{
		{"present", auxvOf(16, 0xbfebfbff, atHWCap2, 0x2, 6, 4096, atNull, 0), 0x2, false},
		{"bit clear", auxvOf(atHWCap2, 0x1, atNull, 0), 0x1, false},
		{"absent", auxvOf(16, 0xff, atNull, 0), 0, false},
		{"after AT_NULL does not count", auxvOf(atNull, 0, atHWCap2, 2), 0, false},
		// a value equal to AT_HWCAP2's key must not be read as a key
		{"value 26", auxvOf(16, atHWCap2, atNull, 0), 0, false},
		{"no AT_NULL", auxvOf(16, 0xff), 0, true},
		{"torn entry", auxvOf(16, 0xff, atNull)[:20], 0, true},
	}
	for _, c := range cases {
		got, err := hwcap2(c.auxv)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("%s: hwcap2 = %#x, %v; want %#x, error %v", c.name, got, err, c.want, c.wantErr)
		}
	}

	// The real one must parse, whatever its bits.
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		t.Skipf("no /proc/self/auxv: %v", err)
	}
	if _, err := hwcap2(b); err != nil {
		t.Errorf("/proc/self/auxv: %v", err)
	}
}
