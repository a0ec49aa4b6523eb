package coverage

import (
	"strings"
	"testing"
)

// rewriteInput is one process (pid 7) with three trap sites and the
// rewrite answers kernelsim logged for them (--rewrite=lazy).
func rewriteInput(first uint64) Input {
	return Input{
		Shards: []Shard{{Pid: 7, TrapMode: "seccomp", Sites: []Site{
			{Address: 0x1000, Nr: 39, Kind: KindTrap, Count: first},
			{Address: 0x1000, Nr: 39, Kind: KindPatched, Count: 99},
			{Address: 0x2000, Nr: 0, Kind: KindTrap, Count: 50},
			{Address: 0x3000, Nr: 1, Kind: KindTrap, Count: 5},
		}}},
		Events: []Event{
			{Ev: EvRewrite, Pid: 7, Address: 0x1000, Nr: 39, Traps: first, Rewrite: RewritePatched},
			// A later refusal (a thread still in flight) does not undo it.
			{Ev: EvRewrite, Pid: 7, Address: 0x1000, Nr: 39, Traps: 2, Rewrite: "pattern unknown"},
			{Ev: EvRewrite, Pid: 7, Address: 0x2000, Nr: 0, Traps: 1, Rewrite: "pattern unknown"},
			// Another process's answer at the same address is not this one's.
			{Ev: EvRewrite, Pid: 8, Address: 0x3000, Nr: 1, Traps: 1, Rewrite: RewritePatched},
		},
		NoSymbols: true,
	}
}

func siteAt(r *Report, addr Hex, kind string) *Site {
	for i := range r.Sites {
		if r.Sites[i].Address == addr && r.Sites[i].Kind == kind {
			return &r.Sites[i]
		}
	}
	return nil
}

func TestBuildRewriteAnswers(t *testing.T) {
	r := Build(rewriteInput(1))
	if s := siteAt(r, 0x1000, KindTrap); s == nil || s.RewrittenAfter != 1 || s.NotRewritten != "" {
		t.Errorf("site 0x1000: %+v, want rewritten after 1", s)
	}
	if s := siteAt(r, 0x1000, KindPatched); s == nil || s.RewrittenAfter != 0 || s.NotRewritten != "" {
		t.Errorf("patched entry 0x1000: %+v, want no rewrite fields (trap sites only)", s)
	}
	if s := siteAt(r, 0x2000, KindTrap); s == nil || s.NotRewritten != "pattern unknown" || s.RewrittenAfter != 0 {
		t.Errorf("site 0x2000: %+v, want not rewritten: pattern unknown", s)
	}
	if s := siteAt(r, 0x3000, KindTrap); s == nil || s.RewrittenAfter != 0 || s.NotRewritten != "" {
		t.Errorf("site 0x3000: %+v, want no answer (pid 8's is another process's)", s)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rewritten after 1", "not rewritten: pattern unknown"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<small>rewritten after 1</small>", "<small>not rewritten: pattern unknown</small>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	b.Reset()
	maxSites := 0
	if err := Check(r, Gates{MaxTrapSites: &maxSites}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "rewritten after 1") || !strings.Contains(b.String(), "not rewritten: pattern unknown") {
		t.Errorf("check's offending sites lack the rewrite answers:\n%s", b.String())
	}
	b.Reset()
	plain := Build(Input{Shards: rewriteInput(1).Shards, NoSymbols: true})
	if err := plain.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "rewritten") {
		t.Errorf("text report without rewrite answers mentions them:\n%s", b.String())
	}
}

func TestMergeRewriteAnswers(t *testing.T) {
	a, b := Build(rewriteInput(4)), Build(rewriteInput(2))
	none := Build(Input{Shards: rewriteInput(1).Shards, NoSymbols: true})
	m, err := Merge(a, none, b)
	if err != nil {
		t.Fatal(err)
	}
	if s := siteAt(m, 0x1000, KindTrap); s == nil || s.RewrittenAfter != 2 {
		t.Errorf("merged site 0x1000: %+v, want rewritten after 2 (the fewest)", s)
	}
	if s := siteAt(m, 0x2000, KindTrap); s == nil || s.NotRewritten != "pattern unknown" {
		t.Errorf("merged site 0x2000: %+v, want not rewritten: pattern unknown", s)
	}
	var s Site
	s.mergeRewrite(Site{NotRewritten: "page not the guest's"})
	s.mergeRewrite(Site{RewrittenAfter: 8})
	s.mergeRewrite(Site{NotRewritten: "pattern unknown"})
	if s.RewrittenAfter != 8 || s.NotRewritten != "" {
		t.Errorf("a rewrite after a refusal: %+v, want rewritten after 8", s)
	}
}
