package coverage

import (
	"html/template"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// HTMLChartRows is how many syscalls the HTML chart draws, busiest first;
// the rest are summed up in a note below it.
const HTMLChartRows = 40

// htmlTemplate is parsed on first use: every vsysbed process (each host
// process, each fork) links this package, and only `report show` renders.
var htmlTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.Must(template.New("report").Parse(htmlSource)).Parse(htmlTimingSource))
})

// Chart geometry, in SVG user units (CSS pixels at 100% zoom).
const (
	chartLabelW = 170 // syscall names, right-aligned against the bars
	chartBarW   = 620 // the busiest syscall's bar
	chartTextW  = 260 // the counts right of each bar
	chartRowH   = 24
	chartBarH   = 16
	chartPadTop = 4
)

// htmlPage is everything the template prints, computed in Go so the
// template stays free of arithmetic and every number is formatted once.
type htmlPage struct {
	R            *Report
	Commands     []string
	Status       string
	StatusClass  string
	BypassShare  string
	ShareClass   string
	Chart        htmlChart
	Syscalls     []htmlSyscall
	Sites        []htmlSite
	SiteCalls    uint64
	TrapSites    int
	Runs         []htmlRun
	ObjectsTable []htmlObject
	Functions    []htmlFunction   // the sites grouped by function
	Refusals     []htmlRefusal    // HTMLOptions.Refusal
	Sources      []htmlSourceFile // HTMLOptions.ReadSource
	Timing       htmlTiming
	Tampered     []htmlTampered // tampered.go
}

type htmlChart struct {
	Width, Height int
	LabelX        int
	TextX         int
	Rows          []htmlBar
	More          int    // syscalls not drawn
	MoreCalls     uint64 // their calls
}

type htmlBar struct {
	Y, TextY  int
	Name      string
	Segments  []htmlSegment
	Breakdown string
	Title     string
}

type htmlSegment struct {
	Class string
	X, W  string
	Y, H  int
	Title string
}

type htmlSyscall struct {
	SyscallRow
	Share string
}

type htmlSite struct {
	Index      int
	Count      uint64
	Syscall    string
	Nr         int
	Kind       string
	KindClass  string
	ObjectBase string
	Object     string
	Offset     string
	OffsetKey  string
	Function   string
	SourceDirs []string // directories of the source file, each with its "/"
	SourceBase string   // file name and line
	SourceKey  string
	BuildID    string
	BuildFull  string
	Query      string // what the filter box matches: every name of the site, lower case
	Rewrite    string // RewriteNote: what --rewrite=lazy did at a trap site
}

type htmlRun struct {
	Index    int
	Command  string
	Exit     string
	ExitBad  bool
	Complete bool
}

// htmlObject sums the sites of one object, so the page can say which
// library to fix first before the reader scrolls through every site.
type htmlObject struct {
	Object string
	Bypass uint64
	Trap   uint64
	VDSO   uint64
	Sites  int
}

// WriteHTML writes the report as one self-contained HTML page: a summary,
// an SVG chart of each syscall's calls by entry kind, the call sites
// grouped by function with a filter box, a sortable table of call sites
// and the runs the report covers. The same report always gives the same
// bytes. WriteHTMLWith adds what the page can read besides the report.
func (r *Report) WriteHTML(w io.Writer) error {
	return r.WriteHTMLWith(w, HTMLOptions{})
}

func (r *Report) htmlPage() *htmlPage {
	p := &htmlPage{
		R:           r,
		BypassShare: FormatBypassShare(r.Totals.Bypass, r.Totals.Entered()),
	}
	for _, run := range r.Runs {
		p.Commands = append(p.Commands, strings.Join(run.Command, " "))
	}
	if len(p.Commands) == 0 && len(r.Command) > 0 {
		p.Commands = []string{strings.Join(r.Command, " ")}
	}
	if r.Totals.Trap == 0 && r.Totals.Total > 0 {
		p.ShareClass = "ok"
	}

	p.Status = r.Exit.String()
	if r.Exit.FaultAddr != 0 || r.Exit.FaultRIP != 0 {
		p.Status += " (fault at " + r.Exit.FaultAddr.String() + ", rip " + r.Exit.FaultRIP.String() + ")"
	}
	p.StatusClass = "ok"
	if r.Exit.Signal != "" || r.Exit.Code != 0 {
		p.StatusClass = "bad"
	}

	rows := append([]SyscallRow(nil), r.Syscalls...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Total != rows[j].Total {
			return rows[i].Total > rows[j].Total
		}
		return rows[i].Nr < rows[j].Nr
	})
	for _, row := range rows {
		p.Syscalls = append(p.Syscalls, htmlSyscall{SyscallRow: row, Share: FormatBypassShare(row.Bypass, row.Entered())})
	}
	p.Chart = chartOf(rows)
	p.Timing = r.timingOf()

	objects := map[string]*htmlObject{}
	for i, s := range r.Sites {
		p.Sites = append(p.Sites, siteRow(i, s))
		p.SiteCalls += s.Count
		o := objects[s.Object]
		if o == nil {
			o = &htmlObject{Object: s.Object}
			objects[s.Object] = o
		}
		o.Sites++
		switch s.Kind {
		case KindBypass:
			o.Bypass += s.Count
		case KindTrap:
			o.Trap += s.Count
			p.TrapSites++
		case KindVDSO:
			o.VDSO += s.Count
		}
	}
	p.Functions = groupByFunction(p.Sites)
	for _, o := range objects {
		p.ObjectsTable = append(p.ObjectsTable, *o)
	}
	// The library with the most trapped calls is the one to fix first.
	sort.Slice(p.ObjectsTable, func(i, j int) bool {
		a, b := &p.ObjectsTable[i], &p.ObjectsTable[j]
		if a.Trap != b.Trap {
			return a.Trap > b.Trap
		}
		if at, bt := a.Bypass+a.Trap+a.VDSO, b.Bypass+b.Trap+b.VDSO; at != bt {
			return at > bt
		}
		return a.Object < b.Object
	})

	p.Tampered = r.htmlTampered()

	runs := r.Runs
	if len(runs) == 0 && (len(r.Command) > 0 || r.Schema != "") {
		// Reports written before runs were recorded hold their one run in
		// the top-level fields.
		runs = []Run{{Command: r.Command, Exit: r.Exit, Complete: r.Complete}}
	}
	for i, run := range runs {
		p.Runs = append(p.Runs, htmlRun{
			Index:    i + 1,
			Command:  strings.Join(run.Command, " "),
			Exit:     run.Exit.String(),
			ExitBad:  run.Exit.Signal != "" || run.Exit.Code != 0,
			Complete: run.Complete,
		})
	}
	return p
}

// chartOf lays out one stacked bar per syscall, rows already busiest first.
// Bars share one linear scale so lengths compare across syscalls; a kind
// with any calls gets at least one unit, so a single trap stays visible
// next to a million bypassed calls.
func chartOf(rows []SyscallRow) htmlChart {
	c := htmlChart{
		Width:  chartLabelW + 10 + chartBarW + 10 + chartTextW,
		LabelX: chartLabelW,
		TextX:  chartLabelW + 10 + chartBarW + 10,
	}
	shown := rows[:min(len(rows), HTMLChartRows)]
	for _, row := range rows[len(shown):] {
		c.More++
		c.MoreCalls += row.Total
	}
	var top uint64
	if len(shown) > 0 {
		top = shown[0].Total
	}
	for i, row := range shown {
		y := chartPadTop + i*chartRowH
		bar := htmlBar{
			Y:     y,
			TextY: y + chartBarH/2,
			Name:  row.Name,
		}
		x := float64(chartLabelW + 10)
		var parts []string
		for _, seg := range []struct {
			kind, label string
			n           uint64
		}{
			{"bypass", "bypass", row.Bypass},
			{"trap", "trap", row.Trap},
			{"patched", "patched", row.Patched},
			{"vdso", "vDSO", row.VDSO},
		} {
			if seg.n == 0 {
				continue
			}
			w := float64(seg.n) / float64(top) * chartBarW
			w = max(w, 1)
			bar.Segments = append(bar.Segments, htmlSegment{
				Class: seg.kind,
				X:     svgNum(x),
				W:     svgNum(w),
				Y:     y,
				H:     chartBarH,
				Title: row.Name + ": " + strconv.FormatUint(seg.n, 10) + " " + seg.label,
			})
			x += w
			parts = append(parts, strconv.FormatUint(seg.n, 10)+" "+seg.label)
		}
		bar.Breakdown = strconv.FormatUint(row.Total, 10)
		if len(parts) > 1 {
			bar.Breakdown += " = " + strings.Join(parts, " + ")
		} else if len(parts) == 1 {
			bar.Breakdown = parts[0]
		}
		bar.Title = row.Name + " (nr " + strconv.Itoa(row.Nr) + "): " + bar.Breakdown
		c.Rows = append(c.Rows, bar)
	}
	c.Height = chartPadTop*2 + len(shown)*chartRowH
	return c
}

// svgNum formats a coordinate with one decimal, dropping ".0": short and
// the same bytes on every platform.
func svgNum(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

func siteRow(i int, s Site) htmlSite {
	h := htmlSite{
		Index:     i,
		Count:     s.Count,
		Syscall:   s.Syscall,
		Nr:        s.Nr,
		Kind:      s.Kind,
		KindClass: kindClass(s.Kind),
		Rewrite:   RewriteNote(&s),
		Object:    s.Object,
		Offset:    s.Offset.String(),
		// Zero-padded so the page's script sorts offsets as strings,
		// exactly, without 53-bit JavaScript numbers.
		OffsetKey: padHex(uint64(s.Offset)),
		Function:  s.Function,
		BuildID:   s.BuildID,
		BuildFull: s.BuildID,
	}
	if h.Function == "" {
		h.Function = s.Symbol
	}
	h.Function = Demangle(h.Function)
	// The table names objects by file name, the full path being in the
	// objects table and the cell's title: long library paths would
	// otherwise squeeze the columns that tell sites apart.
	h.ObjectBase = s.Object
	if _, base := path.Split(s.Object); base != "" {
		h.ObjectBase = base
	}
	if s.File != "" {
		dir, base := path.Split(s.File)
		for _, d := range strings.SplitAfter(dir, "/") {
			if d != "" {
				h.SourceDirs = append(h.SourceDirs, d)
			}
		}
		h.SourceBase = base
		h.SourceKey = s.File
		if s.Line > 0 {
			h.SourceBase += ":" + strconv.Itoa(s.Line)
			h.SourceKey += ":" + padDec(s.Line)
		}
	}
	if len(h.BuildID) > 12 {
		h.BuildID = h.BuildID[:12]
	}
	h.Query = strings.ToLower(strings.Join([]string{s.Syscall, s.Kind, s.Object, h.Function, s.File, h.Offset}, " "))
	return h
}

// kindClass maps a site kind to one of the page's fixed CSS classes; a
// kind this build does not know gets none rather than a class built from
// report data.
func kindClass(kind string) string {
	switch kind {
	case KindBypass:
		return "bypass"
	case KindTrap:
		return "trap"
	case KindVDSO:
		return "vdso"
	case KindPatched:
		return "patched"
	}
	return "other"
}

func padHex(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

func padDec(v int) string {
	s := strconv.Itoa(v)
	if len(s) < 10 {
		s = strings.Repeat("0", 10-len(s)) + s
	}
	return s
}

// htmlSource is the page. It is one self-contained file: CSS and the
// sorting script are inline and it names no URL, so a report attached to a
// CI run opens the same offline, in a sandboxed viewer, years later. The
// script only reorders rows the page already holds; without it the tables
// stay in the report's order.
const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vsysbed">
<title>vsysbed report{{with .Commands}}: {{index . 0}}{{end}}</title>
<style>
:root {
  --bypass: #1a9850; --trap: #d73027; --vdso: #4575b4; --patched: #fc8d59; --other: #8c8c8c;
  --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg-soft: #f6f8fa;
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h2 .count { color: var(--muted); font-weight: normal; font-size: 14px; }
code, .mono, td.num { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.cmd { display: block; background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 10px; margin: 4px 0; overflow-wrap: anywhere; }
.cmd::before { content: "$ "; color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 12px; }
.card { flex: 1 1 180px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 18px; font-weight: 600; margin-top: 2px; }
.card .sub { color: var(--muted); font-size: 12.5px; }
.card.share .value { font-size: 26px; }
.ok { color: var(--bypass); }
.bad { color: var(--trap); }
.warn { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.totalbar { display: flex; height: 14px; border-radius: 4px; overflow: hidden; background: var(--bg-soft); margin: 6px 0 4px; }
.totalbar span { display: block; min-width: 2px; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; margin: 6px 0; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; background: currentColor; }
.legend .bypass { color: var(--bypass); } .legend .trap { color: var(--trap); } .legend .vdso { color: var(--vdso); }
.legend .patched { color: var(--patched); }
.legend b { color: var(--fg); }
svg.chart { display: block; max-width: 100%; height: auto; font-size: 12.5px; }
svg.chart .name { text-anchor: end; fill: var(--fg); font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
svg.chart .counts { fill: var(--muted); }
svg.chart rect.bypass { fill: var(--bypass); } svg.chart rect.trap { fill: var(--trap); }
svg.chart rect.vdso { fill: var(--vdso); } svg.chart rect.patched { fill: var(--patched); }
.note { color: var(--muted); margin: 6px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; white-space: nowrap; position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tbody tr:hover { background: #f0f6ff; }
th[data-type] { cursor: pointer; user-select: none; }
th[data-type]::after { content: " \2195"; color: #b0b7bf; }
th[aria-sort="ascending"]::after { content: " \25B2"; color: var(--fg); }
th[aria-sort="descending"]::after { content: " \25BC"; color: var(--fg); }
.kind { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; color: #fff; background: var(--other); }
.kind.bypass { background: var(--bypass); } .kind.trap { background: var(--trap); } .kind.vdso { background: var(--vdso); }
.kind.patched { background: var(--patched); }
.dir { color: var(--muted); }
td.obj { overflow-wrap: anywhere; }
td.src { min-width: 12em; }
#site-table td { white-space: nowrap; }
#site-table td.src { white-space: normal; }
.none { color: #b0b7bf; }
details summary { cursor: pointer; color: var(--muted); margin: 8px 0; }
#filter { font: inherit; width: min(36em, 100%); padding: 5px 9px; border: 1px solid var(--line); border-radius: 6px; }
details.fn { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 0 10px; }
details.fn > summary { color: var(--fg); margin: 6px 0; }
details.fn > summary .fname { font-weight: 600; }
details.fn table { width: auto; min-width: 60%; margin-bottom: 8px; }
details.fn td { white-space: nowrap; }
.hidden { display: none; }
table.source { width: auto; min-width: 60%; margin-bottom: 10px; }
table.source td { border: 0; padding: 0 8px; white-space: pre; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
table.source td.ln { color: var(--muted); text-align: right; user-select: none; }
table.source td.calls { text-align: right; color: var(--trap); font-weight: 600; }
table.source tr.hit td.code { background: #fde0dd; }
table.source tr.gap td { color: var(--muted); }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<main>
<h1>vsysbed coverage report</h1>
{{range .Commands}}<code class="cmd">{{.}}</code>
{{else}}<p class="note">no command recorded</p>
{{end}}
<section class="cards" id="summary">
<div class="card"><div class="label">Exit</div><div class="value {{.StatusClass}}">{{.Status}}</div>
{{- if ne .R.Host .R.Exit}}<div class="sub">host process: {{.R.Host}}</div>{{end}}</div>
<div class="card"><div class="label">Report</div>
{{- if .R.Complete}}<div class="value ok">complete</div><div class="sub">every thread's counts read</div>
{{- else}}<div class="value bad">incomplete</div><div class="sub">{{.R.IncompleteReason}}</div>{{end}}</div>
<div class="card"><div class="label">Trap mode</div><div class="value">{{or .R.TrapMode "unknown"}}</div>
<div class="sub">{{.R.Threads}} thread(s), {{len .Runs}} run(s)</div></div>
<div class="card share"><div class="label">Bypassed</div><div class="value {{.ShareClass}}">{{.BypassShare}}</div>
<div class="sub">{{.R.Totals.Bypass}} of the {{.R.Totals.Entered}} calls that entered the kernel; {{.R.Totals.Trap}} trapped{{if .R.Totals.Patched}}, {{.R.Totals.Patched}} patched{{end}}; {{.R.Totals.VDSO}} vdso</div></div>
</section>
{{with .R.Totals}}<div class="totalbar" title="all calls by entry path">
{{- if .Bypass}}<span style="flex-grow: {{.Bypass}}; background: var(--bypass)"></span>{{end}}
{{- if .Trap}}<span style="flex-grow: {{.Trap}}; background: var(--trap)"></span>{{end}}
{{- if .Patched}}<span style="flex-grow: {{.Patched}}; background: var(--patched)"></span>{{end}}
{{- if .VDSO}}<span style="flex-grow: {{.VDSO}}; background: var(--vdso)"></span>{{end -}}
</div>
<div class="legend"><span class="bypass">bypass <b>{{.Bypass}}</b></span><span class="trap">trap <b>{{.Trap}}</b></span><span class="vdso">vdso <b>{{.VDSO}}</b></span>{{if .Patched}}<span class="patched">patched <b>{{.Patched}}</b></span>{{end}}<span class="total-count">total <b>{{.Total}}</b></span></div>
{{end}}
{{if .R.SitesDropped}}<p class="warn">{{.R.SitesDropped}} call(s) have no site: a thread's site table was full. They are counted in the totals and the chart.</p>{{end}}
{{with .R.Errors}}<div class="warn" id="errors"><b>Errors</b><ul>{{range .}}<li>{{.}}</li>{{end}}</ul></div>{{end}}

<h2 id="syscalls">Syscalls by entry path <span class="count">({{len .Syscalls}} syscalls)</span></h2>
{{with .Chart}}{{if .Rows}}<div class="legend"><span class="bypass">bypass: through __kernel_vsyscall</span><span class="trap">trap: raw syscall instruction</span><span class="vdso">vdso: answered in the vDSO</span></div>
<svg class="chart" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="calls per syscall by entry path">
{{range .Rows}}<g class="bar"><title>{{.Title}}</title><text class="name" x="{{$.Chart.LabelX}}" y="{{.TextY}}" dominant-baseline="middle">{{.Name}}</text>
{{- range .Segments}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end -}}
<text class="counts" x="{{$.Chart.TextX}}" y="{{.TextY}}" dominant-baseline="middle">{{.Breakdown}}</text></g>
{{end}}</svg>
{{if .More}}<p class="note" id="more">… {{.More}} more syscall(s), {{.MoreCalls}} call(s), not drawn: see the table below.</p>{{end}}
{{else}}<p class="note">No syscalls were counted.</p>{{end}}{{end}}
{{if .Syscalls}}<details><summary>All syscalls as a table</summary>
<table class="sortable" id="syscall-table"><thead><tr><th data-type="text">syscall</th><th class="num" data-type="num">nr</th><th class="num" data-type="num">bypass</th><th class="num" data-type="num">trap</th><th class="num" data-type="num">vdso</th><th class="num" data-type="num" aria-sort="descending">total</th><th class="num">% bypass</th></tr></thead>
<tbody>
{{range $i, $s := .Syscalls}}<tr data-i="{{$i}}"><td class="mono">{{$s.Name}}</td><td class="num">{{$s.Nr}}</td><td class="num">{{$s.Bypass}}</td><td class="num">{{$s.Trap}}</td><td class="num">{{$s.VDSO}}</td><td class="num">{{$s.Total}}</td><td class="num">{{$s.Share}}</td></tr>
{{end}}</tbody></table></details>{{end}}

{{if .ObjectsTable}}<h2 id="objects">Objects <span class="count">(most trapped calls first)</span></h2>
<table id="object-table"><thead><tr><th>object</th><th class="num">sites</th><th class="num">bypass</th><th class="num">trap</th><th class="num">vdso</th></tr></thead>
<tbody>
{{range .ObjectsTable}}<tr><td class="obj mono">{{.Object}}</td><td class="num">{{.Sites}}</td><td class="num">{{.Bypass}}</td><td class="num">{{.Trap}}</td><td class="num">{{.VDSO}}</td></tr>
{{end}}</tbody></table>{{end}}

{{with .Refusals}}<h2 id="refused">Calls vsysbed refused <span class="count">({{len .}} syscalls: these fail here, where natively they may not)</span></h2>
<table id="refusal-table"><thead><tr><th>syscall</th><th class="num">nr</th><th class="num">calls</th><th>answer</th><th>why</th></tr></thead>
<tbody>
{{range .}}<tr class="refusal"><td class="mono">{{.Name}}</td><td class="num">{{.Nr}}</td><td class="num">{{.Calls}}</td><td class="mono bad">-1 {{.Errno}}</td><td>{{.Why}}</td></tr>
{{end}}</tbody></table>{{end}}

{{if .Functions}}<h2 id="functions">Call sites by function <span class="count">({{len .Functions}} functions, trapping ones first and unfolded)</span></h2>
<p><input type="search" id="filter" placeholder="filter the sites: syscall, kind, function, object, file" aria-label="filter the call sites"> <span class="note" id="filter-count"></span></p>
{{range .Functions}}<details class="fn"{{if .Open}} open{{end}}><summary><span class="mono fname">{{.Function}}</span> <span class="dir mono" title="{{.Object}}">{{.ObjectBase}}</span> <span class="count">· {{len .Sites}} site(s), {{.Calls}} call(s){{if .Trap}}, <span class="bad">{{.Trap}} trapped</span>{{end}}</span></summary>
<table class="fn-sites"><thead><tr><th class="num">count</th><th>syscall</th><th>kind</th><th class="num">offset</th><th>file:line</th></tr></thead><tbody>
{{range .Sites}}<tr class="site" data-q="{{.Query}}"><td class="num">{{.Count}}</td><td class="mono">{{.Syscall}}</td><td><span class="kind {{.KindClass}}">{{.Kind}}</span></td><td class="num">{{.Offset}}</td><td class="mono">{{if .SourceBase}}{{.SourceBase}}{{else}}–{{end}}</td></tr>
{{end}}</tbody></table></details>
{{end}}{{end}}

{{with .Sources}}<h2 id="source">Trapping source lines <span class="count">({{len .}} file(s); the lines whose syscall instructions trapped, with their trapped calls)</span></h2>
{{range .}}<details class="src" open><summary class="mono">{{.File}} · {{.Calls}} trapped call(s)</summary>
<table class="source"><tbody>
{{range .Lines}}{{if .Gap}}<tr class="gap"><td class="ln">⋮</td><td></td><td></td></tr>
{{else}}<tr{{if .Calls}} class="hit" title="{{.Calls}} trapped: {{.What}}"{{end}}><td class="ln">{{.N}}</td><td class="calls">{{if .Calls}}{{.Calls}}×{{end}}</td><td class="code">{{.Text}}</td></tr>
{{end}}{{end}}</tbody></table></details>
{{end}}{{end}}

{{template "timing" .Timing}}
{{if .Tampered}}<h2 id="tampered">Calls changed <span class="count">(--inject{{with .R.Personality}}, missing in {{.}}{{end}})</span></h2>
<table id="tampered-table"><thead><tr><th>change</th><th class="num">calls</th><th class="num">of</th><th>syscall</th><th>object</th><th class="num">offset</th><th>function</th></tr></thead>
<tbody>
{{range .Tampered}}<tr><td>{{.What}}</td><td class="num">{{.Changed}}</td><td class="num">{{.Count}}</td><td class="mono">{{.Syscall}}</td><td class="mono" title="{{.Object}}">{{.ObjectBase}}</td><td class="num">{{.Offset}}</td><td class="mono">{{or .Function "–"}}</td></tr>
{{end}}</tbody></table>{{end}}

<h2 id="sites">Call sites <span class="count">({{len .Sites}} sites, {{.SiteCalls}} calls, {{.TrapSites}} of them trapping; click a column to sort)</span></h2>
{{if .Sites}}<table class="sortable" id="site-table"><thead><tr><th class="num" data-type="num" aria-sort="descending">count</th><th data-type="text">syscall</th><th data-type="text">kind</th><th data-type="text">object</th><th class="num" data-type="text">offset</th><th data-type="text">function</th><th data-type="text">file:line</th><th data-type="text">build-id</th></tr></thead>
<tbody>
{{range .Sites}}<tr class="site" data-i="{{.Index}}" data-q="{{.Query}}"><td class="num">{{.Count}}</td><td class="mono" data-v="{{.Syscall}}" title="nr {{.Nr}}">{{.Syscall}}</td><td data-v="{{.Kind}}"><span class="kind {{.KindClass}}">{{.Kind}}</span>{{with .Rewrite}} <small>{{.}}</small>{{end}}</td><td class="mono" data-v="{{.Object}}" title="{{.Object}}">{{.ObjectBase}}</td><td class="num" data-v="{{.OffsetKey}}">{{.Offset}}</td><td class="mono" data-v="{{.Function}}">{{or .Function "–"}}</td><td class="mono src" data-v="{{.SourceKey}}">{{if .SourceBase}}<span class="dir">{{range .SourceDirs}}{{.}}<wbr>{{end}}</span>{{.SourceBase}}{{else}}–{{end}}</td><td class="mono" data-v="{{.BuildFull}}"{{with .BuildFull}} title="{{.}}"{{end}}>{{or .BuildID "–"}}</td></tr>
{{end}}</tbody></table>
{{else}}<p class="note">No call sites were recorded.</p>{{end}}

<h2 id="runs">Runs <span class="count">({{len .Runs}})</span></h2>
{{if .Runs}}<table id="run-table"><thead><tr><th class="num">#</th><th>command</th><th>exit</th><th>report</th></tr></thead>
<tbody>
{{range .Runs}}<tr class="run"><td class="num">{{.Index}}</td><td class="mono">{{.Command}}</td><td class="{{if .ExitBad}}bad{{else}}ok{{end}}">{{.Exit}}</td><td>{{if .Complete}}complete{{else}}<span class="bad">incomplete</span>{{end}}</td></tr>
{{end}}</tbody></table>
{{else}}<p class="note">The report lists no runs.</p>{{end}}
{{with .R.Processes}}<h2 id="processes">Processes <span class="count">({{len .}})</span></h2>
<table id="process-table"><thead><tr><th class="num">pid</th><th class="num">parent</th><th>images</th><th>exit</th></tr></thead>
<tbody>
{{range .}}<tr class="process"><td class="num">{{.Pid}}</td><td class="num">{{if .Parent}}{{.Parent}}{{else}}–{{end}}</td><td class="mono">{{range $i, $m := .Images}}{{if $i}} → {{end}}{{$m}}{{else}}(its parent's){{end}}</td><td>{{with .Exit}}{{.String}}{{else}}–{{end}}</td></tr>
{{end}}</tbody></table>{{end}}
{{with .R.Execs}}<h2 id="execs">Programs executed <span class="count">({{len .}})</span></h2>
<table><thead><tr><th>path</th><th>argv</th><th>interpreter</th></tr></thead>
<tbody>
{{range .}}<tr><td class="mono">{{.Path}}</td><td class="mono">{{range $i, $a := .Argv}}{{if $i}} {{end}}{{$a}}{{end}}</td><td class="mono">{{or .Interp "–"}}</td></tr>
{{end}}</tbody></table>{{end}}
<footer>{{.R.Schema}} · written by vsysbed{{with .R.Version}} {{.}}{{end}}</footer>
</main>
<script>
(function () {
  function key(row, i, type) {
    var td = row.cells[i];
    var v = td.getAttribute('data-v');
    if (v === null) v = td.textContent;
    return type === 'num' ? Number(v) : v;
  }
  function sortBy(table, i, th) {
    var type = th.getAttribute('data-type');
    var first = type === 'num' ? 'descending' : 'ascending';
    var next = th.getAttribute('aria-sort') === first ? (first === 'ascending' ? 'descending' : 'ascending') : first;
    var dir = next === 'ascending' ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, i, type), y = key(b, i, type);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) return Number(a.getAttribute('data-i')) - Number(b.getAttribute('data-i'));
      return c * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', next);
  }
  var filter = document.getElementById('filter');
  if (filter) {
    var count = document.getElementById('filter-count');
    filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase(), shown = 0, all = 0;
      Array.prototype.forEach.call(document.querySelectorAll('tr.site'), function (tr) {
        var hit = q === '' || tr.getAttribute('data-q').indexOf(q) >= 0;
        tr.classList.toggle('hidden', !hit);
        if (tr.closest('#site-table')) { all++; if (hit) shown++; }
      });
      Array.prototype.forEach.call(document.querySelectorAll('details.fn'), function (d) {
        var any = d.querySelector('tr.site:not(.hidden)') !== null;
        d.classList.toggle('hidden', !any);
        if (q !== '' && any) d.open = true;
      });
      count.textContent = q === '' ? '' : shown + ' of ' + all + ' sites';
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (!th.hasAttribute('data-type')) return;
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, i, th); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });
})();
</script>
</body>
</html>
`
