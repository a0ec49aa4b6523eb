package coverage

import (
	"bytes"
	"strings"
	"testing"
)

func pct(v float64) *float64 { return &v }
func count(n int) *int       { return &n }

func TestCheckGates(t *testing.T) {
	base, new := diffPair(t) // new: 14 bypass, 11 trap (56%), 2 trap sites, 1 of them new
	for _, c := range []struct {
		name  string
		gates Gates
		fail  []string
	}{
		{"no gates", Gates{}, nil},
		{"min bypass met exactly", Gates{MinBypass: pct(56)}, nil},
		{"min bypass just missed", Gates{MinBypass: pct(56.01)}, []string{GateMinBypass}},
		{"no new traps against itself", Gates{NoNewTrapsSince: new}, nil},
		{"new trap site", Gates{NoNewTrapsSince: base}, []string{GateNoNewTraps}},
		{"max trap sites met", Gates{MaxTrapSites: count(2)}, nil},
		{"too many trap sites", Gates{MaxTrapSites: count(1)}, []string{GateMaxTrapSites}},
		{"all fail", Gates{MinBypass: pct(100), NoNewTrapsSince: base, MaxTrapSites: count(0)},
			[]string{GateMinBypass, GateNoNewTraps, GateMaxTrapSites}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := Check(new, c.gates)
			var got []string
			for _, f := range res.Failures {
				got = append(got, f.Gate)
			}
			if strings.Join(got, ",") != strings.Join(c.fail, ",") || res.OK() != (len(c.fail) == 0) {
				t.Errorf("failed gates = %q, want %q", got, c.fail)
			}
		})
	}
}

func TestCheckBypassPercentIsExactInHundredths(t *testing.T) {
	// 29/100 is 0.28999... as a double; the gate must still see 29%.
	r := aslrRun(t, []string{"p"}, 0x10000, 0,
		call{libx, 0x10, 1, KindBypass, 29}, call{libx, 0x20, 1, KindTrap, 71})
	if res := Check(r, Gates{MinBypass: pct(29)}); !res.OK() || res.BypassPercent != 29 {
		t.Errorf("29 of 100 bypassed: percent %v, failures %+v", res.BypassPercent, res.Failures)
	}
	// 2/3 is 66.666..%: shown and compared as 66.66, never rounded up.
	r = aslrRun(t, []string{"p"}, 0x10000, 0,
		call{libx, 0x10, 1, KindBypass, 2}, call{libx, 0x20, 1, KindTrap, 1})
	if res := Check(r, Gates{MinBypass: pct(66.67)}); res.OK() || res.BypassPercent != 66.66 {
		t.Errorf("2 of 3 bypassed: percent %v, ok %v", res.BypassPercent, res.OK())
	}
	// Calls through rewritten sites entered the kernel as the raw
	// syscalls they are: the share is the same as without rewriting.
	r = aslrRun(t, []string{"p"}, 0x10000, 0,
		call{libx, 0x10, 1, KindBypass, 29}, call{libx, 0x20, 1, KindTrap, 1}, call{libx, 0x20, 1, KindPatched, 70})
	if res := Check(r, Gates{MinBypass: pct(30)}); res.OK() || res.BypassPercent != 29 || r.Totals.Patched != 70 || r.Totals.Total != 100 {
		t.Errorf("29 bypassed, 1 trapped, 70 patched: percent %v, ok %v, totals %+v", res.BypassPercent, res.OK(), r.Totals)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "patched") {
		t.Errorf("text report without a patched column: %v\n%s", err, text.String())
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil || !strings.Contains(page.String(), `<span class="kind patched">patched</span>`) ||
		!strings.Contains(page.String(), `patched <b>70</b>`) || !strings.Contains(page.String(), `<rect class="patched"`) {
		t.Errorf("HTML report without its patched site, total or bar: %v", err)
	}
	// No call entered the kernel: nothing trapped, the gate passes.
	r = aslrRun(t, []string{"p"}, 0x10000, 0, call{libx, 0x10, 228, KindVDSO, 5})
	if res := Check(r, Gates{MinBypass: pct(100)}); !res.OK() || res.BypassPercent != 100 {
		t.Errorf("vDSO only: percent %v, ok %v", res.BypassPercent, res.OK())
	}
}

func TestCheckText(t *testing.T) {
	base, new := diffPair(t)
	for i := range new.Sites {
		if new.Sites[i].Key() == (SiteKey{libx, 0x100, 1, "trap"}) {
			new.Sites[i].Symbol = "write+0x14" // as symbolisation names it
		}
	}

	var b bytes.Buffer
	res := Check(new, Gates{MinBypass: pct(50), NoNewTrapsSince: new, MaxTrapSites: count(3)})
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if want := "ok: 56% bypassed (min 50%), no new trap sites, 2 trap site(s) (max 3)\n"; b.String() != want {
		t.Errorf("ok text = %q, want %q", b.String(), want)
	}

	b.Reset()
	res = Check(new, Gates{MinBypass: pct(90.5), NoNewTrapsSince: base})
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	checkWidth(t, text)
	for _, want := range []string{
		"FAIL: 2 gate(s) failed\n",
		"min-bypass: 56% bypassed (14 bypass of 25 calls that entered the kernel), want at least 90.5%\n",
		"no-new-traps: 1 trap site(s) that the base report does not trap at\n",
		// object, function, offset, syscall, count
		"  /prog  ?        0x50  getpid  7\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("check text lacks %q:\n%s", want, text)
		}
	}
	b.Reset()
	res = Check(new, Gates{MinBypass: pct(90), MaxTrapSites: count(1)})
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "at most 1 allowed\n  offending sites: the 2 above\n") {
		t.Errorf("second gate with the same sites repeats them:\n%s", b.String())
	}

	var found bool
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "/lib/x.so") && strings.Contains(l, "write+0x14") && strings.Contains(l, "0x100") &&
			strings.Contains(l, "write") && strings.HasSuffix(l, " 4") {
			found = true
		}
	}
	if !found {
		t.Errorf("min-bypass failure does not list the libx write site with its symbol:\n%s", text)
	}
}
