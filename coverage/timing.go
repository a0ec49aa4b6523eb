package coverage

import (
	"math/bits"
	"sort"
)

// KindTimes is time spent in calls by entry kind, in nanoseconds. Only
// these kinds are timed: a vDSO call never leaves the vDSO's own code, and
// an i386 call is counted by another table's number.
type KindTimes struct {
	Bypass  uint64 `json:"bypass,omitempty"`
	Trap    uint64 `json:"trap,omitempty"`
	Patched uint64 `json:"patched,omitempty"`
}

func (t *KindTimes) add(o KindTimes) {
	t.Bypass += o.Bypass
	t.Trap += o.Trap
	t.Patched += o.Patched
}

func (t KindTimes) zero() bool { return t == KindTimes{} }

// Timing is the report's account of how its times were measured: the TSC
// frequency its cycles were converted with and where it came from, and the
// host's cost of each path (vsysbed calibrate's, when this machine has run
// it), so that a report read on another machine says what its times meant
// where they were taken. Absent with --timing=off.
type Timing struct {
	TSCHz uint64 `json:"tsc_hz"`
	// TSCSource is how TSCHz was found: "cpuid" (leaf 0x15, or a
	// hypervisor's 0x40000010) or "measured" (against CLOCK_MONOTONIC).
	TSCSource string `json:"tsc_source"`
	// Costs are the host's per-call cost of each path, from `vsysbed
	// calibrate` (CostsFrom says when it ran); empty when it never ran.
	Costs     []PathCost `json:"costs,omitempty"`
	CostsFrom string     `json:"costs_from,omitempty"`
}

// PathCost is what one mechanism costs per call on the host, in ns.
type PathCost struct {
	Path string  `json:"path"`
	Ns   float64 `json:"ns"`
}

// Calibrated paths a report's saving may fall back on (PathCost.Path).
const (
	PathNative     = "native syscall"
	PathBypassFast = "bypass, fast path"
	PathBypassGo   = "bypass, into Go"
	PathTrap       = "trap, seccomp"
	PathTrapSUD    = "trap, SUD"
	PathPatched    = "patched site"
	// The part of a trap before its SIGSYS handler, which a report's trap
	// times leave out: calibrate's whole trap less the span its run timed.
	PathDelivery    = "trap, seccomp: signal delivery"
	PathDeliverySUD = "trap, SUD: signal delivery"
)

// Cost is the calibrated cost of path, if the report has it.
func (t *Timing) Cost(path string) (float64, bool) {
	if t == nil {
		return 0, false
	}
	for _, c := range t.Costs {
		if c.Path == path {
			return c.Ns, true
		}
	}
	return 0, false
}

// CyclesToNs converts TSC cycles at hz to nanoseconds, rounded down,
// without overflowing for any span shorter than 584 years.
func CyclesToNs(cycles, hz uint64) uint64 {
	if hz == 0 {
		return 0
	}
	hi, lo := bits.Mul64(cycles, 1e9)
	if hi >= hz {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, hz)
	return q
}

// CycleRow is one syscall's TSC cycles by kind, as a shard holds them.
type CycleRow struct {
	Nr                    int
	Bypass, Trap, Patched uint64
}

// mean is total/calls, 0 without calls.
func mean(total, calls uint64) uint64 {
	if calls == 0 {
		return 0
	}
	return total / calls
}

// setMeans fills a row's MeanNs from its TimeNs and counts.
func (row *SyscallRow) setMeans() {
	row.MeanNs = KindTimes{
		Bypass:  mean(row.TimeNs.Bypass, row.Bypass),
		Trap:    mean(row.TimeNs.Trap, row.Trap),
		Patched: mean(row.TimeNs.Patched, row.Patched),
	}
}

// setMeans fills the totals' MeanNs from TimeNs.
func (t *Totals) setMeans() {
	t.MeanNs = KindTimes{
		Bypass:  mean(t.TimeNs.Bypass, t.Bypass),
		Trap:    mean(t.TimeNs.Trap, t.Trap),
		Patched: mean(t.TimeNs.Patched, t.Patched),
	}
}

// setMean fills a site's MeanNs from its TimeNs and Count.
func (s *Site) setMean() { s.MeanNs = mean(s.TimeNs, s.Count) }

// setMeans fills every mean of r (rows, totals, sites) from the summed
// times and counts: a merged report's means are those of all its calls.
func (r *Report) setMeans() {
	for i := range r.Syscalls {
		r.Syscalls[i].setMeans()
	}
	r.Totals.setMeans()
	for i := range r.Sites {
		r.Sites[i].setMean()
	}
}

// timesOf converts summed cycle rows to nanoseconds by syscall number.
func timesOf(rows []CycleRow, hz uint64) map[int]KindTimes {
	sum := map[int]*CycleRow{}
	var nrs []int
	for _, r := range rows {
		s := sum[r.Nr]
		if s == nil {
			s = &CycleRow{Nr: r.Nr}
			sum[r.Nr] = s
			nrs = append(nrs, r.Nr)
		}
		s.Bypass += r.Bypass
		s.Trap += r.Trap
		s.Patched += r.Patched
	}
	sort.Ints(nrs)
	out := map[int]KindTimes{}
	for _, nr := range nrs {
		s := sum[nr]
		t := KindTimes{Bypass: CyclesToNs(s.Bypass, hz), Trap: CyclesToNs(s.Trap, hz), Patched: CyclesToNs(s.Patched, hz)}
		if !t.zero() {
			out[nr] = t
		}
	}
	return out
}
