package inprocess

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// spareState is the same for the same thread and mask, and tells a
// change a spare could not take on at hand-off (here the thread's nice
// value, which an unprivileged thread may raise) or another mask.
func TestSpareStateTellsChanges(t *testing.T) {
	runtime.LockOSThread() // the thread ends with the test: its nice goes with it
	before := spareState(0)
	if again := spareState(0); again != before {
		t.Fatalf("spareState differs between two calls:\n%s\n---\n%s", before, again)
	}
	if spareState(1<<9) == before {
		t.Error("another mask gives the same state")
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Skip(err)
	}
	// getpriority's raw value is 20-nice.
	if nice := 20 - prio; nice >= 19 {
		t.Skip("nice is 19 already")
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 20-prio+1); err != nil {
		t.Skip(err)
	}
	if spareState(0) == before {
		t.Error("a new nice value gives the same state")
	}
}

// A spare started in the fork call that compared the state takes that
// state as its own once, on the same thread with the same mask only; a
// later fork's spare reads it again.
func TestComparedStateOnce(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	real := spareState(0)
	set := func(tid int, mask uint64) {
		pool.mu.Lock()
		pool.compared.tid, pool.compared.mask, pool.compared.state = tid, mask, "compared"
		pool.mu.Unlock()
	}
	set(unix.Gettid(), 0)
	if got := comparedState(0); got != "compared" {
		t.Errorf("same thread, same mask: %q, want the compared state", got)
	}
	if got := comparedState(0); got != real {
		t.Errorf("second use: %q, want the state read again", got)
	}
	set(unix.Gettid(), 1<<9)
	if got := comparedState(0); got != real {
		t.Errorf("another mask: %q, want the state read again", got)
	}
	set(unix.Gettid()+1, 0)
	if got := comparedState(0); got != real {
		t.Errorf("another thread: %q, want the state read again", got)
	}
	set(unix.Gettid(), 0)
	forgetCompared()
	if got := comparedState(0); got != real {
		t.Errorf("after forgetCompared: %q, want the state read again", got)
	}
}
