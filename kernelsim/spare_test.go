package kernelsim

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// A wait for any child: ECHILD while spares are the only children, the
// kernel's answer once a child of the guest's is there, and a spare that
// a wait collected is skipped (the wait goes on) and forgotten.
func TestWaitForAnySeesNoSpare(t *testing.T) {
	const spare = 1 << 30 // no process: this process's only "child" is a spare
	StartSpare()(spare)
	defer DropSpare(spare)
	calls := 0
	call := func() int64 { calls++; return 0 }
	if r := waitForAny(call, func(r int64) int { return int(r) }); r != -int64(unix.ECHILD) || calls != 0 {
		t.Fatalf("only a spare: %d after %d calls, want ECHILD without a call", r, calls)
	}

	child := exec.Command("/bin/sleep", "5")
	if err := child.Start(); err != nil {
		t.Skip("no child to wait for:", err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	results := []int64{spare, int64(child.Process.Pid)}
	call = func() int64 { r := results[calls]; calls++; return r }
	if r := waitForAny(call, func(r int64) int { return int(r) }); r != int64(child.Process.Pid) || calls != 2 {
		t.Fatalf("a child and a spare that ended: %d after %d calls, want the child's pid after 2", r, calls)
	}
	if isSpare(spare) {
		t.Error("the collected spare is still a spare")
	}
}
