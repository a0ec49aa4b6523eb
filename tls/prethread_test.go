package tls

import (
	"bufio"
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

// The child of the tests below, started as this test binary with a host
// process's subcommand (or another) as its argv[1], reports what the
// constructors did before Go's runtime started a thread: whether a
// SYNC_CORE membarrier works before anything in Go registered (EPERM: not
// registered), what synccore.c says, and the fd table's size.
func init() {
	if os.Getenv("VSYSBED_TEST_PRETHREAD") != "1" {
		return
	}
	_, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, membarrierSyncCore, 0, 0)
	tried, err := SyncCoreRegistration()
	fmt.Printf("membarrier %d, tried %v, %v\n", e, tried, err)
	fmt.Printf("fdsize %s\n", statusField("FDSize"))
	os.Exit(0)
}

// statusField is a field of /proc/self/status, "" when missing.
func statusField(name string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// prethread runs the child as arg and returns its lines.
func prethread(t *testing.T, arg string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], arg)
	cmd.Env = append(os.Environ(), "VSYSBED_TEST_PRETHREAD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", arg, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
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
		if got := prethread(t, arg)[0]; got != want {
			t.Errorf("started as %s: %q, want %q", arg, got, want)
		}
	}
}

// A host process's fd table is grown to hold every fd it makes itself
// before Go runs (fdtable.c): grown later, with Go's threads up, each
// growth waited for an RCU grace period (a fork child's placeholders up
// to its fd base grew it four times). Other vsysbed processes keep the
// kernel's size.
func TestHostProcessFDTableGrownBeforeThreads(t *testing.T) {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Max < 4096 {
		t.Skipf("RLIMIT_NOFILE %d: no table of 4096", lim.Max)
	}
	for arg, want := range map[string]bool{"__host": true, "__fork": true, "run": false} {
		var size int
		line := prethread(t, arg)[1]
		if _, err := fmt.Sscanf(line, "fdsize %d", &size); err != nil {
			t.Fatalf("started as %s: %q: %v", arg, line, err)
		}
		if got := size >= 4096; got != want {
			t.Errorf("started as %s: FDSize %d; 4096 or more: %v, want %v", arg, size, got, want)
		}
	}
}
