package tracer

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/kernelsim"
)

func TestParseMaps(t *testing.T) {
	in := "55d0c0000000-55d0c0001000 r--p 00000000 08:01 42 /usr/bin/prog\n" +
		"55d0c0001000-55d0c0005000 r-xp 00001000 08:01 42 /usr/bin/prog\n" +
		"7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]\n" +
		"7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n" +
		"7f0000100000-7f0000101000 r-xp 00002000 08:01 43 /tmp/a b (deleted)\n"
	maps, err := parseMaps(bufio.NewScanner(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 5 {
		t.Fatalf("%d mappings, want 5", len(maps))
	}
	if m := maps[1]; !m.exec || m.start != 0x55d0c0001000 || m.offset != 0x1000 || m.path != "/usr/bin/prog" {
		t.Errorf("text mapping parsed as %+v", m)
	}
	if maps[0].exec || maps[2].path != "[vdso]" || maps[3].path != "" || maps[4].path != "/tmp/a b (deleted)" {
		t.Errorf("mappings parsed as %+v", maps)
	}
	evs := mapEvents(maps)
	if len(evs) != 3 || evs[0].Path != "/usr/bin/prog" || evs[0].Offset != 0x1000 || evs[1].Path != "[vdso]" {
		t.Errorf("map events %+v, want the three named executable mappings", evs)
	}
	for _, bad := range []string{"zzzz-1000 r-xp 0 0 0\n", "1000-2000 r-xp\n", "2000-1000 r-xp 0 08:01 1 /x\n"} {
		if _, err := parseMaps(bufio.NewScanner(strings.NewReader(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

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
	tr := &tracker{a: f, tracked: map[int]bool{}}
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
