// Package bedmatch holds Gomega matchers on vsysbed coverage reports
// (*coverage.Report, which package bed calls bed.Report), so an end-to-end
// suite can gate on how a program's syscalls entered vsysbed:
//
//	rep, _ := cmd.Report()
//	Expect(rep).To(bedmatch.HaveBypassRatioAtLeast(0.95))
//	Expect(rep).To(bedmatch.HaveNoNewTrapsComparedTo(baseline))
//
// A failure message names the offending call sites — object, function,
// offset, syscall and count — most frequent first, at most 20 of them.
package bedmatch

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/vsysbed/vsysbed/coverage"
)

// maxListed is how many sites a message lists before "… N more".
const maxListed = 20

// asReport accepts a *coverage.Report or a coverage.Report.
func asReport(matcher string, actual any) (*coverage.Report, error) {
	switch r := actual.(type) {
	case *coverage.Report:
		if r == nil {
			return nil, fmt.Errorf("bedmatch: %s: the report is nil", matcher)
		}
		return r, nil
	case coverage.Report:
		return &r, nil
	}
	return nil, fmt.Errorf("bedmatch: %s expects a *coverage.Report (bed.Report), got %T", matcher, actual)
}

// describe names the run a report covers, for the first line of a message.
func describe(r *coverage.Report) string {
	s := "the report"
	if len(r.Command) > 0 {
		s += " of " + fmt.Sprintf("%q", strings.Join(r.Command, " "))
	}
	if !r.Complete && r.IncompleteReason != "" {
		s += " (incomplete: " + r.IncompleteReason + ")"
	}
	return s
}

// trapSitesOf returns the report's trap sites of one syscall, most
// frequent first.
func trapSitesOf(r *coverage.Report, syscall string) []coverage.Site {
	return slices.DeleteFunc(r.TrapSites(), func(s coverage.Site) bool { return s.Syscall != syscall })
}

// siteTable lays out a message's sites: object, function (with its source
// line when known), offset, syscall, count.
var siteTable = coverage.SiteTable{Indent: "    ", Columns: []coverage.SiteColumn{
	{Cell: func(s *coverage.Site) string { return s.Object }},
	{Cell: func(s *coverage.Site) string {
		if s.File != "" {
			return fmt.Sprintf("%s (%s:%d)", s.Where(), s.File, s.Line)
		}
		return s.Where()
	}},
	{Cell: func(s *coverage.Site) string { return "offset " + s.Offset.String() }},
	{Cell: func(s *coverage.Site) string { return s.Syscall }},
	{Cell: func(s *coverage.Site) string { return fmt.Sprintf("%d×", s.Count) }},
}}

// listSites formats sites one per line, aligned, at most maxListed.
func listSites(sites []coverage.Site) string {
	var b strings.Builder
	shown := sites[:min(len(sites), maxListed)]
	for _, l := range coverage.WithRewriteColumn(siteTable, shown).Lines(shown) {
		b.WriteString(l + "\n")
	}
	if rest := sites[len(shown):]; len(rest) > 0 {
		b.WriteString("    " + coverage.MoreSites(rest) + "\n")
	}
	return b.String()
}

func countCalls(sites []coverage.Site) uint64 {
	var n uint64
	for _, s := range sites {
		n += s.Count
	}
	return n
}

// droppedNote explains trapped calls that no listed site accounts for.
func droppedNote(r *coverage.Report, listed uint64, trapped uint64) string {
	if trapped <= listed {
		return ""
	}
	return fmt.Sprintf("    (%d trapped calls at sites the report does not list; sites_dropped %d)\n",
		trapped-listed, r.SitesDropped)
}

// BeFullyBypassed succeeds when the report has no trapped calls at all:
// every syscall went through __kernel_vsyscall or was answered in the vDSO.
// A run with rewritten sites fails it too: each such site trapped first.
func BeFullyBypassed() types.GomegaMatcher {
	return &fullyBypassed{}
}

type fullyBypassed struct{}

func (m *fullyBypassed) Match(actual any) (bool, error) {
	r, err := asReport("BeFullyBypassed", actual)
	if err != nil {
		return false, err
	}
	return r.Totals.Trap == 0 && len(r.TrapSites()) == 0, nil
}

func (m *fullyBypassed) FailureMessage(actual any) string {
	r, err := asReport("BeFullyBypassed", actual)
	if err != nil {
		return err.Error()
	}
	sites := r.TrapSites()
	listed := countCalls(sites)
	return fmt.Sprintf("Expected %s to be fully bypassed, but %d of %d calls trapped, at %d sites:\n%s%s",
		describe(r), r.Totals.Trap, r.Totals.Total, len(sites), listSites(sites), droppedNote(r, listed, r.Totals.Trap))
}

func (m *fullyBypassed) NegatedFailureMessage(actual any) string {
	r, err := asReport("BeFullyBypassed", actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Expected %s to have trapped calls, but none of its %d calls trapped (%d bypassed, %d vDSO)",
		describe(r), r.Totals.Total, r.Totals.Bypass, r.Totals.VDSO)
}

// HaveBypassRatioAtLeast succeeds when the report's bypass share
// (docs/report.md, "Bypass share": bypass / (bypass+trap+patched+int80),
// the number `vsysbed report check --min-bypass` gates on), as a ratio,
// is at least min. vDSO calls enter no kernel and are left out; calls
// through sites --rewrite=lazy rewrote count as the raw syscalls they are.
// min is in [0, 1]. A report with no call that entered the kernel fails:
// its ratio is undefined, and an empty report passing a gate would hide a
// broken run.
func HaveBypassRatioAtLeast(min float64) types.GomegaMatcher {
	return &bypassRatio{min: min}
}

type bypassRatio struct{ min float64 }

func (m *bypassRatio) Match(actual any) (bool, error) {
	r, err := asReport("HaveBypassRatioAtLeast", actual)
	if err != nil {
		return false, err
	}
	if math.IsNaN(m.min) || m.min < 0 || m.min > 1 {
		return false, fmt.Errorf("bedmatch: HaveBypassRatioAtLeast(%v): the ratio must be between 0 and 1", m.min)
	}
	ratio, ok := coverage.BypassRatio(r.Totals.Bypass, r.Totals.Entered()-r.Totals.Bypass)
	return ok && ratio >= m.min, nil
}

func (m *bypassRatio) FailureMessage(actual any) string {
	r, err := asReport("HaveBypassRatioAtLeast", actual)
	if err != nil {
		return err.Error()
	}
	ratio, ok := coverage.BypassRatio(r.Totals.Bypass, r.Totals.Entered()-r.Totals.Bypass)
	if !ok {
		return fmt.Sprintf("Expected %s to have a bypass ratio of at least %.4g, but it has no bypassed or trapped calls (%d calls in all)",
			describe(r), m.min, r.Totals.Total)
	}
	sites := r.TrapSites()
	return fmt.Sprintf("Expected %s to have a bypass ratio of at least %.4g, but it is %.4g (%d bypassed, %d trapped); trapped at %d sites:\n%s%s",
		describe(r), m.min, ratio, r.Totals.Bypass, r.Totals.Trap, len(sites), listSites(sites),
		droppedNote(r, countCalls(sites), r.Totals.Trap))
}

func (m *bypassRatio) NegatedFailureMessage(actual any) string {
	r, err := asReport("HaveBypassRatioAtLeast", actual)
	if err != nil {
		return err.Error()
	}
	ratio, _ := coverage.BypassRatio(r.Totals.Bypass, r.Totals.Entered()-r.Totals.Bypass)
	return fmt.Sprintf("Expected %s to have a bypass ratio below %.4g, but it is %.4g (%d bypassed, %d trapped)",
		describe(r), m.min, ratio, r.Totals.Bypass, r.Totals.Trap)
}

// HaveTrapped succeeds when the syscall named name (as in the report:
// "clone", "write") trapped at least once. A name that is no x86-64
// syscall's (nor in the report) is an error, with To and NotTo alike.
func HaveTrapped(name string) types.GomegaMatcher {
	return &haveTrapped{name: name}
}

type haveTrapped struct{ name string }

func (m *haveTrapped) row(r *coverage.Report) (coverage.SyscallRow, bool) {
	for _, row := range r.Syscalls {
		if row.Name == m.name {
			return row, true
		}
	}
	return coverage.SyscallRow{Name: m.name}, false
}

func (m *haveTrapped) Match(actual any) (bool, error) {
	r, err := asReport("HaveTrapped", actual)
	if err != nil {
		return false, err
	}
	if m.name == "" {
		return false, fmt.Errorf("bedmatch: HaveTrapped: no syscall name given")
	}
	row, found := m.row(r)
	if !found && !coverage.KnownSyscallName(m.name) {
		// A typo would never match: NotTo(HaveTrapped("opnat")) would
		// pass whatever the guest did.
		return false, fmt.Errorf("bedmatch: HaveTrapped(%q): no x86-64 syscall has that name", m.name)
	}
	return row.Trap > 0, nil
}

func (m *haveTrapped) FailureMessage(actual any) string {
	r, err := asReport("HaveTrapped", actual)
	if err != nil {
		return err.Error()
	}
	row, found := m.row(r)
	if !found {
		return fmt.Sprintf("Expected %s to show %s trapped, but the guest never called %s", describe(r), m.name, m.name)
	}
	return fmt.Sprintf("Expected %s to show %s trapped, but none of its %d %s calls trapped (%d bypassed, %d vDSO)",
		describe(r), m.name, row.Total, m.name, row.Bypass, row.VDSO)
}

func (m *haveTrapped) NegatedFailureMessage(actual any) string {
	r, err := asReport("HaveTrapped", actual)
	if err != nil {
		return err.Error()
	}
	row, _ := m.row(r)
	sites := trapSitesOf(r, m.name)
	return fmt.Sprintf("Expected %s not to show %s trapped, but %d of its %d %s calls trapped, at %d sites:\n%s%s",
		describe(r), m.name, row.Trap, row.Total, m.name, len(sites), listSites(sites),
		droppedNote(r, countCalls(sites), row.Trap))
}

// HaveNoNewTrapsComparedTo succeeds when every trap site of the report
// also trapped in base: coverage.Compare(base, report) finds no new trap
// site. A site is identified by its coverage.SiteKey, object, offset in
// it, syscall and kind — not by address, so runs under ASLR compare — which
// also means a rebuilt object's moved code counts as new, and sites in
// "[unknown]" objects (JIT code; their offset is the raw address) rarely
// match. Syscalls that trapped now but not in base at sites the report
// could not record (its site table was full) count as new too.
func HaveNoNewTrapsComparedTo(base *coverage.Report) types.GomegaMatcher {
	return &noNewTraps{base: base}
}

type noNewTraps struct{ base *coverage.Report }

// newTraps returns the trap sites of r that base lacks, and the newly
// trapping syscalls whose trapped calls no listed site accounts for.
func (m *noNewTraps) newTraps(r *coverage.Report) (sites []coverage.Site, unlisted []string) {
	d := coverage.Compare(m.base, r)
	listed := map[int]uint64{}
	for _, s := range r.TrapSites() {
		listed[s.Nr] += s.Count
	}
	for _, c := range d.NewTrapSyscalls {
		if n := c.New.Trap; n > listed[c.Nr] {
			unlisted = append(unlisted, fmt.Sprintf("%s (%d calls)", c.Name, n-listed[c.Nr]))
		}
	}
	return d.NewTrapSites, unlisted
}

func (m *noNewTraps) Match(actual any) (bool, error) {
	r, err := asReport("HaveNoNewTrapsComparedTo", actual)
	if err != nil {
		return false, err
	}
	if m.base == nil {
		return false, fmt.Errorf("bedmatch: HaveNoNewTrapsComparedTo: the base report is nil")
	}
	sites, unlisted := m.newTraps(r)
	return len(sites) == 0 && len(unlisted) == 0, nil
}

func (m *noNewTraps) FailureMessage(actual any) string {
	r, err := asReport("HaveNoNewTrapsComparedTo", actual)
	if err != nil {
		return err.Error()
	}
	if m.base == nil {
		return "bedmatch: HaveNoNewTrapsComparedTo: the base report is nil"
	}
	sites, unlisted := m.newTraps(r)
	msg := fmt.Sprintf("Expected %s to have no trap sites that %s lacks, but %d sites trap anew (%d calls):\n%s",
		describe(r), baseName(m.base), len(sites), countCalls(sites), listSites(sites))
	if len(unlisted) > 0 {
		msg += "    and at unrecorded sites (the site table was full), newly trapping: " + strings.Join(unlisted, ", ") + "\n"
	}
	return msg
}

func (m *noNewTraps) NegatedFailureMessage(actual any) string {
	r, err := asReport("HaveNoNewTrapsComparedTo", actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Expected %s to have trap sites that %s lacks, but every trap site also trapped there",
		describe(r), baseName(m.base))
}

func baseName(base *coverage.Report) string {
	if base == nil || len(base.Command) == 0 {
		return "the base report"
	}
	return fmt.Sprintf("the base report (of %q)", strings.Join(base.Command, " "))
}
