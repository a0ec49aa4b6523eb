package coverage

import (
	"sort"
	"strconv"
	"strings"
)

// htmlPatch is one line of the HTML page's "what to patch next".
type htmlPatch struct {
	PatchGroup
	ObjectBase, Members, Time, Saving string
}

// htmlTime is one syscall of the HTML page's time table.
type htmlTime struct {
	Name                  string
	Bypass, Trap, Patched string // means, ns
	Total                 string // ms
	TotalNs               uint64
}

// htmlTiming is the page's time and "what to patch next" sections.
type htmlTiming struct {
	PatchNext []htmlPatch
	Times     []htmlTime
	Clock     string // the TSC rate and its source, "" without times
}

// timingOf lays out the page's time and patch-next sections.
func (r *Report) timingOf() htmlTiming {
	var t htmlTiming
	for _, g := range r.PatchNext {
		t.PatchNext = append(t.PatchNext, htmlPatch{PatchGroup: g, ObjectBase: baseName(g.Object),
			Members: groupMembers(&g), Time: formatMs(g.TimeNs), Saving: formatMs(g.SavingNs)})
	}
	if r.Totals.TimeNs.zero() {
		return t
	}
	t.Clock = formatHz(r.Timing) + ", " + tscSource(r.Timing)
	cell := func(mean, calls uint64) string {
		if calls == 0 {
			return "–"
		}
		return strconv.FormatUint(mean, 10)
	}
	for _, row := range r.Syscalls {
		if row.TimeNs.zero() {
			continue
		}
		total := row.TimeNs.Bypass + row.TimeNs.Trap + row.TimeNs.Patched
		t.Times = append(t.Times, htmlTime{Name: row.Name, Bypass: cell(row.MeanNs.Bypass, row.Bypass),
			Trap: cell(row.MeanNs.Trap, row.Trap), Patched: cell(row.MeanNs.Patched, row.Patched),
			Total: formatMs(total), TotalNs: total})
	}
	sort.SliceStable(t.Times, func(i, j int) bool { return t.Times[i].TotalNs > t.Times[j].TotalNs })
	return t
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// htmlTimingSource is the template of the two sections, defined into the
// page's template (htmlSource's {{template "timing" .Timing}}).
const htmlTimingSource = `{{define "timing"}}
{{if .PatchNext}}<h2 id="patch-next">What to patch next <span class="count">({{len .PatchNext}} groups, the largest saving if bypassed first)</span></h2>
<table id="patch-table"><thead><tr><th>code</th><th>kind</th><th>object</th><th class="num">sites</th><th class="num">calls</th><th class="num">ms</th><th class="num">saving ms</th><th>syscalls and functions</th></tr></thead>
<tbody>
{{range .PatchNext}}<tr class="patch"><td class="mono">{{.Code}}</td><td>{{.Kind}}</td><td class="mono" title="{{.Object}}">{{.ObjectBase}}</td><td class="num">{{.Sites}}</td><td class="num">{{.Calls}}</td><td class="num">{{.Time}}</td><td class="num">{{.Saving}}</td><td class="mono">{{.Members}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .Times}}<h2 id="times">Time in calls <span class="count">(mean ns a call by kind; TSC at {{.Clock}}; a trap's time starts in its SIGSYS handler)</span></h2>
<table class="sortable" id="time-table"><thead><tr><th data-type="text">syscall</th><th class="num" data-type="num">bypass</th><th class="num" data-type="num">trap</th><th class="num" data-type="num">patched</th><th class="num" data-type="num" aria-sort="descending">total ms</th></tr></thead>
<tbody>
{{range $i, $t := .Times}}<tr data-i="{{$i}}"><td class="mono">{{$t.Name}}</td><td class="num">{{$t.Bypass}}</td><td class="num">{{$t.Trap}}</td><td class="num">{{$t.Patched}}</td><td class="num">{{$t.Total}}</td></tr>
{{end}}</tbody></table>{{end}}
{{end}}`
