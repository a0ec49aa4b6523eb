package cblock

import "testing"

// sitesAt are n distinct sites of (nr, kind) whose probe starts at slot idx.
func sitesAt(t *testing.T, idx uint32, nr uint64, kind uint32, n int) []uint64 {
	t.Helper()
	var out []uint64
	for site := uint64(0x401000); len(out) < n; site += 2 {
		if site > 0x401000+1<<26 {
			t.Fatalf("no %d sites hashing to slot %d", n, idx)
		}
		if SiteIndex(site, nr, kind) == idx {
			out = append(out, site)
		}
	}
	return out
}

// Count without cgo (the ptrace platform's; tls's TestCountMatchesC holds
// it to entry.c's count()): by number and kind, patched calls by number,
// numbers and kinds beyond the tables by site only; a site's repeats in
// its one slot; the probe's 32 slots, then sites_dropped; the wrap at the
// table's end.
func TestCount(t *testing.T) {
	cb := new(ControlBlock)
	for range 3 {
		Count(cb, 39, 0x7f0000001234, KindTrap)
	}
	Count(cb, 39, 0x7f0000001234, KindPatched)
	Count(cb, NrMax, 0x2000, KindTrap)
	if cb.Counts[39][KindTrap] != 3 || cb.Patched[39] != 1 {
		t.Errorf("counts[39][trap] %d, patched[39] %d; want 3, 1", cb.Counts[39][KindTrap], cb.Patched[39])
	}
	s := cb.Sites[SiteIndex(0x7f0000001234, 39, KindTrap)]
	if s.Addr != 0x7f0000001234 || s.Nr != 39 || s.Kind != KindTrap || s.Count != 3 {
		t.Errorf("site %+v, want 3 traps of 39 at its hashed slot", s)
	}
	if s := cb.Sites[SiteIndex(0x2000, NrMax, KindTrap)]; s.Count != 1 || s.Nr != NrMax {
		t.Errorf("a number beyond NrMax: site %+v, want it counted by site", s)
	}

	cb = new(ControlBlock)
	for _, site := range sitesAt(t, 1000, 1, KindTrap, 40) {
		Count(cb, 1, site, KindTrap)
	}
	if cb.Exit.SitesDropped != 40-SiteProbes || cb.Counts[1][KindTrap] != 40 {
		t.Errorf("sites dropped %d, counts %d; want %d, 40", cb.Exit.SitesDropped, cb.Counts[1][KindTrap], 40-SiteProbes)
	}

	cb = new(ControlBlock)
	wrap := sitesAt(t, NumSites-1, 2, KindBypass, 2)
	for _, site := range wrap {
		Count(cb, 2, site, KindBypass)
	}
	if cb.Sites[NumSites-1].Addr != wrap[0] || cb.Sites[0].Addr != wrap[1] {
		t.Errorf("the probe from the last slot did not wrap to slot 0")
	}
}
