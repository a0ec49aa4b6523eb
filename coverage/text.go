package coverage

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TextWidth is the widest line WriteText produces, in runes.
const TextWidth = 100

// TextTopSites is how many trapped sites WriteText lists.
const TextTopSites = 20

// WriteText writes the report as a strace -c style table: syscalls by total
// calls, then the most frequent trapped sites grouped by object. No line is
// wider than TextWidth.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := lineWriter(bw)

	line("vsysbed: %s", strings.Join(r.Command, " "))
	status := r.Exit.String()
	if r.Exit.FaultAddr != 0 || r.Exit.FaultRIP != 0 {
		status += fmt.Sprintf(" (fault at %s, rip %s)", r.Exit.FaultAddr, r.Exit.FaultRIP)
	}
	if r.TrapMode != "" {
		status += ", trap mode " + r.TrapMode
	}
	status += fmt.Sprintf(", %d thread(s)", r.Threads)
	line("%s", status)
	if !r.Complete {
		line("INCOMPLETE: %s", r.IncompleteReason)
	}
	line("")

	// A native run has no vsysbed counts: its audit section is the report.
	if r.Audit == nil || r.Audit.Platform != AuditNative {
		r.writeSyscallTable(line)
		r.writeTrappedSites(line)
		r.writeTimes(line)
		r.writePatchNext(line)
		r.writeTampered(line) // tampered.go
	}

	if r.SitesDropped > 0 {
		line("")
		line("%d site(s) dropped: the per-thread site table was full", r.SitesDropped)
	}
	if r.Audit != nil {
		r.Audit.writeText(line)
	}
	if len(r.Errors) > 0 {
		line("")
		line("errors:")
		for _, e := range r.Errors {
			line("  %s", e)
		}
	}
	return bw.Flush()
}

// lineWriter returns the line function the text renderers write with: one
// formatted entry a line, clipped to TextWidth. Messages and names may
// hold newlines; one entry stays one line.
func lineWriter(bw *bufio.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		s := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
		bw.WriteString(clipRight(s, TextWidth))
		bw.WriteByte('\n')
	}
}

func (r *Report) writeSyscallTable(line func(string, ...any)) {
	rows := append([]SyscallRow(nil), r.Syscalls...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Total != rows[j].Total {
			return rows[i].Total > rows[j].Total
		}
		return rows[i].Nr < rows[j].Nr
	})

	// Number columns are as wide as the largest number (the total's); the
	// name column takes what is left, up to the longest name.
	numW := max(len("%bypass"), len(strconv.FormatUint(r.Totals.Total, 10)))
	for _, row := range rows {
		numW = max(numW, len(strconv.FormatUint(row.Total, 10)))
	}
	nameW := len("syscall")
	for _, row := range rows {
		nameW = max(nameW, utf8.RuneCountInString(row.Name))
	}
	const pctW = len("%bypass")
	nameW = max(min(nameW, TextWidth-4*(numW+2)-(pctW+2)), 3)

	// A patched column only when a site was rewritten (--rewrite=lazy):
	// the table without it is the one every run without rewriting prints.
	patched := r.Totals.Patched > 0
	cols := 4
	if patched {
		cols = 5
		nameW = max(min(nameW, TextWidth-cols*(numW+2)-(pctW+2)), 3)
	}
	row := func(name string, b, t, p, v, total uint64) {
		share := FormatBypassShare(b, total-v)
		if patched {
			line("%-*s  %*d  %*d  %*d  %*d  %*d  %*s", nameW, clipRight(name, nameW),
				numW, b, numW, t, numW, p, numW, v, numW, total, pctW, share)
			return
		}
		line("%-*s  %*d  %*d  %*d  %*d  %*s", nameW, clipRight(name, nameW),
			numW, b, numW, t, numW, v, numW, total, pctW, share)
	}
	if patched {
		line("%-*s  %*s  %*s  %*s  %*s  %*s  %*s", nameW, "syscall",
			numW, "bypass", numW, "trap", numW, "patched", numW, "vdso", numW, "total", pctW, "%bypass")
	} else {
		line("%-*s  %*s  %*s  %*s  %*s  %*s", nameW, "syscall",
			numW, "bypass", numW, "trap", numW, "vdso", numW, "total", pctW, "%bypass")
	}
	line("%s", strings.Repeat("-", min(nameW+cols*(numW+2)+pctW+2, TextWidth)))
	for _, s := range rows {
		row(s.Name, s.Bypass, s.Trap, s.Patched, s.VDSO, s.Total)
	}
	line("%s", strings.Repeat("-", min(nameW+cols*(numW+2)+pctW+2, TextWidth)))
	t := r.Totals
	row("total", t.Bypass, t.Trap, t.Patched, t.VDSO, t.Total)
}

func (r *Report) writeTrappedSites(line func(string, ...any)) {
	// One line per call site in its object: the processes of a tree load
	// a library at different addresses, and the reader fixes the code at
	// an offset, not an address.
	var trapped []Site
	var calls uint64
	index := map[SiteKey]int{}
	for _, s := range r.Sites {
		if s.Kind != KindTrap {
			continue
		}
		calls += s.Count
		if i, ok := index[s.Key()]; ok && s.Object != UnknownObject {
			trapped[i].Count += s.Count
			trapped[i].mergeRewrite(s)
			continue
		}
		index[s.Key()] = len(trapped)
		trapped = append(trapped, s)
	}
	sort.SliceStable(trapped, func(i, j int) bool { return trapped[i].Count > trapped[j].Count })
	line("")
	if len(trapped) == 0 {
		line("trapped sites: none")
		return
	}
	line("trapped sites (%d sites, %d calls), most frequent first:", len(trapped), calls)
	// The top sites by count, grouped under their objects; objects in order
	// of all their trapped calls, so the library to fix first comes first.
	top := trapped[:min(len(trapped), TextTopSites)]
	objectCalls := map[string]uint64{}
	for _, s := range trapped {
		objectCalls[s.Object] += s.Count
	}
	var objects []string
	byObject := map[string][]Site{}
	for _, s := range top {
		if _, ok := byObject[s.Object]; !ok {
			objects = append(objects, s.Object)
		}
		byObject[s.Object] = append(byObject[s.Object], s)
	}
	sort.SliceStable(objects, func(i, j int) bool { return objectCalls[objects[i]] > objectCalls[objects[j]] })

	var grouped []Site
	for _, obj := range objects {
		grouped = append(grouped, byObject[obj]...)
	}
	rows := WithRewriteColumn(trappedSiteTable, grouped).Lines(grouped)
	for _, obj := range objects {
		suffix := fmt.Sprintf(" (%d calls)", objectCalls[obj])
		line("  %s%s", clipLeft(obj, TextWidth-2-len(suffix)), suffix)
		for range byObject[obj] {
			line("%s", rows[0])
			rows = rows[1:]
		}
	}
	if rest := trapped[len(top):]; len(rest) > 0 {
		line("  %s", MoreSites(rest))
	}
}

// trappedSiteTable lays out the text report's trapped sites under their
// object: where in it, the syscall, the count.
var trappedSiteTable = SiteTable{Indent: "    ", Columns: []SiteColumn{
	{Cell: siteLocation, MaxWidth: 48},
	{Cell: func(s *Site) string { return s.Syscall }, MaxWidth: 22},
	{Cell: func(s *Site) string { return strconv.FormatUint(s.Count, 10) }, Right: true},
}}

// WithRewriteColumn is t with a last column saying what --rewrite=lazy
// did at each site (RewriteNote) when it answered for any of sites, else
// t as it is: the text report's trapped sites, check's and diff's lists,
// bedmatch's.
func WithRewriteColumn(t SiteTable, sites []Site) SiteTable {
	for _, s := range sites {
		if s.RewrittenAfter > 0 || s.NotRewritten != "" {
			return SiteTable{Indent: t.Indent, Columns: append(append([]SiteColumn{}, t.Columns...),
				SiteColumn{Cell: RewriteNote, MaxWidth: 40})}
		}
	}
	return t
}

// RewriteNote is what --rewrite=lazy did at a trap site, for the text and
// HTML reports: "rewritten after N", "not rewritten: WHY", or "".
func RewriteNote(s *Site) string {
	switch {
	case s.RewrittenAfter > 0:
		return "rewritten after " + strconv.FormatUint(s.RewrittenAfter, 10)
	case s.NotRewritten != "":
		return "not rewritten: " + s.NotRewritten
	}
	return ""
}

// siteLocation is a site's offset, with its symbol when known.
func siteLocation(s *Site) string {
	if s.Symbol != "" {
		return s.Offset.String() + " <" + Demangle(s.Symbol) + ">"
	}
	return s.Offset.String()
}

// clipRight shortens s to n runes, marking the cut with "…" at the end.
func clipRight(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// clipLeft shortens s to n runes, keeping the end: the file name of a long
// path says more than its first directories.
func clipLeft(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return "…" + string(r[len(r)-(n-1):])
}
