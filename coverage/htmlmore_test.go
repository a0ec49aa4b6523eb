package coverage

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHTMLGroupsFiltersSourcesRefusals: the page groups sites under their
// function with a count, has a filter box, shows the trapping source
// lines it can read and says why kernelsim refused a call.
func TestHTMLGroupsFiltersSourcesRefusals(t *testing.T) {
	src := filepath.Join(t.TempDir(), "wrap.c")
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, "line "+strings.Repeat("x", i%3))
	}
	lines[9] = `	asm volatile ("syscall" : "=a"(r) : "a"(39));` // line 10
	if err := os.WriteFile(src, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Report{Schema: Schema, Command: []string{"prog"}, Complete: true, TrapMode: "seccomp",
		Syscalls: []SyscallRow{
			{Nr: 39, Name: "getpid", Trap: 7, Bypass: 2, Total: 9},
			{Nr: 334, Name: "rseq", Bypass: 1, Total: 1, Errors: 1},
		},
		Sites: []Site{
			{Object: "/prog", Offset: 0x10, Function: "_ZN3foo3barEv", Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 5, File: src, Line: 10},
			{Object: "/prog", Offset: 0x20, Function: "_ZN3foo3barEv", Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 2, File: src, Line: 10},
			{Object: "/lib/libc.so.6", Offset: 0x300, Function: "getpid", Nr: 39, Syscall: "getpid", Kind: KindBypass, Count: 2},
			{Object: "/lib/libc.so.6", Offset: 0x400, Function: "__libc_start_main", Nr: 334, Syscall: "rseq", Kind: KindBypass, Count: 1},
		}}
	r.Totals = Totals{Bypass: 3, Trap: 7, Total: 10}
	var b bytes.Buffer
	err := r.WriteHTMLWith(&b, HTMLOptions{
		ReadSource: os.ReadFile,
		Refusal: func(nr int) (string, string, bool) {
			if nr == 334 {
				return "ENOSYS", "The host's glibc already registered an rseq area for the thread.", true
			}
			return "", "", false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		// foo::bar first (it traps), unfolded, with its count.
		`<details class="fn" open><summary><span class="mono fname">foo::bar()</span> <span class="dir mono" title="/prog">prog</span> <span class="count">· 2 site(s), 7 call(s), <span class="bad">7 trapped</span>`,
		`<details class="fn"><summary><span class="mono fname">getpid</span>`,
		`<input type="search" id="filter"`,
		`data-q="getpid trap /prog foo::bar() ` + strings.ToLower(src),
		// The source view: the trapping line with its 7 calls, 3 lines of context each side, no more.
		`<tr class="hit" title="7 trapped: getpid"><td class="ln">10</td><td class="calls">7×</td><td class="code">	asm volatile (&#34;syscall&#34; : &#34;=a&#34;(r) : &#34;a&#34;(39));</td></tr>`,
		`<td class="ln">7</td>`, `<td class="ln">13</td>`,
		// The refusal with its reason.
		`<td class="mono">rseq</td><td class="num">334</td><td class="num">1</td><td class="mono bad">-1 ENOSYS</td><td>The host&#39;s glibc already registered an rseq area for the thread.</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, not := range []string{`<td class="ln">6</td>`, `<td class="ln">14</td>`, "_ZN3foo"} {
		if strings.Contains(page, not) {
			t.Errorf("page has %s", not)
		}
	}
	if i, j := strings.Index(page, "foo::bar()</span>"), strings.Index(page, `fname">getpid`); i < 0 || j < i {
		t.Errorf("the trapping function is not listed first")
	}
	// Every site row of both tables carries what the filter matches.
	if n, m := strings.Count(page, `<tr class="site"`), len(regexp.MustCompile(`<tr class="site"[^>]* data-q="`).FindAllString(page, -1)); n != 2*len(r.Sites) || m != n {
		t.Errorf("%d site rows, %d with data-q; want %d", n, m, 2*len(r.Sites))
	}

	// Without options the page reads nothing: no source view, no refusals.
	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `id="source"`) || strings.Contains(b.String(), `id="refused"`) {
		t.Errorf("WriteHTML read beyond the report")
	}
}
