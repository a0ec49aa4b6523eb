package coverage

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// The calls `run --inject` and `--personality` changed, in the text
// report: each site with its changed calls, under a heading per kind of
// change.

// TamperedSites returns the sites with injected calls (missing false) or
// with calls missing in the personality (missing true), one per SiteKey,
// most changed calls first.
func (r *Report) TamperedSites(missing bool) []Site {
	var out []Site
	index := map[SiteKey]int{}
	for _, s := range r.Sites {
		n := s.Injected
		if missing {
			n = s.Missing
		}
		if n == 0 {
			continue
		}
		if i, ok := index[s.Key()]; ok && s.Object != UnknownObject {
			out[i].Count += s.Count
			out[i].Injected += s.Injected
			out[i].Missing += s.Missing
			continue
		}
		index[s.Key()] = len(out)
		out = append(out, s)
	}
	changed := func(s *Site) uint64 {
		if missing {
			return s.Missing
		}
		return s.Injected
	}
	sort.SliceStable(out, func(i, j int) bool { return changed(&out[i]) > changed(&out[j]) })
	return out
}

// MissingSyscalls are the names of the syscalls with calls outside the
// personality, in table order.
func (r *Report) MissingSyscalls() []string {
	var names []string
	for _, row := range r.Syscalls {
		if row.Missing > 0 {
			names = append(names, row.Name)
		}
	}
	return names
}

func (r *Report) writeTampered(line func(string, ...any)) {
	if len(r.Inject) > 0 {
		sites := r.TamperedSites(false)
		var calls uint64
		for _, s := range sites {
			calls += s.Injected
		}
		line("")
		line("injected (--inject %s): %d calls at %d sites", strings.Join(r.Inject, " --inject "), calls, len(sites))
		for _, l := range tamperedSiteTable(false).Lines(sites[:min(len(sites), TextTopSites)]) {
			line("%s", l)
		}
		if rest := sites[min(len(sites), TextTopSites):]; len(rest) > 0 {
			line("  %s", MoreSites(rest))
		}
	}
	if r.Personality != "" {
		sites := r.TamperedSites(true)
		line("")
		if len(sites) == 0 {
			line("missing in %s: none", r.Personality)
			return
		}
		line("missing in %s (failed with ENOSYS): %s", r.Personality, strings.Join(r.MissingSyscalls(), ", "))
		for _, l := range tamperedSiteTable(true).Lines(sites[:min(len(sites), TextTopSites)]) {
			line("%s", l)
		}
		if rest := sites[min(len(sites), TextTopSites):]; len(rest) > 0 {
			line("  %s", MoreSites(rest))
		}
	}
}

// tamperedSiteTable lays out a changed site: its object (the full path is
// in the JSON report and the HTML page) and where in it,
// the syscall, the changed calls of all its calls.
func tamperedSiteTable(missing bool) SiteTable {
	return SiteTable{Indent: "  ", Columns: []SiteColumn{
		{Cell: func(s *Site) string { return s.Syscall }, MaxWidth: 22},
		// The object's base name: a long path would clip the symbol.
		{Cell: func(s *Site) string { return path.Base(s.Object) + "+" + siteLocation(s) }, MaxWidth: 64},
		{Cell: func(s *Site) string {
			n := s.Injected
			if missing {
				n = s.Missing
			}
			return strconv.FormatUint(n, 10) + "/" + strconv.FormatUint(s.Count, 10)
		}, Right: true},
	}}
}

// htmlTampered is one changed site in the HTML page.
type htmlTampered struct {
	htmlSite
	What    string // "injected" or "missing in <personality>"
	Changed uint64
}

func (r *Report) htmlTampered() []htmlTampered {
	var out []htmlTampered
	for _, missing := range []bool{false, true} {
		for i, s := range r.TamperedSites(missing) {
			t := htmlTampered{htmlSite: siteRow(i, s), What: "injected", Changed: s.Injected}
			if missing {
				t.What, t.Changed = "missing in "+r.Personality, s.Missing
			}
			out = append(out, t)
		}
	}
	return out
}
