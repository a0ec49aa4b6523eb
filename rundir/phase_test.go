package rundir

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
)

func TestPhaseEventsReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	l, err := OpenEventLog(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	var m Marks
	m.Mark(PhaseProbe, 100, "")
	m.Mark(PhaseProbed, 250, "cached")
	m.Flush(l)
	if len(m.Events()) != 0 {
		t.Error("Flush kept the marks")
	}
	l.Close()
	events, err := ReadEvents(path)
	if err != nil || len(events) != 2 {
		t.Fatalf("ReadEvents = %+v, %v", events, err)
	}
	if e := events[1]; e.Ev != coverage.EvPhase || e.Phase != PhaseProbed || e.T != 250 || e.Note != "cached" {
		t.Errorf("phase event = %+v", e)
	}
}

func TestTimingLine(t *testing.T) {
	const sup, host, fork = 10, 20, 30
	ph := func(pid int, name string, ms int64, note string) coverage.Event {
		return coverage.Event{Ev: coverage.EvPhase, Pid: pid, Phase: name, T: ms * 1e6, Note: note}
	}
	events := []coverage.Event{
		ph(sup, PhaseExec, 1000, ""), ph(sup, PhaseMain, 1004, ""), ph(sup, PhaseSpawn, 1006, ""),
		ph(host, PhaseHost, 1010, ""), ph(host, PhaseProbe, 1012, ""), ph(host, PhaseProbed, 1013, "cached"),
		ph(host, PhaseVDSO, 1014, ""), ph(host, PhaseLoad, 1015, ""), ph(host, PhaseGuest, 1016, ""),
		ph(fork, PhaseGuest, 5000, ""), // another process's points are not this run's start-up
		{Ev: coverage.EvExit, Pid: host, T: 1020e6},
		ph(sup, PhaseReaped, 1021, ""), ph(sup, PhaseBuilt, 1029, ""), ph(sup, PhaseReport, 1031, ""),
	}
	want := "vsysbed: timing: go-init 4.0ms, supervisor 2.0ms, host-start 4.0ms, setup 2.0ms, probe 1.0ms (cached), " +
		"filter 1.0ms, vdso 1.0ms, load 1.0ms, guest 4.0ms, exit 1.0ms, report-build 8.0ms, report-write 2.0ms, total 31.0ms"
	if got := Timing(events, sup, host); got != want {
		t.Errorf("Timing =\n %s\nwant\n %s", got, want)
	}
	// No probe (--trap sud): its interval joins the next one.
	var sud []coverage.Event
	for _, e := range events {
		if e.Phase != PhaseProbe && e.Phase != PhaseProbed {
			sud = append(sud, e)
		}
	}
	if got := Timing(sud, sup, host); !strings.Contains(got, "setup+probe+filter 4.0ms, vdso") {
		t.Errorf("Timing without a probe = %s", got)
	}
}

func TestProcessStartIsBeforeNow(t *testing.T) {
	start, now := ProcessStart(), Now()
	if start <= 0 || start > now {
		t.Errorf("ProcessStart = %d, Now = %d", start, now)
	}
}
