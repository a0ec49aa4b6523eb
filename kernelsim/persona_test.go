package kernelsim

import "testing"

func TestPersonalityCall(t *testing.T) {
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

func TestHostChildPersonalityHoldsOnTheCallingThread(t *testing.T) {
	var got uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A fresh goroutine on whatever thread: forkExecHost must leave
		// the thread that starts the process with the host personality.
		forkExecHost(func() (int, error) { got = HostPersonality(); return 0, nil })
	}()
	<-done
	if got&HostChildPersonality != HostChildPersonality {
		t.Fatalf("personality while starting a host process: %#x", got)
	}
}
