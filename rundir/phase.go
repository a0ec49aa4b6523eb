package rundir

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
)

// Start-up phases: the points of one run that phase events (coverage.EvPhase)
// record, in the order they happen. The supervisor writes PhaseExec,
// PhaseMain, PhaseSpawn, PhaseReaped, PhaseBuilt and PhaseReport; the first host
// process the others. The guest's end is its exit event's time. Each
// interval of the timing line is named after the point that ends it.
const (
	PhaseExec   = "exec"      // the supervisor process started (/proc/self/stat: 10 ms ticks)
	PhaseMain   = "main"      // the supervisor's main entered
	PhaseSpawn  = "spawn"     // the supervisor starts the host process (re-exec)
	PhaseHost   = "host-main" // the host's main entered (fork + exec + Go runtime init)
	PhaseProbe  = "probe"     // the code-range probe (or its cache) starts
	PhaseProbed = "probed"    // ... and ends; note "cached" or "probed"
	PhaseVDSO   = "vdso"      // the trap filter is armed: the vDSO image is built
	PhaseLoad   = "load"      // the loader maps the guest program
	PhaseGuest  = "guest"     // the guest's first instruction is next
	PhaseReaped = "reaped"    // the supervisor collected the host process
	PhaseBuilt  = "built"     // the report is built (run directory read, sites symbolised)
	PhaseReport = "report"    // ... and written
)

// Now is CLOCK_MONOTONIC in nanoseconds, the clock of phase events.
func Now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// ProcessStart is when this process started, on Now's clock: the start
// time of /proc/self/stat, in clock ticks (USER_HZ, 100 a second) since
// boot, moved from CLOCK_BOOTTIME to CLOCK_MONOTONIC. 0 when unknown.
func ProcessStart() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// anything; starttime is field 22, the 20th after the name.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return 0
	}
	var boot unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	return Now() - (boot.Nano() - ticks*(1e9/100))
}

// Marks are phase points recorded before the event log is open.
type Marks struct {
	mu  sync.Mutex
	evs []coverage.Event
}

// Mark records phase name at time t with note (may be "").
func (m *Marks) Mark(name string, t int64, note string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, coverage.Event{Ev: coverage.EvPhase, Phase: name, T: t, Note: note})
}

// Flush writes the marks recorded so far to l and forgets them.
func (m *Marks) Flush(l *EventLog) {
	m.mu.Lock()
	evs := m.evs
	m.evs = nil
	m.mu.Unlock()
	for _, e := range evs {
		l.Phase(e.Phase, e.T, e.Note)
	}
}

// Events returns the marks recorded so far, as event-log events.
func (m *Marks) Events() []coverage.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]coverage.Event(nil), m.evs...)
}

// HostMarks are the first host process's phase points until its event
// log is open.
var HostMarks Marks

// timingSteps are the points of the timing line in order, each with the
// name of the interval it ends.
var timingSteps = []struct{ point, label string }{
	{PhaseExec, ""},
	{PhaseMain, "go-init"},
	{PhaseSpawn, "supervisor"},
	{PhaseHost, "host-start"},
	{PhaseProbe, "setup"},
	{PhaseProbed, "probe"},
	{PhaseVDSO, "filter"},
	{PhaseLoad, "vdso"},
	{PhaseGuest, "load"},
	{coverage.EvExit, "guest"},
	{PhaseReaped, "exit"},
	{PhaseBuilt, "report-build"},
	{PhaseReport, "report-write"},
}

// Timing is the one-line per-phase breakdown of a run from its events:
// the phase events of the supervisor (pid sup) and of the first host
// process (pid host), and that host's exit event. An interval whose end
// point is missing (no probe with --trap sud) joins the next one.
func Timing(events []coverage.Event, sup, host int) string {
	at := map[string]int64{}
	notes := map[string]string{}
	for _, e := range events {
		switch {
		case e.Ev == coverage.EvPhase && (e.Pid == sup || e.Pid == host) && e.T != 0:
			at[e.Phase], notes[e.Phase] = e.T, e.Note
		case e.Ev == coverage.EvExit && e.Pid == host && e.T != 0:
			at[coverage.EvExit] = e.T
		}
	}
	var parts, labels []string
	var prev, first, last int64
	for _, s := range timingSteps {
		t, ok := at[s.point]
		if s.label != "" {
			labels = append(labels, s.label)
		}
		if !ok {
			continue
		}
		if prev != 0 {
			p := strings.Join(labels, "+") + " " + ms(t-prev)
			if n := notes[s.point]; n != "" {
				p += " (" + n + ")"
			}
			parts = append(parts, p)
		} else {
			first = t
		}
		prev, last, labels = t, t, nil
	}
	if len(parts) > 1 {
		parts = append(parts, "total "+ms(last-first))
	}
	return "vsysbed: timing: " + strings.Join(parts, ", ")
}

func ms(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e6, 'f', 1, 64) + "ms"
}
