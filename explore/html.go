package explore

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Personality is a kernel to compare the program's needs with: its name
// and the syscalls it implements (kernelsim.Personality's).
type Personality struct {
	Name string
	Has  func(name string) bool
}

// MissingIn are the required syscalls p does not implement.
func (r *Result) MissingIn(p Personality) []string {
	var out []string
	for _, name := range r.Required {
		if !p.Has(name) {
			out = append(out, name)
		}
	}
	return out
}

// WriteHTML writes a page with the plots Loupe draws: for each
// personality, the program's required syscalls it implements and those
// it lacks (one bar each), the same for every used syscall, and the
// table of verdicts with each personality's support.
func (r *Result) WriteHTML(w io.Writer, ps []Personality) error {
	bw := bufio.NewWriter(w)
	esc := html.EscapeString
	fmt.Fprintf(bw, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>vsysbed explore: %s</title>\n", esc(strings.Join(r.Command, " ")))
	fmt.Fprint(bw, "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"+
		".req{background:#f8d0d0}.ok{color:#176b2c}.no{color:#b00020}</style></head><body>\n")
	fmt.Fprintf(bw, "<h1>What <code>%s</code> needs from the kernel</h1>\n", esc(strings.Join(r.Command, " ")))
	test := "its exit status and output equal to the first run's"
	if r.Test != "" {
		test = "<code>" + esc(r.Test) + "</code> exiting 0"
	}
	fmt.Fprintf(bw, "<p>%d used syscalls, %d required (neither stubbed nor faked works). A run works: %s; %d run(s) an experiment; %d experiments in %.1fs.</p>\n",
		len(r.Syscalls), len(r.Required), test, r.Runs, r.Experiments, r.Seconds)

	// The plot: one pair of bars a personality.
	const barH, gap, left, width = 22, 14, 150, 520
	n := len(r.Syscalls)
	height := len(ps)*(2*barH+gap) + 40
	fmt.Fprintf(bw, "<h2>Required by the program vs implemented by each personality</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-size=\"12\">\n", left+width+120, height)
	scale := func(k int) int {
		if n == 0 {
			return 0
		}
		return k * width / n
	}
	y := 10
	for _, p := range ps {
		reqHas, usedHas := 0, 0
		for _, v := range r.Syscalls {
			if p.Has(v.Name) {
				usedHas++
				if v.Required {
					reqHas++
				}
			}
		}
		for i, bar := range []struct {
			label     string
			has, want int
		}{{"required", reqHas, len(r.Required)}, {"used", usedHas, n}} {
			yy := y + i*barH
			if i == 0 {
				fmt.Fprintf(bw, "<text x=\"0\" y=\"%d\" font-weight=\"bold\">%s</text>\n", yy+15, esc(p.Name))
			}
			fmt.Fprintf(bw, "<text x=\"%d\" y=\"%d\">%s</text>\n", left-70, yy+15, bar.label)
			fmt.Fprintf(bw, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#2e7d32\"><title>%d implemented</title></rect>\n", left, yy+2, scale(bar.has), barH-4, bar.has)
			fmt.Fprintf(bw, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#c62828\"><title>%d missing</title></rect>\n", left+scale(bar.has), yy+2, scale(bar.want-bar.has), barH-4, bar.want-bar.has)
			fmt.Fprintf(bw, "<text x=\"%d\" y=\"%d\">%d/%d implemented</text>\n", left+scale(bar.want)+6, yy+15, bar.has, bar.want)
		}
		y += 2*barH + gap
	}
	fmt.Fprintf(bw, "<text x=\"%d\" y=\"%d\" fill=\"#2e7d32\">■ implemented</text><text x=\"%d\" y=\"%d\" fill=\"#c62828\">■ missing</text>\n</svg>\n", left, y+12, left+120, y+12)

	fmt.Fprint(bw, "<h2>Verdicts</h2>\n<table><tr><th>nr</th><th>syscall</th><th>calls</th><th>stubbed</th><th>faked</th><th>required</th>")
	for _, p := range ps {
		fmt.Fprintf(bw, "<th>in %s</th>", esc(p.Name))
	}
	fmt.Fprint(bw, "</tr>\n")
	mark := func(b bool) string {
		if b {
			return "<td class=\"ok\">yes</td>"
		}
		return "<td class=\"no\">no</td>"
	}
	for _, v := range r.Syscalls {
		class := ""
		if v.Required {
			class = " class=\"req\""
		}
		req := "no"
		if v.Required {
			req = "yes"
		}
		fmt.Fprintf(bw, "<tr%s><td>%d</td><td>%s</td><td>%d</td>%s%s<td>%s</td>", class, v.Nr, esc(v.Name), v.Calls, mark(v.Stubbed), mark(v.Faked), req)
		for _, p := range ps {
			fmt.Fprint(bw, mark(p.Has(v.Name)))
		}
		fmt.Fprint(bw, "</tr>\n")
	}
	fmt.Fprint(bw, "</table>\n</body></html>\n")
	return bw.Flush()
}
