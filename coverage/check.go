package coverage

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Gates are the conditions a CI pipeline puts on a report. A nil or zero
// gate is off.
type Gates struct {
	// MinBypass is the least bypass share (share.go), in percent
	// (0..100), over all syscalls. A report with no call that entered the
	// kernel passes.
	MinBypass *float64

	// NoNewTrapsSince fails the report when it traps at a site (by
	// SiteKey) that this base report did not trap at.
	NoNewTrapsSince *Report

	// MaxTrapSites is the most distinct trap sites allowed.
	MaxTrapSites *int

	// Personality fails the report when the guest used a syscall the
	// personality does not implement, or when calls of the run were
	// missing in the run's own --personality.
	Personality *PersonalityGate
}

// PersonalityGate is a kernel personality as Check sees it: its name and
// the syscalls it implements (nil Syscalls with Name "linux": all).
type PersonalityGate struct {
	Name     string
	Syscalls []string
}

// Gate names, as CheckResult.Failures report them.
const (
	GateMinBypass    = "min-bypass"
	GateNoNewTraps   = "no-new-traps"
	GateMaxTrapSites = "max-trap-sites"
	GatePersonality  = "personality"
)

// GateFailure is one gate a report did not pass: why, and the trap sites
// responsible, most frequent first.
type GateFailure struct {
	Gate   string
	Reason string
	Sites  []Site
}

// CheckResult is the outcome of Check: the headline numbers the gates look
// at, and the gates that failed (none when the report passes).
type CheckResult struct {
	Command       []string // the report's command
	BypassPercent float64  // the bypass share; 100 when no call entered the kernel
	Bypass        uint64   // bypass calls
	Entered       uint64   // calls that entered the kernel (Totals.Entered)
	TrapSites     int
	NewTrapSites  int // only meaningful with Gates.NoNewTrapsSince
	Gates         Gates
	Failures      []GateFailure
}

// OK tells whether every gate passed.
func (c *CheckResult) OK() bool { return len(c.Failures) == 0 }

// Check applies the gates to r.
func Check(r *Report, g Gates) *CheckResult {
	res := &CheckResult{Gates: g, BypassPercent: 100, Command: r.Command, Bypass: r.Totals.Bypass, Entered: r.Totals.Entered()}
	if p, ok := r.Totals.BypassPercent(); ok {
		res.BypassPercent = p
	}
	traps := r.TrapSites()
	res.TrapSites = len(traps)

	if g.MinBypass != nil && res.BypassPercent < *g.MinBypass {
		res.Failures = append(res.Failures, GateFailure{
			Gate: GateMinBypass,
			Reason: fmt.Sprintf("%s bypassed (%d bypass of %d calls that entered the kernel), want at least %s",
				formatPercent(res.BypassPercent), r.Totals.Bypass, r.Totals.Entered(), formatPercent(*g.MinBypass)),
			Sites: traps,
		})
	}
	if g.NoNewTrapsSince != nil {
		fresh := trapSitesNotIn(r, g.NoNewTrapsSince)
		res.NewTrapSites = len(fresh)
		if len(fresh) > 0 {
			res.Failures = append(res.Failures, GateFailure{
				Gate:   GateNoNewTraps,
				Reason: fmt.Sprintf("%d trap site(s) that the base report does not trap at", len(fresh)),
				Sites:  fresh,
			})
		}
	}
	if g.MaxTrapSites != nil && res.TrapSites > *g.MaxTrapSites {
		res.Failures = append(res.Failures, GateFailure{
			Gate:   GateMaxTrapSites,
			Reason: fmt.Sprintf("%d trap sites, at most %d allowed", res.TrapSites, *g.MaxTrapSites),
			Sites:  traps,
		})
	}
	if g.Personality != nil {
		if f, ok := personalityFailure(r, g.Personality); !ok {
			res.Failures = append(res.Failures, f)
		}
	}
	return res
}

// personalityFailure finds the sites of syscalls outside p (vDSO calls,
// which never enter a kernel, aside) and of calls the run recorded as
// missing in its own personality.
func personalityFailure(r *Report, p *PersonalityGate) (GateFailure, bool) {
	has := map[string]bool{}
	for _, n := range p.Syscalls {
		has[n] = true
	}
	outside := func(name string) bool { return p.Syscalls != nil && !has[name] }
	names := map[string]bool{}
	var sites []Site
	for _, s := range r.Sites {
		if s.Missing > 0 || (s.Kind != KindVDSO && s.Kind != KindInt80 && outside(s.Syscall)) {
			sites = append(sites, s)
			names[s.Syscall] = true
		}
	}
	for _, row := range r.Syscalls {
		if row.Missing > 0 || (row.Int80 == 0 && row.Bypass+row.Trap+row.Patched > 0 && outside(row.Name)) {
			names[row.Name] = true
		}
	}
	if len(names) == 0 {
		return GateFailure{}, true
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	sortSites(sites)
	return GateFailure{
		Gate:   GatePersonality,
		Reason: fmt.Sprintf("%d syscall(s) missing in %s: %s", len(list), p.Name, strings.Join(list, ", ")),
		Sites:  sites,
	}, false
}

// CheckSitesShown is how many offending sites WriteText lists per failed
// gate.
const CheckSitesShown = 50

// WriteText explains the result: one "ok" line when every gate passed,
// else each failed gate with its reason and offending sites.
func (c *CheckResult) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := lineWriter(bw)
	if c.OK() {
		parts := []string{formatPercent(c.BypassPercent) + " bypassed"}
		if c.Gates.MinBypass != nil {
			parts[0] += " (min " + formatPercent(*c.Gates.MinBypass) + ")"
		}
		if c.Gates.NoNewTrapsSince != nil {
			parts = append(parts, "no new trap sites")
		}
		sites := strconv.Itoa(c.TrapSites) + " trap site(s)"
		if c.Gates.MaxTrapSites != nil {
			sites += " (max " + strconv.Itoa(*c.Gates.MaxTrapSites) + ")"
		}
		parts = append(parts, sites)
		if c.Gates.Personality != nil {
			parts = append(parts, "nothing missing in "+c.Gates.Personality.Name)
		}
		line("ok: %s", strings.Join(parts, ", "))
		return bw.Flush()
	}
	line("FAIL: %d gate(s) failed", len(c.Failures))
	for i, f := range c.Failures {
		line("")
		line("%s: %s", f.Gate, f.Reason)
		if i > 0 && sameSites(f.Sites, c.Failures[i-1].Sites) {
			line("  offending sites: the %d above", len(f.Sites))
			continue
		}
		writeSiteList(line, "  offending sites", f.Sites, CheckSitesShown)
	}
	return bw.Flush()
}

// sameSites tells whether two failures blame the same sites: min-bypass
// and max-trap-sites both list every trap site, once is enough.
func sameSites(a, b []Site) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key() != b[i].Key() {
			return false
		}
	}
	return true
}
