package inprocess

import "testing"

func TestHostChildPersonalityHoldsOnTheCallingThread(t *testing.T) {
	var got uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A fresh goroutine on whatever thread: forkExecHost must leave
		// the thread that starts the process with the host personality.
		forkExecHost(func() (int, error) { got = hostPersonality(); return 0, nil })
	}()
	<-done
	if got&ForkedHostPersonality != ForkedHostPersonality {
		t.Fatalf("personality while starting a host process: %#x", got)
	}
}
