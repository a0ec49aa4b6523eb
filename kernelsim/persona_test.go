package kernelsim

import "testing"

func TestPersonalityCall(t *testing.T) {
	const addrNoRandomize = 0x0040000
	cur := uint64(0)
	// Asking only tells.
	if got := personalityCall(&cur, 0xffffffff); got != 0 || cur != 0 {
		t.Fatalf("query: got %#x, value %#x", got, cur)
	}
	// Setting returns the old value.
	if got := personalityCall(&cur, addrNoRandomize); got != 0 || cur != addrNoRandomize {
		t.Fatalf("set: got %#x, value %#x", got, cur)
	}
	// The argument is an unsigned int: the upper half is ignored, and
	// 0xffffffff with it is still a query.
	if got := personalityCall(&cur, 0x1_ffff_ffff); got != addrNoRandomize || cur != addrNoRandomize {
		t.Fatalf("query with high bits: got %#x, value %#x", got, cur)
	}
	if got := personalityCall(&cur, 0x1_0000_0008); got != addrNoRandomize || cur != 8 {
		t.Fatalf("set with high bits: got %#x, value %#x", got, cur)
	}
}
