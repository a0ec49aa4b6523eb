package kernelsim

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// twoThreads is a fake process with two tasks, its guest owning one page
// at guestMem, and the SYNC_CORE state as a new host process has it
// before its first rewrite (restored after the test).
func twoThreads(t *testing.T, ret func(nr int, a Args) int64) (*Process, *fakeMachine) {
	t.Helper()
	task, f := fakeTask(t, [][2]uint64{{guestMem, guestMem + pageSize}}, [2]uint64{})
	f.ret = ret
	task.P.NewTask(new(cblock.ControlBlock))
	old := syncCoreState.Load()
	syncCoreState.Store(0)
	t.Cleanup(func() { syncCoreState.Store(old) })
	return task.P, f
}

// A host process registered for SYNC_CORE at start (tls/synccore.c) may
// rewrite a site with two threads at its first trap, and never registers
// again: registering once it has threads waits for an RCU grace period,
// which the process's exit waited for (about 15 ms of every short run).
func TestSyncCoreRegisteredAtStartRewritesAtOnce(t *testing.T) {
	p, f := twoThreads(t, nil)
	SyncCoreRegistered()
	alone, out, ok := p.rewriteGate(guestMem)
	if alone || !ok || out != "" {
		t.Fatalf("two threads, registered at start: rewriteGate = %v, %q, %v; want false, \"\", true", alone, out, ok)
	}
	for _, c := range f.calls {
		if c.nr == unix.SYS_MEMBARRIER {
			t.Errorf("registered at start, and registered again: %v", c)
		}
	}
}

// Without the start's registration (a kernel that refused it, or a
// process the constructor did not take for a host process), the first
// rewrite registers in the background, and the sites of a multi-threaded
// process wait for it: rewritten once it is done, never if the kernel
// refuses.
func TestSyncCoreRegisteredInTheBackground(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		state int32
		out   string
	}{{0, 2, ""}, {unix.EINVAL, 3, whyThreads}} {
		called := make(chan struct{}, 1)
		p, _ := twoThreads(t, func(nr int, a Args) int64 {
			if nr == unix.SYS_MEMBARRIER && a[0] == membarrierRegisterSyncCore {
				called <- struct{}{}
				return -int64(tc.errno)
			}
			return 0
		})
		if _, out, ok := p.rewriteGate(guestMem); ok || out != "" {
			t.Fatalf("errno %v: rewriteGate before the registration = %q, %v; want \"\", false", tc.errno, out, ok)
		}
		<-called
		for syncCoreState.Load() == 1 {
			runtime.Gosched()
		}
		if got := syncCoreState.Load(); got != tc.state {
			t.Errorf("errno %v: state %d, want %d", tc.errno, got, tc.state)
		}
		_, out, ok := p.rewriteGate(guestMem)
		if want := tc.out == ""; ok != want || out != tc.out {
			t.Errorf("errno %v: rewriteGate after = %q, %v; want %q, %v", tc.errno, out, ok, tc.out, want)
		}
	}
}
