package coverage

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// htmlReport is a small report with every section filled: two runs, sites
// of every kind, one of them fully symbolised.
func htmlReport() *Report {
	return &Report{
		Schema:   Schema,
		Command:  []string{"prog", "-v"},
		Exit:     ExitStatus{Code: 0},
		Host:     ExitStatus{Code: 0},
		Complete: true,
		TrapMode: "seccomp",
		Threads:  2,
		Totals:   Totals{Bypass: 16, Trap: 9, VDSO: 50, Total: 75},
		Syscalls: []SyscallRow{
			{Nr: 1, Name: "write", Bypass: 15, Trap: 4, Total: 19},
			{Nr: 39, Name: "getpid", Trap: 5, Total: 5},
			{Nr: 228, Name: "clock_gettime", VDSO: 50, Total: 50},
			{Nr: 231, Name: "exit_group", Bypass: 1, Total: 1},
		},
		Sites: []Site{
			{Address: 0x7f0000001234, Object: "/usr/lib/x86_64-linux-gnu/libc.so.6", Offset: 0x1234,
				Symbol: "write+0x14", Nr: 1, Syscall: "write", Kind: "bypass", Count: 15,
				BuildID: "0123456789abcdef0123456789abcdef01234567", Function: "__libc_write",
				File: "io/write.c", Line: 26},
			{Address: 0x401000, Object: "/work/prog", Offset: 0x1000, Symbol: "main+0x10",
				Nr: 39, Syscall: "getpid", Kind: "trap", Count: 5},
			{Address: 0x401010, Object: "/work/prog", Offset: 0x1010, Nr: 1, Syscall: "write", Kind: "trap", Count: 4},
			{Address: 0x1000, Object: UnknownObject, Offset: 0x1000, Nr: 231, Syscall: "exit_group", Kind: "bypass", Count: 1},
		},
		Execs: []Exec{{Path: "/work/prog", Argv: []string{"prog", "-v"}, Interp: "/lib64/ld-linux-x86-64.so.2"}},
		Runs: []Run{
			{Command: []string{"prog", "-v"}, Exit: ExitStatus{Code: 0}, Complete: true},
			{Command: []string{"other", "--flag"}, Exit: ExitStatus{Signal: "SIGSEGV"}, Complete: false},
		},
		Errors: []string{},
	}
}

func writeHTML(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.String()
}

// parseHTML checks the page parses and returns its tree.
func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	return doc
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

func element(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == tag }
}

func elementClass(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return element(tag)(n) && hasClass(n, class) }
}

func byID(doc *html.Node, id string) *html.Node {
	nodes := findAll(doc, func(n *html.Node) bool {
		v, ok := attr(n, "id")
		return n.Type == html.ElementNode && ok && v == id
	})
	if len(nodes) != 1 {
		return nil
	}
	return nodes[0]
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for _, t := range findAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

func TestHTMLStructure(t *testing.T) {
	r := htmlReport()
	doc := parseHTML(t, writeHTML(t, r))

	if svgs := findAll(doc, element("svg")); len(svgs) != 1 {
		t.Fatalf("%d <svg> elements, want 1", len(svgs))
	}
	if bars := findAll(doc, elementClass("g", "bar")); len(bars) != len(r.Syscalls) {
		t.Errorf("%d bars, want one per syscall (%d)", len(bars), len(r.Syscalls))
	}
	sites := byID(doc, "site-table")
	if sites == nil {
		t.Fatal("no site table")
	}
	rows := findAll(sites, elementClass("tr", "site"))
	if len(rows) != len(r.Sites) {
		t.Fatalf("%d site rows, want %d", len(rows), len(r.Sites))
	}
	headers := findAll(sites, element("th"))
	for i, row := range rows {
		if cells := findAll(row, element("td")); len(cells) != len(headers) {
			t.Errorf("site row %d has %d cells, the header %d", i, len(cells), len(headers))
		}
	}
	var names []string
	for _, h := range headers {
		names = append(names, textOf(h))
	}
	if got, want := strings.Join(names, ","), "count,syscall,kind,object,offset,function,file:line,build-id"; got != want {
		t.Errorf("site columns %q, want %q", got, want)
	}
	for _, col := range []string{"count", "syscall", "kind", "object", "function"} {
		i := indexOf(names, col)
		if _, ok := attr(headers[i], "data-type"); !ok {
			t.Errorf("column %q is not sortable", col)
		}
	}
	runs := findAll(doc, elementClass("tr", "run"))
	if len(runs) != len(r.Runs) {
		t.Errorf("%d run rows, want %d", len(runs), len(r.Runs))
	}
	if scripts := findAll(doc, element("script")); len(scripts) != 1 {
		t.Errorf("%d scripts, want the one inline sorter", len(scripts))
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestHTMLShowsReport(t *testing.T) {
	r := htmlReport()
	doc := parseHTML(t, writeHTML(t, r))
	text := textOf(doc)
	for _, want := range []string{
		"prog -v", "other --flag", // both runs' commands
		"exit code 0", "killed by SIGSEGV", "seccomp", "complete", "incomplete",
		"64%",                       // 16 of the 25 calls that entered the kernel bypassed
		"19 = 15 bypass + 4 trap",   // write's bar
		"50 vDSO",                   // clock_gettime's bar
		"__libc_write", "main+0x10", // Function wins over Symbol; Symbol when no Function
		"io/write.c:26", "0123456789ab", "0x1234", UnknownObject,
		"/lib64/ld-linux-x86-64.so.2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	// The full build-id stays reachable.
	if !strings.Contains(writeHTML(t, r), `title="0123456789abcdef0123456789abcdef01234567"`) {
		t.Error("full build-id not in a title")
	}
}

func TestHTMLIncomplete(t *testing.T) {
	r := htmlReport()
	r.Complete = false
	r.IncompleteReason = "host process killed by SIGKILL before the guest exited"
	r.Errors = []string{"shard 3: short read"}
	r.SitesDropped = 7
	text := textOf(parseHTML(t, writeHTML(t, r)))
	for _, want := range []string{r.IncompleteReason, "shard 3: short read", "7 call(s) have no site"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
}

func TestHTMLChartTop(t *testing.T) {
	r := &Report{Schema: Schema, Command: []string{"busy"}}
	for nr := 0; nr < HTMLChartRows+7; nr++ {
		n := uint64(1000 - nr)
		r.Syscalls = append(r.Syscalls, SyscallRow{Nr: nr, Name: "sys" + strconv.Itoa(nr), Trap: n, Total: n})
		r.Totals.addRow(&r.Syscalls[len(r.Syscalls)-1])
	}
	page := writeHTML(t, r)
	doc := parseHTML(t, page)
	bars := findAll(doc, elementClass("g", "bar"))
	if len(bars) != HTMLChartRows {
		t.Fatalf("%d bars, want the top %d", len(bars), HTMLChartRows)
	}
	// Busiest first: the first bar is nr 0, the last drawn nr 39.
	if !strings.Contains(textOf(bars[0]), "sys0") || !strings.Contains(textOf(bars[len(bars)-1]), "sys39") {
		t.Errorf("bars not busiest first: first %q, last %q", textOf(bars[0]), textOf(bars[len(bars)-1]))
	}
	var rest uint64
	for nr := HTMLChartRows; nr < HTMLChartRows+7; nr++ {
		rest += uint64(1000 - nr)
	}
	more := byID(doc, "more")
	if more == nil || !strings.Contains(textOf(more), fmt.Sprintf("… 7 more syscall(s), %d call(s)", rest)) {
		t.Errorf("no '… 7 more' note with %d calls", rest)
	}
}

func TestHTMLBarScale(t *testing.T) {
	rows := []SyscallRow{
		{Nr: 1, Name: "write", Bypass: 600000, Trap: 400000, Total: 1000000},
		{Nr: 39, Name: "getpid", Trap: 1, Total: 1},
	}
	c := chartOf(rows)
	width := func(b htmlBar) float64 {
		var w float64
		for _, s := range b.Segments {
			f, err := strconv.ParseFloat(s.W, 64)
			if err != nil {
				t.Fatalf("segment width %q: %v", s.W, err)
			}
			w += f
		}
		return w
	}
	if w := width(c.Rows[0]); w != chartBarW {
		t.Errorf("busiest bar is %v wide, want the full %d", w, chartBarW)
	}
	if got := c.Rows[0].Segments; len(got) != 2 || got[0].W != "372" || got[1].W != "248" || got[1].X != "552" {
		t.Errorf("write segments %+v, want bypass 372 then trap 248 at x 552", got)
	}
	if w := width(c.Rows[1]); w != 1 {
		t.Errorf("a single call is %v wide, want the 1-unit minimum", w)
	}
}

func TestHTMLEscapesHostileStrings(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	r := htmlReport()
	r.Command = []string{"/tmp/" + evil, `--a="b"&c`}
	r.Runs[0].Command = r.Command
	r.Sites[0].Object = "/tmp/" + evil + "/lib.so"
	r.Sites[0].Function = evil
	r.Sites[0].File = evil + ".c"
	r.Sites[0].BuildID = `"><img onerror=alert(1)>`
	r.Sites[0].Kind = `bypass" onclick="alert(1)`
	r.Syscalls[0].Name = evil
	r.Errors = []string{evil}
	r.IncompleteReason = evil
	r.Complete = false
	r.TrapMode = "</style>" + evil
	r.Execs[0].Argv = []string{evil}

	page := writeHTML(t, r)
	if strings.Contains(page, evil) || strings.Contains(page, "<img") || strings.Contains(page, `" onclick=`) {
		t.Fatalf("hostile string reached the page unescaped")
	}
	doc := parseHTML(t, page)
	if scripts := findAll(doc, element("script")); len(scripts) != 1 {
		t.Errorf("%d <script> elements, want only the page's own", len(scripts))
	}
	if imgs := findAll(doc, element("img")); len(imgs) != 0 {
		t.Errorf("hostile build-id made %d <img> elements", len(imgs))
	}
	for _, n := range findAll(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> got event handler %s=%q", n.Data, a.Key, a.Val)
			}
		}
	}
	// Escaped, the strings are still there for the reader.
	text := textOf(doc)
	for _, want := range []string{"/tmp/" + evil, evil + ".c", `--a="b"&c`} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	// An unknown kind gets the neutral class, not one made of report data.
	for _, n := range findAll(doc, elementClass("span", "kind")) {
		if v, _ := attr(n, "class"); textOf(n) == r.Sites[0].Kind && v != "kind other" {
			t.Errorf("unknown kind has class %q", v)
		}
	}
}

// externalRef matches anything that would make the browser fetch: URLs,
// src/href attributes, CSS imports and url().
var externalRef = regexp.MustCompile(`(?i)https?://|\bsrc\s*=|\bhref\s*=|@import|url\(|<link|<iframe|<object|<embed`)

func TestHTMLSelfContained(t *testing.T) {
	page := writeHTML(t, htmlReport())
	if m := externalRef.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("page references external resources: %q", m)
	}
}

func TestHTMLDeterministic(t *testing.T) {
	r := htmlReport()
	// Several objects with equal trap counts: their order must not come
	// from map iteration.
	for i := 0; i < 20; i++ {
		r.Sites = append(r.Sites, Site{Object: "/lib/o" + strconv.Itoa(i) + ".so", Offset: Hex(i), Syscall: "read", Kind: "trap", Count: 1})
	}
	first := writeHTML(t, r)
	for i := 0; i < 20; i++ {
		if again := writeHTML(t, r); again != first {
			t.Fatal("two renderings of the same report differ")
		}
	}
}

func TestHTMLEmptyReport(t *testing.T) {
	for _, r := range []*Report{{}, {Schema: Schema, Command: []string{"true"}}} {
		text := textOf(parseHTML(t, writeHTML(t, r)))
		for _, want := range []string{"No syscalls were counted.", "No call sites were recorded."} {
			if !strings.Contains(text, want) {
				t.Errorf("empty report page lacks %q", want)
			}
		}
	}
}

func TestHTMLOldReportWithoutRuns(t *testing.T) {
	r := htmlReport()
	r.Runs = nil
	doc := parseHTML(t, writeHTML(t, r))
	runs := findAll(doc, elementClass("tr", "run"))
	if len(runs) != 1 || !strings.Contains(textOf(runs[0]), "prog -v") {
		t.Errorf("a report without runs should show its own command as the one run")
	}
}

type failingWriter struct{}

var errSink = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errSink }

func TestHTMLWriteError(t *testing.T) {
	if err := htmlReport().WriteHTML(failingWriter{}); !errors.Is(err, errSink) {
		t.Errorf("WriteHTML to a failing writer: %v, want %v", err, errSink)
	}
}

// The per-process breakdown: one row per process of the tree.
func TestHTMLProcesses(t *testing.T) {
	r := &Report{Schema: Schema, Command: []string{"sh", "-c", "ls"},
		Processes: []Process{
			{Pid: 10, Images: []string{"/usr/bin/dash"}, Exit: &ExitStatus{Code: 0}},
			{Pid: 11, Parent: 10, Images: []string{"/usr/bin/ls"}, Exit: &ExitStatus{Signal: "SIGPIPE"}},
		}}
	var b strings.Builder
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, `<tr class="process">`); n != 2 {
		t.Errorf("%d process rows, want 2", n)
	}
	for _, want := range []string{"/usr/bin/dash", "/usr/bin/ls", "SIGPIPE"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}
