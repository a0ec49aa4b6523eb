package benchplot

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestPlotUpToDate(t *testing.T) {
	f, err := os.Open("../../docs/bench-apps.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := Render(&want, d); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/bench-apps.svg")
	if err != nil {
		t.Fatalf("docs/bench-apps.svg is stale: run go generate ./internal/benchplot (%v)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/bench-apps.svg is stale: run go generate ./internal/benchplot")
	}
}

const sample = `# machine: 2 CPUs, Test CPU <x&y>
# 2026-12-02
workload	metric	unit	mode	value	ratio	calls
redis	SET	req/s	native	1000	1.00	-
redis	SET	req/s	seccomp	750	0.75	bypass=0.0% trap=50.0% vdso=50.0% of 10
redis	GET	req/s	seccomp	600	0.60	bypass=0.0% trap=50.0% vdso=50.0% of 10
redis	SET	req/s	rewrite=lazy	n/a (no --rewrite)	-	-
find	time	s	native	0.300	1.00	-
find	time	s	seccomp	1.350	4.50	bypass=0.0% trap=100.0% vdso=0.0% of 20
find	time	s	sud	-	-	-
`

func TestRender(t *testing.T) {
	d, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Comments) != 2 || len(d.Rows) != 7 {
		t.Fatalf("parsed %d comments and %d rows, want 2 and 7", len(d.Comments), len(d.Rows))
	}
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>\n") {
		t.Fatalf("not one svg element:\n%s", svg)
	}
	// One bar per ratio (the legend's squares are 12 wide, 12 high; the
	// background has no y).
	if n := strings.Count(svg, `height="13"`); n != 3 {
		t.Errorf("%d bars, want 3 (seccomp for redis SET, GET and find):\n%s", n, svg)
	}
	// redis SET's rows stay together although GET's come between them.
	if n := strings.Count(svg, ">redis SET</text>"); n != 1 {
		t.Errorf("redis SET labelled %d times, want once:\n%s", n, svg)
	}
	for _, want := range []string{
		"Test CPU &lt;x&amp;y&gt;",
		"throughput, vsysbed / native (higher is better)",
		"time, vsysbed / native (lower is better)",
		">redis SET</text>",
		">find</text>",
		">0.75×</text>",
		">4.50×</text>",
		">rewrite=lazy: n/a (no --rewrite)</text>",
		">sud: failed</text>",
		// the time panel's axis reaches 5×: 4.50 of 5 of the 560 units.
		`width="504.0" height="13" fill="#4e79a7"`,
		// the throughput panel's reaches 1× (native): 0.75 of 560.
		`width="420.0" height="13" fill="#4e79a7"`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the plot lacks %q:\n%s", want, svg)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no header":    "redis\tSET\treq/s\tnative\t1\t1.00\t-\n",
		"short row":    strings.Join(header, "\t") + "\nredis\tSET\treq/s\n",
		"bad ratio":    strings.Join(header, "\t") + "\nredis\tSET\treq/s\tsud\t1\tfast\t-\n",
		"only comment": "# x\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, in)
		}
	}
}
