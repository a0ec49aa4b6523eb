package rundir

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// TestBuildTimes: the cycles of two threads' blocks become the report's
// times, converted with the TSC rate (2 GHz: 2 cycles a ns): a trap site's
// as they are (every trap is timed), a bypass site's scaled from its timed
// calls (the 1st of its 5) to all, a syscall's the sum of its sites' and
// of its calls without a slot (cycles[nr]), with the means of the summed
// calls; without a TSC rate the report has none.
func TestBuildTimes(t *testing.T) {
	dir := t.TempDir()
	main, worker := writeRun(t, dir)
	main.Cycles[1][cblock.TimeBypass] = 2000 // calls without a slot
	main.Cycles[1][cblock.TimeTrap] = 8000
	worker.Cycles[1][cblock.TimeBypass] = 1000
	main.SiteCycles[3] = 6000   // write's trap site, 3 calls, all timed
	worker.SiteCycles[5] = 1000 // write's bypass site, 5 calls, the 1st timed: 5000
	in := readInput(t, dir)
	in.SyscallName, in.NoSymbols = testSyscallName, true
	in.Timing = &coverage.Timing{TSCHz: 2e9, TSCSource: "measured"}
	r := coverage.Build(in)

	var write *coverage.SyscallRow
	for i := range r.Syscalls {
		if r.Syscalls[i].Nr == 1 {
			write = &r.Syscalls[i]
		}
	}
	want := coverage.KindTimes{Bypass: (2000 + 1000 + 5000) / 2, Trap: (8000 + 6000) / 2}
	if write == nil || write.TimeNs != want {
		t.Fatalf("write's time_ns = %+v, want %+v", write.TimeNs, want)
	}
	if m := (coverage.KindTimes{Bypass: 4000 / 15, Trap: 7000 / 4}); write.MeanNs != m {
		t.Errorf("write's mean_ns = %+v, want %+v", write.MeanNs, m)
	}
	if r.Totals.TimeNs != want {
		t.Errorf("totals' time_ns = %+v, want %+v", r.Totals.TimeNs, want)
	}
	for _, s := range r.Sites {
		switch {
		case s.Nr == 1 && s.Kind == coverage.KindTrap && s.Object == libc:
			if s.TimeNs != 3000 || s.MeanNs != 1000 {
				t.Errorf("write's trap site: time %d mean %d, want 3000, 1000", s.TimeNs, s.MeanNs)
			}
		case s.Nr == 1 && s.Kind == coverage.KindBypass:
			if s.TimeNs != 2500 || s.MeanNs != 500 {
				t.Errorf("write's bypass site: time %d mean %d, want 2500, 500", s.TimeNs, s.MeanNs)
			}
		case s.TimeNs != 0:
			t.Errorf("site %+v has a time", s)
		}
	}
	if r.Timing == nil || r.Timing.TSCHz != 2e9 {
		t.Errorf("timing = %+v", r.Timing)
	}

	in.Timing = nil
	if r := coverage.Build(in); r.Timing != nil || r.Totals.TimeNs != (coverage.KindTimes{}) || r.Syscalls[1].TimeNs != (coverage.KindTimes{}) {
		t.Errorf("no TSC rate: timing %+v, totals %+v", r.Timing, r.Totals.TimeNs)
	}
}

// TestReadShardVersions: a version 3 block (before the timing) reads
// with its counts and no cycles; a version 4 block's cycles are read.
func TestReadShardVersions(t *testing.T) {
	b := make([]byte, cblock.Size)
	le := binary.LittleEndian
	le.PutUint64(b[offMagic:], cblock.Magic)
	le.PutUint32(b[offVersion:], cblock.Version)
	le.PutUint64(b[offCounts+(39*cblock.Kinds+cblock.KindTrap)*8:], 7)
	le.PutUint64(b[cblock.OffCycles+(39*cblock.TimeKinds+cblock.TimeTrap)*8:], 700)
	le.PutUint32(b[offSites+8:], 39)
	le.PutUint32(b[offSites+12:], cblock.KindTrap)
	le.PutUint64(b[offSites+16:], 7)
	le.PutUint64(b[cblock.OffSiteCycles:], 700)
	dir := t.TempDir()
	v4 := filepath.Join(dir, "shard-1.cb")
	if err := os.WriteFile(v4, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err := ReadShard(v4)
	if err != nil || sd.Cycles[39][cblock.TimeTrap] != 700 || len(sd.SiteCycles) != 1 || sd.SiteCycles[0] != 700 {
		t.Fatalf("version 4: %v, cycles %v, site cycles %v", err, sd.Cycles[39], sd.SiteCycles)
	}
	v3 := append([]byte(nil), b[:cblock.SizeV3]...)
	le.PutUint32(v3[offVersion:], 3)
	old := filepath.Join(dir, "shard-2.cb")
	if err := os.WriteFile(old, v3, 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err = ReadShard(old)
	if err != nil || sd.Counts[39][cblock.KindTrap] != 7 || sd.Cycles[39] != [cblock.TimeKinds]uint64{} || sd.SiteCycles[0] != 0 {
		t.Errorf("version 3: %v, counts %d, cycles %v", err, sd.Counts[39][cblock.KindTrap], sd.Cycles[39])
	}
	// A version 4 block cut to version 3's size is not one.
	le.PutUint32(v3[offVersion:], 4)
	os.WriteFile(old, v3, 0o644)
	if _, err := ReadShard(old); err == nil {
		t.Error("a version 4 shard of version 3's size read")
	}
}

func TestSiteCycles(t *testing.T) {
	for _, tc := range []struct {
		timed, count uint64
		kind         uint32
		want         uint64
	}{
		{600, 3, cblock.KindTrap, 600},      // every trap timed
		{100, 1, cblock.KindBypass, 100},    // the only call
		{100, 8, cblock.KindBypass, 800},    // the 1st of 8
		{200, 9, cblock.KindBypass, 900},    // the 1st and 9th of 9
		{200, 16, cblock.KindPatched, 1600}, // the 1st and 9th of 16
		{0, 5, cblock.KindVDSO, 0},
		{1 << 62, 1 << 20, cblock.KindBypass, ^uint64(0)}, // saturates
	} {
		if got := siteCycles(tc.timed, tc.count, tc.kind); got != tc.want {
			t.Errorf("siteCycles(%d, %d, %d) = %d, want %d", tc.timed, tc.count, tc.kind, got, tc.want)
		}
	}
}
