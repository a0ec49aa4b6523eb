package coverage

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// BypassRatio is the bypass share (share.go) as a ratio in [0, 1]:
// bypass / (bypass + trap), trap being every other call that entered the
// kernel (trap, patched and int80: Totals.Entered less the bypass calls),
// rounded down to whole hundredths of a percent like every other output.
// ok is false when no call entered the kernel.
func BypassRatio(bypass, trap uint64) (ratio float64, ok bool) {
	h, ok := BypassShare(bypass, bypass+trap)
	return float64(h) / 10000, ok
}

// Diff is what changed between two reports of the same program: which
// call sites and syscalls started or stopped trapping, and how each
// syscall's bypass ratio moved.
type Diff struct {
	Base, New *Report

	// NewTrapSites trap in New but not in Base (by SiteKey), most
	// frequent first; GoneTrapSites the reverse. The Site is New's (resp.
	// Base's).
	NewTrapSites  []Site
	GoneTrapSites []Site

	// NewTrapSyscalls have trap calls in New and none in Base;
	// GoneTrapSyscalls the reverse. Ascending nr.
	NewTrapSyscalls  []SyscallChange
	GoneTrapSyscalls []SyscallChange

	// Syscalls are the syscalls whose bypass or trap counts differ,
	// ascending nr.
	Syscalls []SyscallChange
}

// SyscallChange is one syscall's row in both reports; a side where the
// syscall was not called is the zero row (with Nr and Name set).
type SyscallChange struct {
	Nr        int
	Name      string
	Base, New SyscallRow
}

// Compare computes what changed from base to new.
func Compare(base, new *Report) *Diff {
	d := &Diff{Base: base, New: new}
	d.NewTrapSites = trapSitesNotIn(new, base)
	d.GoneTrapSites = trapSitesNotIn(base, new)

	rows := map[int]*SyscallChange{}
	get := func(row SyscallRow) *SyscallChange {
		c := rows[row.Nr]
		if c == nil {
			c = &SyscallChange{Nr: row.Nr, Name: row.Name}
			c.Base.Nr, c.Base.Name = row.Nr, row.Name
			c.New.Nr, c.New.Name = row.Nr, row.Name
			rows[row.Nr] = c
		}
		return c
	}
	// i386 rows (int80) have numbers of another table and neither bypass
	// nor trap calls: left out.
	for _, row := range base.Syscalls {
		if row.Int80 == 0 {
			get(row).Base = row
		}
	}
	for _, row := range new.Syscalls {
		if row.Int80 == 0 {
			get(row).New = row
		}
	}
	var nrs []int
	for nr := range rows {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)
	for _, nr := range nrs {
		c := *rows[nr]
		switch {
		case c.Base.Trap == 0 && c.New.Trap > 0:
			d.NewTrapSyscalls = append(d.NewTrapSyscalls, c)
		case c.Base.Trap > 0 && c.New.Trap == 0:
			d.GoneTrapSyscalls = append(d.GoneTrapSyscalls, c)
		}
		if c.Base.Bypass != c.New.Bypass || c.Base.Trap != c.New.Trap {
			d.Syscalls = append(d.Syscalls, c)
		}
	}
	return d
}

// trapSitesNotIn returns the trap sites of r whose identity other does not
// trap from.
func trapSitesNotIn(r, other *Report) []Site {
	have := map[SiteKey]bool{}
	for _, s := range other.TrapSites() {
		have[s.Key()] = true
	}
	out := []Site{}
	for _, s := range r.TrapSites() {
		if !have[s.Key()] {
			out = append(out, s)
		}
	}
	return out
}

// Empty tells whether nothing trap- or bypass-related changed.
func (d *Diff) Empty() bool {
	return len(d.NewTrapSites) == 0 && len(d.GoneTrapSites) == 0 && len(d.Syscalls) == 0
}

// WriteText writes the diff for people: both reports' headline numbers,
// then new and gone trap syscalls and sites, then the bypass ratio of
// every syscall whose counts changed.
func (d *Diff) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := lineWriter(bw)
	headline := func(label string, r *Report) {
		line("%s %s: %d calls, %d trapped, %s bypassed, %d trap sites", label, runsSummary(r),
			r.Totals.Total, r.Totals.Trap, FormatBypassShare(r.Totals.Bypass, r.Totals.Entered()), len(r.TrapSites()))
	}
	headline("base", d.Base)
	headline("new ", d.New)
	if d.Empty() {
		line("")
		line("no change in trapped sites or bypass/trap counts")
		d.writeTimeChanges(line)
		return bw.Flush()
	}

	syscallList := func(title string, cs []SyscallChange, pick func(SyscallChange) SyscallRow) {
		line("")
		if len(cs) == 0 {
			line("%s: none", title)
			return
		}
		line("%s (%d):", title, len(cs))
		for _, c := range cs {
			row := pick(c)
			line("  %-22s %d trapped of %d", clipRight(c.Name, 22), row.Trap, row.Total)
		}
	}
	syscallList("newly trapping syscalls", d.NewTrapSyscalls, func(c SyscallChange) SyscallRow { return c.New })
	syscallList("syscalls no longer trapping", d.GoneTrapSyscalls, func(c SyscallChange) SyscallRow { return c.Base })

	line("")
	writeSiteList(line, "newly trapping sites", d.NewTrapSites, TextTopSites)
	line("")
	writeSiteList(line, "sites no longer trapping", d.GoneTrapSites, TextTopSites)

	line("")
	if len(d.Syscalls) == 0 {
		line("bypass share: unchanged for every syscall")
		d.writeTimeChanges(line)
		return bw.Flush()
	}
	line("bypass share (%% bypassed) of the syscalls whose counts changed:")
	nameW := len("syscall")
	for _, c := range d.Syscalls {
		nameW = max(nameW, len(c.Name))
	}
	nameW = min(nameW, 24)
	line("  %-*s  %8s  %8s  %8s  %14s  %14s", nameW, "syscall", "base", "new", "change", "base byp/trap", "new byp/trap")
	for _, c := range d.Syscalls {
		line("  %-*s  %8s  %8s  %8s  %14s  %14s", nameW, clipRight(c.Name, nameW),
			FormatBypassShare(c.Base.Bypass, c.Base.Entered()), FormatBypassShare(c.New.Bypass, c.New.Entered()),
			ratioChange(c), countPair(c.Base), countPair(c.New))
	}
	d.writeTimeChanges(line)
	return bw.Flush()
}

func runsSummary(r *Report) string {
	if len(r.Runs) > 1 {
		return strconv.Itoa(len(r.Runs)) + " runs"
	}
	if len(r.Command) == 0 {
		return "(no command)"
	}
	return strings.Join(r.Command, " ")
}

func ratioChange(c SyscallChange) string {
	b, okb := BypassShare(c.Base.Bypass, c.Base.Entered())
	n, okn := BypassShare(c.New.Bypass, c.New.Entered())
	switch {
	case okb && okn:
		return strconv.FormatFloat((float64(n)-float64(b))/100, 'f', 2, 64) + "pp"
	case okn:
		return "new"
	case okb:
		return "gone"
	}
	return "-"
}

func countPair(row SyscallRow) string {
	return strconv.FormatUint(row.Bypass, 10) + "/" + strconv.FormatUint(row.Trap, 10)
}

// writeSiteList lists sites one a line as object, function, offset,
// syscall and count, at most limit of them (all when limit <= 0).
func writeSiteList(line func(string, ...any), title string, sites []Site, limit int) {
	if len(sites) == 0 {
		line("%s: none", title)
		return
	}
	line("%s (%d sites, %d calls):", title, len(sites), sumCounts(sites))
	shown := sites
	if limit > 0 && len(shown) > limit {
		shown = shown[:limit]
	}
	for _, l := range WithRewriteColumn(siteListTable, shown).Lines(shown) {
		line("%s", l)
	}
	if rest := sites[len(shown):]; len(rest) > 0 {
		line("  %s", MoreSites(rest))
	}
}

// siteListTable lays out the sites of a diff or a failed gate: object,
// function, offset, syscall, count.
var siteListTable = SiteTable{Indent: "  ", Columns: []SiteColumn{
	{Cell: func(s *Site) string { return s.Object }, MaxWidth: 36, ClipLeft: true},
	{Cell: (*Site).Where, MaxWidth: 24},
	{Cell: func(s *Site) string { return s.Offset.String() }, Width: 10, Right: true},
	{Cell: func(s *Site) string { return s.Syscall }, MaxWidth: 16},
	{Cell: func(s *Site) string { return strconv.FormatUint(s.Count, 10) }},
}}
