package rundir

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls"
)

// TestBuildTimes: the cycles of two threads' blocks become the report's
// times, converted with the TSC rate (2 GHz: 2 cycles a ns), summed per
// syscall and per site (the same site in both blocks is one), with the
// means of the summed calls; without a TSC rate the report has none.
func TestBuildTimes(t *testing.T) {
	dir := t.TempDir()
	main, worker := writeRun(t, dir)
	main.Cycles[1][tls.TimeBypass] = 2000 // 10 calls
	main.Cycles[1][tls.TimeTrap] = 8000   // 4 calls
	worker.Cycles[1][tls.TimeBypass] = 1000
	main.SiteCycles[3] = 6000   // write's trap site, 3 calls
	worker.SiteCycles[5] = 1000 // write's bypass site, 5 calls
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
	want := coverage.KindTimes{Bypass: 1500, Trap: 4000}
	if write == nil || write.TimeNs != want {
		t.Fatalf("write's time_ns = %+v, want %+v", write.TimeNs, want)
	}
	if m := (coverage.KindTimes{Bypass: 100, Trap: 1000}); write.MeanNs != m {
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
			if s.TimeNs != 500 || s.MeanNs != 100 {
				t.Errorf("write's bypass site: time %d mean %d, want 500, 100", s.TimeNs, s.MeanNs)
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
	b := make([]byte, tls.Size)
	le := binary.LittleEndian
	le.PutUint64(b[offMagic:], tls.Magic)
	le.PutUint32(b[offVersion:], tls.Version)
	le.PutUint64(b[offCounts+(39*tls.Kinds+tls.KindTrap)*8:], 7)
	le.PutUint64(b[tls.OffCycles+(39*tls.TimeKinds+tls.TimeTrap)*8:], 700)
	le.PutUint32(b[offSites+8:], 39)
	le.PutUint32(b[offSites+12:], tls.KindTrap)
	le.PutUint64(b[offSites+16:], 7)
	le.PutUint64(b[tls.OffSiteCycles:], 700)
	dir := t.TempDir()
	v4 := filepath.Join(dir, "shard-1.cb")
	if err := os.WriteFile(v4, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err := ReadShard(v4)
	if err != nil || sd.Cycles[39][tls.TimeTrap] != 700 || len(sd.SiteCycles) != 1 || sd.SiteCycles[0] != 700 {
		t.Fatalf("version 4: %v, cycles %v, site cycles %v", err, sd.Cycles[39], sd.SiteCycles)
	}
	v3 := append([]byte(nil), b[:tls.SizeV3]...)
	le.PutUint32(v3[offVersion:], 3)
	old := filepath.Join(dir, "shard-2.cb")
	if err := os.WriteFile(old, v3, 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err = ReadShard(old)
	if err != nil || sd.Counts[39][tls.KindTrap] != 7 || sd.Cycles[39] != [tls.TimeKinds]uint64{} || sd.SiteCycles[0] != 0 {
		t.Errorf("version 3: %v, counts %d, cycles %v", err, sd.Counts[39][tls.KindTrap], sd.Cycles[39])
	}
	// A version 4 block cut to version 3's size is not one.
	le.PutUint32(v3[offVersion:], 4)
	os.WriteFile(old, v3, 0o644)
	if _, err := ReadShard(old); err == nil {
		t.Error("a version 4 shard of version 3's size read")
	}
}
