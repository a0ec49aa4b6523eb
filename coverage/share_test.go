package coverage

import (
	"bytes"
	"strings"
	"testing"
)

// TestOneBypassShare: the same report says the same "% bypassed" in the
// text table, the HTML page, `report check` and `report diff` (issue 17:
// the text and HTML once said bypass/total, 25%, while check said
// bypass/(bypass+trap), 33.33%).
func TestOneBypassShare(t *testing.T) {
	for _, c := range []struct {
		name string
		rows []SyscallRow
		want string
	}{
		// 1 bypass, 2 trap, 1 vdso: 1 of the 3 calls that entered.
		{"vdso left out", []SyscallRow{
			{Nr: 1, Name: "write", Bypass: 1, Trap: 2, Total: 3},
			{Nr: 228, Name: "clock_gettime", VDSO: 1, Total: 1},
		}, "33.33%"},
		// Patched calls are not bypass calls: 1 of 4.
		{"patched counts against", []SyscallRow{
			{Nr: 39, Name: "getpid", Bypass: 1, Trap: 1, Patched: 2, Total: 4},
		}, "25%"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Report{Schema: Schema, Command: []string{"prog"}, Complete: true, TrapMode: "seccomp", Syscalls: c.rows}
			for i := range c.rows {
				r.Totals.addRow(&c.rows[i])
			}
			var text, html, check, diff bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			res := Check(r, Gates{})
			if err := res.WriteText(&check); err != nil {
				t.Fatal(err)
			}
			if err := Compare(r, r).WriteText(&diff); err != nil {
				t.Fatal(err)
			}
			var total string
			for _, l := range strings.Split(text.String(), "\n") {
				if f := strings.Fields(l); len(f) > 0 && f[0] == "total" {
					total = f[len(f)-1]
				}
			}
			if total != c.want {
				t.Errorf("text total row says %q, want %q:\n%s", total, c.want, text.String())
			}
			if !strings.Contains(html.String(), ">"+c.want+"<") {
				t.Errorf("HTML page lacks %q", c.want)
			}
			if !strings.HasPrefix(check.String(), "ok: "+c.want+" bypassed") {
				t.Errorf("check says %q, want %s bypassed", check.String(), c.want)
			}
			if !strings.Contains(diff.String(), c.want+" bypassed") {
				t.Errorf("diff says:\n%s\nwant %s bypassed", diff.String(), c.want)
			}
			if got := formatPercent(res.BypassPercent); got != c.want {
				t.Errorf("CheckResult.BypassPercent %v, want %s", res.BypassPercent, c.want)
			}
		})
	}
}

func TestBypassShareRoundsDown(t *testing.T) {
	for _, c := range []struct {
		b, n uint64
		want string
	}{{0, 0, "-"}, {9999, 10000, "99.99%"}, {99999, 100000, "99.99%"}, {2, 3, "66.66%"}, {5, 5, "100%"}, {0, 7, "0%"}} {
		if got := FormatBypassShare(c.b, c.n); got != c.want {
			t.Errorf("FormatBypassShare(%d, %d) = %q, want %q", c.b, c.n, got, c.want)
		}
	}
}
