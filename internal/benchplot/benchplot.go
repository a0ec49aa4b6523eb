// Package benchplot renders docs/bench-apps.svg, the plot of `make
// bench-apps`, from the rows that run kept in docs/bench-apps.tsv: one bar
// per workload and vsysbed mode, its length the ratio to native in the same
// run. The plot is generated, never drawn by hand; a test fails when the
// committed SVG is not what Render makes of the committed rows.
package benchplot

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Row is one line of the TSV that scripts/bench-apps.sh writes: one
// workload metric in one mode.
type Row struct {
	Workload string // redis, nginx, find, du
	Metric   string // SET, GET, static, time
	Unit     string // req/s or s
	Mode     string // native, seccomp, sud, rewrite=off, rewrite=lazy
	Value    string // the figure, "n/a (...)" for a mode that did not run, "-" for a failed run
	Ratio    string // value / native value, "-" when there is none
	Calls    string // the report's shares, "-" natively
}

// Data is a parsed TSV: its comment lines (the machine, the date) and rows.
type Data struct {
	Comments []string
	Rows     []Row
}

var header = []string{"workload", "metric", "unit", "mode", "value", "ratio", "calls"}

// Parse reads the TSV: "#" comment lines, the header line, then one row a
// line with exactly the header's fields.
func Parse(r io.Reader) (Data, error) {
	var d Data
	sc := bufio.NewScanner(r)
	sawHeader := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "#"); ok {
			d.Comments = append(d.Comments, strings.TrimSpace(c))
			continue
		}
		f := strings.Split(line, "\t")
		if !sawHeader {
			if strings.Join(f, "\t") != strings.Join(header, "\t") {
				return Data{}, fmt.Errorf("line %d: header is %q, want %q", n, line, strings.Join(header, "\t"))
			}
			sawHeader = true
			continue
		}
		if len(f) != len(header) {
			return Data{}, fmt.Errorf("line %d: %d fields, want %d", n, len(f), len(header))
		}
		if f[5] != "-" {
			if _, err := strconv.ParseFloat(f[5], 64); err != nil {
				return Data{}, fmt.Errorf("line %d: ratio %q: %w", n, f[5], err)
			}
		}
		d.Rows = append(d.Rows, Row{f[0], f[1], f[2], f[3], f[4], f[5], f[6]})
	}
	if err := sc.Err(); err != nil {
		return Data{}, err
	}
	if !sawHeader {
		return Data{}, fmt.Errorf("no header line")
	}
	return d, nil
}

// Layout, in SVG user units.
const (
	width      = 760
	labelWidth = 110 // workload names left of the bars
	rightPad   = 90  // room for the ratio printed after the longest bar
	barHeight  = 13
	barGap     = 3
	groupGap   = 10
	lineHeight = 16
)

// modeColours gives each vsysbed mode its bar colour; a mode not listed
// (a future one) is grey.
var modeColours = map[string]string{
	"seccomp":      "#4e79a7",
	"sud":          "#f28e2b",
	"rewrite=off":  "#9c755f",
	"rewrite=lazy": "#59a14f",
}

// panel is one unit's workloads, on a scale of its own: throughput ratios
// sit around 1 (higher is better), time ratios reach several times native
// (lower is better).
type panel struct {
	title  string
	groups []group
}

type group struct {
	label string
	rows  []Row
}

func panels(rows []Row) []panel {
	var out []panel
	find := func(unit string) *panel {
		title := "time, vsysbed / native (lower is better)"
		if unit == "req/s" {
			title = "throughput, vsysbed / native (higher is better)"
		}
		for i := range out {
			if out[i].title == title {
				return &out[i]
			}
		}
		out = append(out, panel{title: title})
		return &out[len(out)-1]
	}
	for _, r := range rows {
		if r.Mode == "native" {
			continue
		}
		p := find(r.Unit)
		label := r.Workload
		if r.Metric != "time" && r.Metric != "static" {
			label += " " + r.Metric
		}
		// The script writes a workload's metrics mode by mode (redis SET
		// and GET from one run), so a group is looked up, not just the last.
		gi := -1
		for i := range p.groups {
			if p.groups[i].label == label {
				gi = i
			}
		}
		if gi < 0 {
			p.groups = append(p.groups, group{label: label})
			gi = len(p.groups) - 1
		}
		p.groups[gi].rows = append(p.groups[gi].rows, r)
	}
	return out
}

// modes lists the vsysbed modes in the order they first appear.
func modes(rows []Row) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Mode != "native" && !seen[r.Mode] {
			seen[r.Mode] = true
			out = append(out, r.Mode)
		}
	}
	return out
}

// scaleMax is the ratio at the right end of a panel's axis: the largest
// ratio or 1 (native), rounded up to a whole number, or to 0.5 below 2.
func scaleMax(p panel) float64 {
	m := 1.0
	for _, g := range p.groups {
		for _, r := range g.rows {
			if v, err := strconv.ParseFloat(r.Ratio, 64); err == nil && v > m {
				m = v
			}
		}
	}
	if m < 2 {
		return math.Ceil(m*2) / 2
	}
	return math.Ceil(m)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func text(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// Render writes the plot of d as SVG.
func Render(w io.Writer, d Data) error {
	var b strings.Builder
	ps := panels(d.Rows)
	ms := modes(d.Rows)
	plotWidth := float64(width - labelWidth - rightPad)

	// Heights first: the SVG's size goes in its opening tag.
	y := 24 + lineHeight*len(d.Comments) + 10 + lineHeight + 8 // title, comments, legend
	height := y
	for _, p := range ps {
		height += lineHeight + 6
		for _, g := range p.groups {
			height += len(g.rows)*(barHeight+barGap) + groupGap
		}
		height += lineHeight + 10 // axis labels
	}

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="14" font-weight="bold">make bench-apps: Debian programs under vsysbed, ratio to native in the same run</text>`+"\n")
	for i, c := range d.Comments {
		fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555555">%s</text>`+"\n", 24+lineHeight*(i+1), text(c))
	}
	ly := 24 + lineHeight*len(d.Comments) + 10 + lineHeight
	lx := 10
	for _, m := range ms {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", lx, ly-10, colour(m))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+16, ly, text(m))
		lx += 16 + 8*len(m) + 20
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>`+"\n", lx, ly-4, lx+20, ly-4)
	fmt.Fprintf(&b, `<text x="%d" y="%d">native (1×)</text>`+"\n", lx+24, ly)

	for _, p := range ps {
		y += lineHeight
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y, text(p.title))
		y += 6
		top := y
		scale := scaleMax(p)
		x := func(ratio float64) float64 { return float64(labelWidth) + plotWidth*ratio/scale }
		for _, g := range p.groups {
			gh := len(g.rows) * (barHeight + barGap)
			fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+gh/2+4, text(g.label))
			for _, r := range g.rows {
				v, err := strconv.ParseFloat(r.Ratio, 64)
				if err != nil {
					why := "failed"
					if strings.HasPrefix(r.Value, "n/a") {
						why = r.Value
					}
					fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#888888">%s: %s</text>`+"\n", labelWidth+4, y+barHeight-3, text(r.Mode), text(why))
				} else {
					fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%d" fill="%s"/>`+"\n", labelWidth, y, num(x(v)-labelWidth), barHeight, colour(r.Mode))
					fmt.Fprintf(&b, `<text x="%s" y="%d">%s×</text>`+"\n", num(x(v)+4), y+barHeight-3, text(r.Ratio))
				}
				y += barHeight + barGap
			}
			y += groupGap
		}
		bottom := y - groupGap
		// The axis: ticks at every whole ratio (every 0.5 below 2) and the
		// native line at 1.
		step := 1.0
		if scale <= 2 {
			step = 0.5
		}
		for t := 0.0; t <= scale+1e-9; t += step {
			fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#cccccc"/>`+"\n", num(x(t)), top, num(x(t)), bottom+4)
			fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" fill="#555555">%s×</text>`+"\n", num(x(t)), bottom+lineHeight, num(t))
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>`+"\n", num(x(1)), top-2, num(x(1)), bottom+4)
		y = bottom + lineHeight + 10
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func colour(mode string) string {
	if c, ok := modeColours[mode]; ok {
		return c
	}
	return "#999999"
}
