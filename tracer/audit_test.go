package tracer

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/kernelsim"
)

func TestPassThroughFollowsTheTableAndRoutes(t *testing.T) {
	write, _ := kernelsim.Number("write")
	brk, _ := kernelsim.Number("brk")
	if p := passThrough(nil); !p(write) || p(brk) {
		t.Errorf("default: write %v (want fast), brk %v (want not: kernelsim owns it)", p(write), p(brk))
	}
	if p := passThrough([]string{"write=kernel", "brk=fast"}); p(write) || !p(brk) {
		t.Errorf("overridden: write %v, brk %v", p(write), p(brk))
	}
}

// fakeAudit records what the tracker asks of the audit.
type fakeAudit struct {
	mu      sync.Mutex
	tracked map[uint32]bool
}

func (f *fakeAudit) Track(tgid uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracked[tgid] = true
	return nil
}
func (f *fakeAudit) Untrack(tgid uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tracked, tgid)
	return nil
}
func (f *fakeAudit) Counts() (coverage.AuditInput, error) {
	return coverage.AuditInput{}, errors.New("fake")
}
func (f *fakeAudit) Close() error { return nil }

func TestTrackerTracksDescendantsItWantsAndUntracksTheDead(t *testing.T) {
	wanted := exec.Command("sleep", "30")
	other := exec.Command("sleep", "31")
	for _, c := range []*exec.Cmd{wanted, other} {
		if err := c.Start(); err != nil {
			t.Skip(err)
		}
		defer c.Process.Kill()
	}
	f := &fakeAudit{tracked: map[uint32]bool{}}
	tr := &tracker{a: f, tracked: map[int]uint64{}}
	tr.want = func(pid int) bool { return pid == wanted.Process.Pid }
	tr.self = os.Getpid()
	tr.scan()
	if !f.tracked[uint32(wanted.Process.Pid)] || f.tracked[uint32(other.Process.Pid)] || tr.seen() != 1 {
		t.Fatalf("tracked %v, want only %d", f.tracked, wanted.Process.Pid)
	}
	wanted.Process.Kill()
	wanted.Wait() // reaped: gone from /proc
	tr.scan()
	if len(f.tracked) != 0 || tr.seen() != 1 {
		t.Errorf("after the exit: tracked %v, seen %d", f.tracked, tr.seen())
	}
}

// A fork gate that tracks a process while a scan reads /proc: the scan's
// snapshot has not got it, and must not take it for gone.
func TestTrackerKeepsAProcessGatedDuringItsScan(t *testing.T) {
	f := &fakeAudit{tracked: map[uint32]bool{}}
	tr := &tracker{a: f, tracked: map[int]uint64{}, self: os.Getpid(), want: func(int) bool { return false }}
	const gated = 1 << 30 // in no snapshot
	tr.scanWith(func() map[int]int {
		if !tr.add(gated) {
			t.Fatal("add refused")
		}
		return map[int]int{}
	})
	if !f.tracked[gated] {
		t.Fatalf("the scan untracked the process gated while it read /proc: tracked %v", f.tracked)
	}
	tr.scanWith(func() map[int]int { return map[int]int{} })
	if f.tracked[gated] {
		t.Errorf("gone at the next scan, still tracked: %v", f.tracked)
	}
}
