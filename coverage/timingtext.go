package coverage

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// TextTopTimes is how many syscalls the text report's time table lists.
const TextTopTimes = 15

// TextTopPatch is how many groups "what to patch next" lists in text.
const TextTopPatch = 10

// writeTimes writes the time table: the syscalls that took the most time,
// with the mean of each timed kind. Nothing without times.
func (r *Report) writeTimes(line func(string, ...any)) {
	if r.Totals.TimeNs.zero() {
		return
	}
	var rows []SyscallRow
	for _, row := range r.Syscalls {
		if !row.TimeNs.zero() {
			rows = append(rows, row)
		}
	}
	total := func(row *SyscallRow) uint64 { return row.TimeNs.Bypass + row.TimeNs.Trap + row.TimeNs.Patched }
	sort.SliceStable(rows, func(i, j int) bool { return total(&rows[i]) > total(&rows[j]) })
	line("")
	line("time in calls, most first (mean ns a call by kind; TSC at %s, %s):",
		formatHz(r.Timing), tscSource(r.Timing))
	const nameW, numW = 22, 12
	line("  %-*s  %*s  %*s  %*s  %*s", nameW, "syscall", numW, "bypass", numW, "trap", numW, "patched", numW, "total ms")
	cell := func(mean, calls uint64) string {
		if calls == 0 {
			return "-"
		}
		return strconv.FormatUint(mean, 10)
	}
	for _, row := range rows[:min(len(rows), TextTopTimes)] {
		m := row.MeanNs
		line("  %-*s  %*s  %*s  %*s  %*s", nameW, clipRight(row.Name, nameW),
			numW, cell(m.Bypass, row.Bypass), numW, cell(m.Trap, row.Trap), numW, cell(m.Patched, row.Patched),
			numW, formatMs(total(&row)))
	}
	if len(rows) > TextTopTimes {
		line("  … %d more syscall(s)", len(rows)-TextTopTimes)
	}
	t, m := r.Totals, r.Totals.MeanNs
	line("  %-*s  %*s  %*s  %*s  %*s", nameW, "all", numW, cell(m.Bypass, t.Bypass), numW, cell(m.Trap, t.Trap),
		numW, cell(m.Patched, t.Patched), numW, formatMs(t.TimeNs.Bypass+t.TimeNs.Trap+t.TimeNs.Patched))
	line("  (a trap's time starts in the SIGSYS handler: the kernel's signal delivery before it is not")
	line("  in it; vsysbed calibrate measures the whole)")
}

// writePatchNext writes "what to patch next": the groups of trapped calls,
// the largest saving first.
func (r *Report) writePatchNext(line func(string, ...any)) {
	if len(r.PatchNext) == 0 {
		return
	}
	line("")
	var saving uint64
	for _, g := range r.PatchNext {
		saving += g.SavingNs
	}
	if !r.Totals.TimeNs.zero() {
		line("what to patch next (%d groups; bypassing them all would save %s ms):", len(r.PatchNext), formatMs(saving))
	} else {
		line("what to patch next (%d groups, by calls; no times: --timing=off):", len(r.PatchNext))
	}
	const numW = 9
	codeW := TextWidth - 2 - 3*(numW+2) - 2
	line("  %-*s  %*s  %*s  %*s", codeW, "code (object)", numW, "calls", numW, "ms", numW, "saving ms")
	for _, g := range r.PatchNext[:min(len(r.PatchNext), TextTopPatch)] {
		line("  %-*s  %*d  %*s  %*s", codeW, clipRight(patchLabel(&g), codeW), numW, g.Calls,
			numW, formatMs(g.TimeNs), numW, formatMs(g.SavingNs))
		line("    %s", clipRight(groupMembers(&g), TextWidth-4))
	}
	if len(r.PatchNext) > TextTopPatch {
		line("  … %d more group(s)", len(r.PatchNext)-TextTopPatch)
	}
}

// patchLabel is a group's code and the file name of its object.
func patchLabel(g *PatchGroup) string {
	obj := g.Object
	if i := strings.LastIndexByte(obj, '/'); i >= 0 {
		obj = obj[i+1:]
	}
	return g.Code + " (" + obj + ")"
}

// groupMembers lists a group's syscalls, and its functions when they are
// not just the group's name.
func groupMembers(g *PatchGroup) string {
	s := fmt.Sprintf("%d site(s): %s", g.Sites, strings.Join(g.Syscalls, " "))
	if g.Kind != PatchFunction && len(g.Functions) > 0 {
		s += "; in " + strings.Join(g.Functions, " ")
	}
	return s
}

func formatMs(ns uint64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) }

func formatHz(t *Timing) string {
	if t == nil {
		return "?"
	}
	return strconv.FormatFloat(float64(t.TSCHz)/1e9, 'f', 3, 64) + " GHz"
}

func tscSource(t *Timing) string {
	if t == nil {
		return "rate unknown"
	}
	return t.TSCSource
}

// writeTimeChanges writes, when both reports were timed, the mean time a
// call of the syscalls that took the most time in either, base and new,
// by kind.
func (d *Diff) writeTimeChanges(line func(string, ...any)) {
	if d.Base.Totals.TimeNs.zero() || d.New.Totals.TimeNs.zero() {
		return
	}
	type pair struct {
		name      string
		base, new SyscallRow
		total     uint64
	}
	rows := map[int]*pair{}
	var order []int
	add := func(row SyscallRow, isNew bool) {
		if row.Int80 > 0 || row.TimeNs.zero() {
			return
		}
		p := rows[row.Nr]
		if p == nil {
			p = &pair{name: row.Name}
			rows[row.Nr] = p
			order = append(order, row.Nr)
		}
		if isNew {
			p.new = row
		} else {
			p.base = row
		}
		p.total = max(p.total, row.TimeNs.Bypass+row.TimeNs.Trap+row.TimeNs.Patched)
	}
	for _, row := range d.Base.Syscalls {
		add(row, false)
	}
	for _, row := range d.New.Syscalls {
		add(row, true)
	}
	sort.SliceStable(order, func(i, j int) bool { return rows[order[i]].total > rows[order[j]].total })
	mean := func(m, calls uint64) string {
		if calls == 0 {
			return "-"
		}
		return strconv.FormatUint(m, 10)
	}
	line("")
	line("mean ns a call, base -> new (the syscalls that took the most time):")
	line("  %-22s  %17s  %17s  %17s", "syscall", "bypass", "trap", "patched")
	for _, nr := range order[:min(len(order), TextTopTimes)] {
		p := rows[nr]
		cell := func(b, bc, n, nc uint64) string { return mean(b, bc) + " -> " + mean(n, nc) }
		line("  %-22s  %17s  %17s  %17s", clipRight(p.name, 22),
			cell(p.base.MeanNs.Bypass, p.base.Bypass, p.new.MeanNs.Bypass, p.new.Bypass),
			cell(p.base.MeanNs.Trap, p.base.Trap, p.new.MeanNs.Trap, p.new.Trap),
			cell(p.base.MeanNs.Patched, p.base.Patched, p.new.MeanNs.Patched, p.new.Patched))
	}
}
