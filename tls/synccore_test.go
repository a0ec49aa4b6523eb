package tls

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	membarrierQuery    = 0
	membarrierSyncCore = 1 << 5 // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
)

// The child of TestHostProcessRegistersSyncCore, started as this test
// binary with a host process's subcommand as its argv[1]: whether a
// SYNC_CORE membarrier works in it before anything in Go registered
// (EPERM: not registered), and what the constructor says.
func init() {
	if os.Getenv("VSYSBED_TEST_SYNCCORE") != "1" {
		return
	}
	_, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, membarrierSyncCore, 0, 0)
	tried, err := SyncCoreRegistration()
	fmt.Printf("membarrier %d, tried %v, %v\n", e, tried, err)
	os.Exit(0)
}

// A host process is registered for the SYNC_CORE membarrier by the time
// Go runs (synccore.c's constructor: registering later, with Go's threads
// up, waits for an RCU grace period), and no other vsysbed process is.
func TestHostProcessRegistersSyncCore(t *testing.T) {
	if r, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0); e != 0 || r&membarrierSyncCore == 0 {
		t.Skipf("no SYNC_CORE membarrier in this kernel (query %#x, %v)", r, e)
	}
	for arg, want := range map[string]string{
		"__host": "membarrier 0, tried true, <nil>",
		"__fork": "membarrier 0, tried true, <nil>",
		"run":    fmt.Sprintf("membarrier %d, tried false, <nil>", unix.EPERM),
	} {
		cmd := exec.Command(os.Args[0], arg)
		cmd.Env = append(os.Environ(), "VSYSBED_TEST_SYNCCORE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", arg, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("started as %s: %q, want %q", arg, got, want)
		}
	}
}
