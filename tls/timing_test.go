package tls

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newTestBlock maps a zeroed control block (no shard file).
func newTestBlock(t *testing.T) *ControlBlock {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return (*ControlBlock)(unsafe.Pointer(&mem[0]))
}

// TestTimingAccumulates runs entry.c's timing (count_timed, timing_end)
// without a guest: every timed call adds to its number's column and to
// its site's slot, the two sums agree, nothing else is touched, a call
// the site table had no room for is timed by number only, and with
// timing off (--timing=off) nothing is timed while everything is counted.
func TestTimingAccumulates(t *testing.T) {
	defer SetTiming(Timing())
	SetTiming(true)
	cb := newTestBlock(t)
	const site = 0x7f0000001234
	for range 3 {
		cTimedCount(cb, 39, site, KindTrap, TimeTrap, 1000)
	}
	cTimedCount(cb, 39, site+8, KindBypass, TimeBypass, 1000)
	slot := -1
	for i, s := range cb.Sites {
		if s.Addr == site && s.Nr == 39 && s.Kind == KindTrap {
			slot = i
		}
	}
	if slot < 0 || cb.Sites[slot].Count != 3 {
		t.Fatalf("site not counted: slot %d", slot)
	}
	if cb.Cycles[39][TimeTrap] == 0 || cb.Cycles[39][TimeTrap] != cb.SiteCycles[slot] {
		t.Errorf("cycles[39][trap] = %d, site_cycles = %d: want equal, > 0", cb.Cycles[39][TimeTrap], cb.SiteCycles[slot])
	}
	if cb.Cycles[39][TimeBypass] == 0 || cb.Cycles[39][TimePatched] != 0 || cb.Cycles[40] != [TimeKinds]uint64{} {
		t.Errorf("cycles[39] = %v, cycles[40] = %v", cb.Cycles[39], cb.Cycles[40])
	}
	if cb.TStart != 0 {
		t.Errorf("t_start = %d after the call ended", cb.TStart)
	}
	// A number outside the table is counted by site only and not timed.
	cTimedCount(cb, 600, site, KindTrap, TimeTrap, 10)
	if cb.TStart != 0 {
		t.Errorf("nr 600 left t_start = %d", cb.TStart)
	}

	SetTiming(false)
	off := newTestBlock(t)
	cTimedCount(off, 39, site, KindTrap, TimeTrap, 1000)
	if off.Counts[39][KindTrap] != 1 {
		t.Errorf("timing off: counts[39][trap] = %d, want 1", off.Counts[39][KindTrap])
	}
	for i := range off.SiteCycles {
		if off.SiteCycles[i] != 0 {
			t.Fatalf("timing off: site_cycles[%d] = %d", i, off.SiteCycles[i])
		}
	}
	if off.Cycles[39] != [TimeKinds]uint64{} {
		t.Errorf("timing off: cycles[39] = %v", off.Cycles[39])
	}
}

// TestTimingDroppedSite: a call whose site finds no slot (the 32-slot
// probe full) is still timed by number.
func TestTimingDroppedSite(t *testing.T) {
	defer SetTiming(Timing())
	SetTiming(true)
	cb := newTestBlock(t)
	calls := collidingCalls(t, 100, 1, KindTrap, 33)
	for _, c := range calls {
		cTimedCount(cb, c.nr, c.site, c.kind, TimeTrap, 100)
	}
	if cb.Exit.SitesDropped != 1 {
		t.Fatalf("sites_dropped = %d, want 1", cb.Exit.SitesDropped)
	}
	var sites uint64
	for _, c := range cb.SiteCycles {
		sites += c
	}
	if cb.Cycles[1][TimeTrap] <= sites {
		t.Errorf("cycles[1][trap] = %d, sites' sum %d: the dropped call's time is missing", cb.Cycles[1][TimeTrap], sites)
	}
}
