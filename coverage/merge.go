package coverage

import (
	"errors"
	"fmt"
	"strings"
)

// SiteKey is a call site's identity across runs: the object and offset
// instead of the raw address, which ASLR moves from one run to the next.
type SiteKey struct {
	Object string
	Offset Hex
	Nr     int
	Kind   string
}

// Key returns the site's identity across runs.
func (s *Site) Key() SiteKey {
	return SiteKey{Object: s.Object, Offset: s.Offset, Nr: s.Nr, Kind: s.Kind}
}

// TrapModeMixed is the trap mode of a merged report whose inputs were
// caught in different ways.
const TrapModeMixed = "mixed"

// ErrNoReports is returned by Merge when given nothing to merge.
var ErrNoReports = errors.New("no reports to merge")

// Merge sums reports into one, as if one run had made every input's
// syscalls: counts per syscall number, sites per SiteKey. It is
// associative, so merging merged reports gives the same counts, sites and
// runs as merging all inputs at once. The inputs are not modified.
//
// Where inputs disagree on a one-value field, the merged report says so
// rather than pick one: Command is empty unless every run had the same
// command, TrapMode is TrapModeMixed, and a site's Address is 0 unless
// every run saw the site at the same address. Exit is the first failing
// run's (non-zero code or signal), else the first run's. Every input's
// runs are kept in Runs.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, ErrNoReports
	}
	for i, in := range reports {
		if in == nil {
			return nil, fmt.Errorf("merge: report %d is nil", i)
		}
		if in.Schema != Schema {
			return nil, &SchemaError{Path: fmt.Sprintf("report %d", i), Schema: in.Schema}
		}
	}
	m := newReport()
	m.TrapMode = reports[0].TrapMode
	m.Host = reports[0].Host
	hostChosen := false
	var rows []SyscallRow
	sites := map[SiteKey]*Site{}
	for _, in := range reports {
		runs := in.Runs
		if len(runs) == 0 {
			runs = []Run{{Command: in.Command, Exit: in.Exit, Complete: in.Complete}}
		}
		for _, run := range runs {
			m.Runs = append(m.Runs, Run{Command: append([]string{}, run.Command...), Exit: run.Exit, Complete: run.Complete})
		}
		if in.TrapMode != m.TrapMode {
			m.TrapMode = TrapModeMixed
		}
		if !hostChosen && failed(in.Host) {
			m.Host, hostChosen = in.Host, true
		}
		m.Threads += in.Threads
		m.SitesDropped += in.SitesDropped
		for _, p := range in.Processes {
			cp := Process{Pid: p.Pid, Parent: p.Parent, Images: append([]string{}, p.Images...)}
			if p.Exit != nil {
				e := *p.Exit
				cp.Exit = &e
			}
			m.Processes = append(m.Processes, cp)
		}
		for _, e := range in.Execs {
			m.Execs = append(m.Execs, Exec{Path: e.Path, Argv: append([]string{}, e.Argv...), Interp: e.Interp})
		}
		for _, e := range in.Errors {
			m.addError(e)
		}
		// A single run's reason is not in its Runs entry; keep it where
		// a merged report keeps everything it cannot sum.
		if !in.Complete && len(runs) == 1 && in.IncompleteReason != "" {
			m.addError(strings.Join(runs[0].Command, " ") + ": " + in.IncompleteReason)
		}
		rows = append(rows, in.Syscalls...)
		for _, s := range in.Sites {
			k := s.Key()
			ms := sites[k]
			if ms == nil {
				c := s
				c.Count, c.TimeNs, c.Injected, c.Missing = 0, 0, 0, 0
				sites[k] = &c
				ms = &c
			} else if ms.Address != s.Address {
				ms.Address = 0
			}
			ms.Count += s.Count
			ms.Injected += s.Injected
			ms.Missing += s.Missing
			ms.TimeNs += s.TimeNs
			ms.mergeRewrite(s)
			fillSymbols(ms, &s)
		}
	}

	m.Syscalls = sumRows(rows, nil)
	m.Totals = totalsOf(m.Syscalls)
	for _, s := range sites {
		m.Sites = append(m.Sites, *s)
	}
	sortSites(m.Sites)
	// Times add up; the means are the merged calls'. The host figures are
	// the first timed input's (merged runs of one machine agree).
	m.setMeans()
	for _, in := range reports {
		if in.Timing != nil && !m.Totals.TimeNs.zero() {
			t := *in.Timing
			t.Costs = append([]PathCost(nil), t.Costs...)
			m.Timing = &t
			break
		}
	}
	m.PatchNext = PatchNextOf(m)

	// The one-value fields, from the runs.
	m.Complete = true
	incomplete := 0
	m.Exit = m.Runs[0].Exit
	exitChosen := false
	same := true
	for _, run := range m.Runs {
		if !run.Complete {
			m.Complete = false
			incomplete++
		}
		if !exitChosen && failed(run.Exit) {
			m.Exit, exitChosen = run.Exit, true
		}
		same = same && equalStrings(run.Command, m.Runs[0].Command)
	}
	if same {
		m.Command = append(m.Command, m.Runs[0].Command...)
	}
	if !m.Complete {
		m.IncompleteReason = fmt.Sprintf("%d of %d merged runs incomplete", incomplete, len(m.Runs))
	}
	return m, nil
}

// failed tells whether a process status is not a clean exit 0.
func failed(e ExitStatus) bool { return e.Code != 0 || e.Signal != "" }

// fillSymbols copies the symbolisation of from into the fields of to that
// are still empty: every run names the same object+offset the same way,
// unless one could not read the object.
func fillSymbols(to, from *Site) {
	if to.Symbol == "" {
		to.Symbol = from.Symbol
	}
	if to.Syscall == "" {
		to.Syscall = from.Syscall
	}
	if to.BuildID == "" {
		to.BuildID = from.BuildID
	}
	if to.Function == "" {
		to.Function = from.Function
	}
	if to.File == "" && from.File != "" {
		to.File, to.Line = from.File, from.Line
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
