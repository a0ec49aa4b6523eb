package tls

import (
	"bytes"
	"testing"
)

// countCall is one call into the site table: nr below 2^32, as entry.c's
// callers pass it.
type countCall struct {
	nr, site uint64
	kind     uint32
}

// collidingCalls are n distinct (site, nr, kind) calls whose probe starts
// at slot idx, found with Go's siteIndex: if entry.c hashes differently,
// they scatter there and the tables differ.
func collidingCalls(t *testing.T, idx uint32, nr uint64, kind uint32, n int) []countCall {
	t.Helper()
	var out []countCall
	for site := uint64(0x401000); len(out) < n; site += 2 {
		if site > 0x401000+1<<26 {
			t.Fatalf("no %d sites hashing to slot %d", n, idx)
		}
		if siteIndex(site, nr, kind) == idx {
			out = append(out, countCall{nr, site, kind})
		}
	}
	return out
}

// TestCountMatchesC runs the same calls through entry.c's count() and
// Go's Count and compares the two blocks byte for byte: repeated and
// distinct sites, one site under several numbers and kinds, numbers and
// kinds counted by site only; 40 calls that want one slot (the 32-slot
// probe, then sites_dropped); a run of them from the last slot (the wrap
// at NumSites). Each case runs twice: the second time, each call finds
// its entry, or is dropped again.
func TestCountMatchesC(t *testing.T) {
	mixed := []countCall{
		{1, 0x7f0000001234, KindTrap}, {1, 0x7f0000001234, KindTrap}, {1, 0x7f0000001234, KindTrap},
		{1, 0x7f0000001234, KindBypass}, {39, 0x7f0000001234, KindBypass}, {39, 0x7f0000001234, KindInt80},
		{228, 0, KindVDSO}, {0, 0, KindTrap}, {511, 0x1000, KindTrap},
		{39, 0x7f0000001234, KindPatched}, {39, 0x7f0000001234, KindPatched}, {600, 0x2000, KindPatched},
		{512, 0x2000, KindTrap}, {0xffffffff, 0x3000, KindTrap}, // beyond NrMax: by site only
	}
	for i := uint64(0); i < 500; i++ {
		mixed = append(mixed, countCall{i % 20, 0x555555550000 + 0x40*i, uint32(i % 3)})
	}
	for _, tc := range []struct {
		name  string
		calls []countCall
		check func(t *testing.T, cb *ControlBlock)
	}{
		{"mixed", mixed, func(t *testing.T, cb *ControlBlock) {
			if cb.Counts[1][KindTrap] != 2*3+2*uint64(countOf(mixed[14:], 1, KindTrap)) || cb.Counts[39][KindBypass] < 2 {
				t.Errorf("counts[1][trap] = %d, counts[39][bypass] = %d", cb.Counts[1][KindTrap], cb.Counts[39][KindBypass])
			}
			if cb.Patched[39] != 2*2 {
				t.Errorf("patched[39] = %d, want 4", cb.Patched[39])
			}
		}},
		{"probe overflow", collidingCalls(t, 1000, 1, KindTrap, 40), func(t *testing.T, cb *ControlBlock) {
			if cb.Exit.SitesDropped != 2*(40-siteProbes) {
				t.Errorf("sites dropped %d, want %d", cb.Exit.SitesDropped, 2*(40-siteProbes))
			}
		}},
		{"wrap at NumSites", collidingCalls(t, NumSites-1, 2, KindBypass, 36), func(t *testing.T, cb *ControlBlock) {
			if s := cb.Sites[0]; s.Nr != 2 || s.Kind != KindBypass || s.Count != 2 {
				t.Errorf("slot 0 = %+v, want a wrapped-around bypass of syscall 2, counted twice", s)
			}
			if cb.Exit.SitesDropped != 2*(36-siteProbes) {
				t.Errorf("sites dropped %d, want %d", cb.Exit.SitesDropped, 2*(36-siteProbes))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goCB, goMem := mappedBlock(t)
			cCB, cMem := mappedBlock(t)
			clear(goMem)
			clear(cMem)
			for round := 0; round < 2; round++ {
				for _, c := range tc.calls {
					Count(goCB, c.nr, c.site, c.kind)
					cCount(cCB, c.nr, c.site, c.kind)
				}
			}
			if !bytes.Equal(goMem, cMem) {
				for i := range goCB.Sites {
					if goCB.Sites[i] != cCB.Sites[i] {
						t.Errorf("site slot %d: Go %+v, C %+v", i, goCB.Sites[i], cCB.Sites[i])
						break
					}
				}
				t.Fatalf("Go's Count and entry.c's count() leave different blocks (sites dropped: Go %d, C %d)",
					goCB.Exit.SitesDropped, cCB.Exit.SitesDropped)
			}
			tc.check(t, goCB)
		})
	}
}

func countOf(calls []countCall, nr uint64, kind uint32) int {
	n := 0
	for _, c := range calls {
		if c.nr == nr && c.kind == kind {
			n++
		}
	}
	return n
}
