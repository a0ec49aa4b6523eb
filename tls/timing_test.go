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
// without a guest: every trap is timed into its site's slot; a bypass
// call only at its site's 1st, 9th, 17th... call (tls.TimedCalls);
// cycles[nr] is left to calls without a slot; a number outside the table
// is not timed; and with timing off (--timing=off) nothing is timed while
// everything is counted.
func TestTimingAccumulates(t *testing.T) {
	defer SetTiming(Timing())
	SetTiming(true)
	cb := newTestBlock(t)
	const site = 0x7f0000001234
	slotOf := func(addr uint64, kind uint32) int {
		for i, s := range cb.Sites {
			if s.Addr == addr && s.Nr == 39 && s.Kind == kind {
				return i
			}
		}
		t.Fatalf("site %#x kind %d not counted", addr, kind)
		return -1
	}
	var last uint64
	for i := range 3 {
		cTimedCount(cb, 39, site, KindTrap, TimeTrap, 1000)
		got := cb.SiteCycles[slotOf(site, KindTrap)]
		if got <= last {
			t.Errorf("trap %d: site_cycles %d, was %d: every trap is timed", i+1, got, last)
		}
		last = got
	}
	last = 0
	for n := uint64(1); n <= 17; n++ {
		cTimedCount(cb, 39, site+8, KindBypass, TimeBypass, 1000)
		got := cb.SiteCycles[slotOf(site+8, KindBypass)]
		if sampled := n%TimeSample == 1; sampled != (got > last) {
			t.Errorf("bypass call %d: site_cycles %d, was %d (sampled: %v)", n, got, last, sampled)
		}
		last = got
	}
	if TimedCalls(17, KindBypass) != 3 || TimedCalls(3, KindTrap) != 3 {
		t.Errorf("TimedCalls(17, bypass) = %d, TimedCalls(3, trap) = %d", TimedCalls(17, KindBypass), TimedCalls(3, KindTrap))
	}
	if cb.Cycles[39] != [TimeKinds]uint64{} || cb.TStart != 0 {
		t.Errorf("cycles[39] = %v (only calls without a slot go there), t_start %d", cb.Cycles[39], cb.TStart)
	}
	// A number outside the table is counted by site only and not timed.
	cTimedCount(cb, 600, site, KindTrap, TimeTrap, 10)
	if cb.TStart != 0 {
		t.Errorf("nr 600 left t_start = %d", cb.TStart)
	}

	SetTiming(false)
	off := newTestBlock(t)
	cTimedCount(off, 39, site, KindTrap, TimeTrap, 1000)
	cTimedCount(off, 39, site, KindBypass, TimeBypass, 1000)
	if off.Counts[39][KindTrap] != 1 || off.Counts[39][KindBypass] != 1 {
		t.Errorf("timing off: counts[39] = %v", off.Counts[39])
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
// probe full) is timed, every time, into cycles[nr].
func TestTimingDroppedSite(t *testing.T) {
	defer SetTiming(Timing())
	SetTiming(true)
	cb := newTestBlock(t)
	calls := collidingCalls(t, 100, 1, KindBypass, 33)
	for _, c := range calls[:32] {
		cTimedCount(cb, c.nr, c.site, c.kind, TimeBypass, 100)
	}
	if cb.Cycles[1][TimeBypass] != 0 {
		t.Fatalf("cycles[1][bypass] = %d before any call without a slot", cb.Cycles[1][TimeBypass])
	}
	for range 2 { // two calls of the 33rd site, which has no slot: both timed
		c := calls[32]
		before := cb.Cycles[1][TimeBypass]
		cTimedCount(cb, c.nr, c.site, c.kind, TimeBypass, 100)
		if cb.Cycles[1][TimeBypass] <= before {
			t.Errorf("a call without a slot was not timed into cycles[1]")
		}
	}
	if cb.Exit.SitesDropped != 2 {
		t.Fatalf("sites_dropped = %d, want 2", cb.Exit.SitesDropped)
	}
}

// TestCalibrateTimingOverhead runs the overhead measurement; its figure
// depends on the machine, so only that it ran is checked.
func TestCalibrateTimingOverhead(t *testing.T) {
	was := Timing()
	if _, err := CalibrateTimingOverhead(1000); err != nil {
		t.Fatal(err)
	}
	if Timing() != was {
		t.Error("the measurement left timing switched")
	}
}
