// Package diffrun is the differential oracle behind `vsysbed diff-run`: it
// runs one program natively and on vsysbed's platforms with the same
// input, and finds the first difference in what each run did — its
// stdout, its stderr, how it ended, and the multiset of syscalls it made
// (each syscall's number of calls and of error returns, from the reports).
//
// Natively nothing counts syscalls, so the native run is the reference for
// output and status and the first platform's report is the reference for
// the syscall multiset. A difference is a bug on one side: vsysbed's
// emulation, or the program depending on something the platforms change
// on purpose (the vDSO, being traced).
package diffrun

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"
)

// Platform names as `vsysbed run --platform` takes them, plus Native: the
// program run directly, with no vsysbed at all.
const (
	Native    = "native"
	InProcess = "inprocess"
	Ptrace    = "ptrace"
	// InProcessLazy is the in-process platform with --rewrite=lazy
	// (InProcess runs with --rewrite=off): compared, they check that
	// rewriting call sites changes nothing the program does.
	InProcessLazy = "inprocess-lazy"
)

// Outcome is what one run of the program did.
type Outcome struct {
	Platform string
	Stdout   []byte
	Stderr   []byte
	Exit     coverage.ExitStatus
	// Report is the run's coverage report; nil for the native run.
	Report *coverage.Report
}

// Divergence is the first difference between two runs.
type Divergence struct {
	What   string // "stdout", "stderr", "exit" or "syscalls"
	A, B   string // the two platforms, the reference first
	Detail string // where and how they differ, one or a few lines
}

func (d *Divergence) String() string {
	return fmt.Sprintf("%s differs between %s and %s: %s", d.What, d.A, d.B, d.Detail)
}

// Compare returns the first divergence among outs, or nil when they agree.
// Output and status are compared against outs[0]; the syscall multisets of
// the runs that have a report are compared against the first of them.
// Checks go stdout, stderr, exit, then syscalls, platform by platform, so
// the divergence named is the one a reader should look at first.
func Compare(outs []Outcome) *Divergence {
	d, _ := CompareWith(outs, Rules{})
	return d
}

// Aspects Compare looks at, by the names Rules.Ignore takes.
var Aspects = []string{"stdout", "stderr", "exit", "syscalls"}

// DefaultTolerate are the syscalls whose number of calls depends on
// timing or chance, not on what the program does: a futex wait that finds
// the lock already free is never made; sched_yield spins as long as it
// waits; getrandom is called again when rejection sampling draws a value
// out of range (glibc's mkstemp/mkdtemp do, about one run in twenty);
// rt_sigreturn ends each handler run, and a shell's SIGCHLD handler runs
// once for children that end close together (a standard signal pending
// twice is one), natively too.
var DefaultTolerate = []string{"futex", "sched_yield", "getrandom", "rt_sigreturn"}

// Rules say what a comparison leaves out, and why.
type Rules struct {
	// Ignore lists whole aspects ("stderr" for a program printing
	// timings).
	Ignore map[string]bool
	// Tolerate lists syscalls, by name, whose counts may differ.
	Tolerate map[string]bool
}

// CompareWith is Compare under rules. Beside the divergence it returns
// the differences the rules explained, one line each, for the record.
func CompareWith(outs []Outcome, rules Rules) (*Divergence, []string) {
	if len(outs) < 2 {
		return nil, nil
	}
	ignore := rules.Ignore
	ref := outs[0]
	for _, o := range outs[1:] {
		if d := diffBytes("stdout", ref.Platform, o.Platform, ref.Stdout, o.Stdout); d != nil && !ignore["stdout"] {
			return d, nil
		}
		if d := diffBytes("stderr", ref.Platform, o.Platform, ref.Stderr, o.Stderr); d != nil && !ignore["stderr"] {
			return d, nil
		}
		if ignore["exit"] {
			continue
		}
		if ref.Exit.Code != o.Exit.Code || ref.Exit.Signal != o.Exit.Signal {
			return &Divergence{What: "exit", A: ref.Platform, B: o.Platform,
				Detail: fmt.Sprintf("%s: %s, %s: %s", ref.Platform, ref.Exit, o.Platform, o.Exit)}, nil
		}
	}
	if ignore["syscalls"] {
		return nil, nil
	}
	var withReport []Outcome
	for _, o := range outs {
		if o.Report != nil {
			withReport = append(withReport, o)
		}
	}
	var explained []string
	for i := 1; i < len(withReport); i++ {
		d, ex := diffSyscalls(withReport[0], withReport[i], rules)
		explained = append(explained, ex...)
		if d != nil {
			return d, explained
		}
	}
	return nil, explained
}

// maxShown bounds a quoted line in a divergence's detail.
const maxShown = 160

func diffBytes(what, a, b string, x, y []byte) *Divergence {
	if bytes.Equal(x, y) {
		return nil
	}
	n := 0
	for n < len(x) && n < len(y) && x[n] == y[n] {
		n++
	}
	line := bytes.Count(x[:n], []byte{'\n'}) + 1
	start := bytes.LastIndexByte(x[:n], '\n') + 1
	detail := fmt.Sprintf("first difference at byte %d (line %d)\n  %-10s %s\n  %-10s %s",
		n, line, a+":", quoteLine(x[start:]), b+":", quoteLine(y[start:]))
	if len(x) != len(y) {
		detail += fmt.Sprintf("\n  (%d bytes vs %d)", len(x), len(y))
	}
	return &Divergence{What: what, A: a, B: b, Detail: detail}
}

// quoteLine quotes the line that starts b, or says the output ended.
func quoteLine(b []byte) string {
	if len(b) == 0 {
		return "(end of output)"
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	s := string(b)
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Call is one syscall's entry in a run's multiset.
type Call struct {
	Name   string
	Calls  uint64
	Errors uint64
}

// Multiset is a run's syscalls by number.
func Multiset(r *coverage.Report) map[int]Call {
	m := map[int]Call{}
	for _, row := range r.Syscalls {
		if row.Total == 0 {
			continue
		}
		m[row.Nr] = Call{Name: row.Name, Calls: row.Total, Errors: row.Errors}
	}
	return m
}

func diffSyscalls(a, b Outcome, rules Rules) (*Divergence, []string) {
	ma, mb := Multiset(a.Report), Multiset(b.Report)
	nrs := map[int]bool{}
	for nr := range ma {
		nrs[nr] = true
	}
	for nr := range mb {
		nrs[nr] = true
	}
	sorted := make([]int, 0, len(nrs))
	for nr := range nrs {
		sorted = append(sorted, nr)
	}
	sort.Ints(sorted)
	var diffs, explained []string
	for _, nr := range sorted {
		x, y := ma[nr], mb[nr]
		if x.Calls == y.Calls && x.Errors == y.Errors {
			continue
		}
		name := x.Name
		if name == "" {
			name = y.Name
		}
		line := fmt.Sprintf("%s (%d): %s %s, %s %s", name, nr, a.Platform, callString(x), b.Platform, callString(y))
		if rules.Tolerate[name] {
			explained = append(explained, line+" — tolerated: its count depends on timing")
			continue
		}
		diffs = append(diffs, line)
	}
	if len(diffs) == 0 {
		return nil, explained
	}
	detail := diffs[0]
	if len(diffs) > 1 {
		const more = 4
		shown := diffs[1:]
		if len(shown) > more {
			shown = shown[:more]
		}
		detail += "\n  also " + strings.Join(shown, "\n  also ")
		if len(diffs)-1 > more {
			detail += fmt.Sprintf("\n  and %d more syscall(s)", len(diffs)-1-more)
		}
	}
	return &Divergence{What: "syscalls", A: a.Platform, B: b.Platform, Detail: detail}, explained
}

func callString(c Call) string {
	if c.Calls == 0 {
		return "no calls"
	}
	return fmt.Sprintf("%d call(s), %d error(s)", c.Calls, c.Errors)
}
