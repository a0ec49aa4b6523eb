package inprocess

import (
	"testing"

	"github.com/vsysbed/vsysbed/kernelsim"
)

func TestHostChildPersonalityHoldsOnTheCallingThread(t *testing.T) {
	var got uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A fresh goroutine on whatever thread: forkExecHost must leave
		// the thread that starts the process with the host personality.
		forkExecHost(func() (int, error) { got = kernelsim.HostPersonality(); return 0, nil })
	}()
	<-done
	if got&kernelsim.HostChildPersonality != kernelsim.HostChildPersonality {
		t.Fatalf("personality while starting a host process: %#x", got)
	}
}
