package tls

import "testing"

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
