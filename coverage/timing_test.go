package coverage

import (
	"reflect"
	"strings"
	"testing"
)

func TestCyclesToNs(t *testing.T) {
	for _, tc := range []struct{ cycles, hz, want uint64 }{
		{0, 3e9, 0},
		{3, 3e9, 1},
		{2, 3e9, 0}, // rounded down
		{2596093432, 2596093432, 1e9},
		{1 << 62, 1e9, 1 << 62},         // cycles*1e9 overflows 64 bits
		{^uint64(0), 1e9, ^uint64(0)},   // exactly representable
		{^uint64(0), 1e8, ^uint64(0)},   // beyond: saturates
		{12345, 0, 0},                   // no rate
		{1e18, 4e9, 250000000000000000}, // 250,000 s at 4 GHz
	} {
		if got := CyclesToNs(tc.cycles, tc.hz); got != tc.want {
			t.Errorf("CyclesToNs(%d, %d) = %d, want %d", tc.cycles, tc.hz, got, tc.want)
		}
	}
}

// timedShard is one block's counts and cycles: getpid bypassed 10 times
// (1 µs in all) and trapped 4 times (8 µs) at 2 GHz, at one site each.
func timedShard() Shard {
	return Shard{
		Pid:      1,
		TrapMode: "seccomp",
		Syscalls: []SyscallRow{{Nr: 39, Bypass: 10, Trap: 4}},
		Sites: []Site{
			{Address: 0x1000, Nr: 39, Kind: KindBypass, Count: 10},
			{Address: 0x2000, Nr: 39, Kind: KindTrap, Count: 4},
		},
		Cycles:     []CycleRow{{Nr: 39, Bypass: 2000, Trap: 16000}},
		SiteCycles: []uint64{2000, 16000},
	}
}

// TestMergeAddsTimes: merged reports' times add up and their means are
// those of all the calls, per syscall, site and in the totals.
func TestMergeAddsTimes(t *testing.T) {
	in := Input{Shards: []Shard{timedShard()}, Timing: &Timing{TSCHz: 2e9, TSCSource: "cpuid"}, NoSymbols: true}
	a := Build(in)
	in.Shards[0].Cycles[0].Trap = 48000 // the second run's traps were slower
	in.Shards[0].SiteCycles[1] = 48000
	b := Build(in)
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	row := m.Syscalls[0]
	if want := (KindTimes{Bypass: 2000, Trap: 32000}); row.TimeNs != want {
		t.Fatalf("merged time_ns = %+v, want %+v", row.TimeNs, want)
	}
	if want := (KindTimes{Bypass: 100, Trap: 4000}); row.MeanNs != want {
		t.Errorf("merged mean_ns = %+v, want %+v", row.MeanNs, want)
	}
	if m.Totals.MeanNs != row.MeanNs {
		t.Errorf("totals' mean %+v, the only row's %+v", m.Totals.MeanNs, row.MeanNs)
	}
	for _, s := range m.Sites {
		if s.Kind == KindTrap && (s.TimeNs != 32000 || s.MeanNs != 4000) {
			t.Errorf("merged trap site: %d ns, mean %d", s.TimeNs, s.MeanNs)
		}
	}
	if m.Timing == nil || m.Timing.TSCSource != "cpuid" {
		t.Errorf("merged timing = %+v", m.Timing)
	}
	// An untimed report merged with a timed one: the timed calls' times.
	in.Timing = nil
	c := Build(in)
	if c.Timing != nil || c.Syscalls[0].TimeNs != (KindTimes{}) {
		t.Fatalf("untimed build has times: %+v", c.Syscalls[0])
	}
	m2, _ := Merge(a, c)
	if m2.Syscalls[0].TimeNs.Trap != 8000 {
		t.Errorf("timed+untimed: %+v", m2.Syscalls[0].TimeNs)
	}
}

// TestSavingPerCall: this run's per-syscall means first, then the host's
// calibrated costs, then the run's own means over every syscall.
func TestSavingPerCall(t *testing.T) {
	r := &Report{
		TrapMode: "seccomp",
		Syscalls: []SyscallRow{
			{Nr: 39, Bypass: 10, Trap: 4, TimeNs: KindTimes{Bypass: 1000, Trap: 8000}},
			{Nr: 1, Trap: 2, TimeNs: KindTimes{Trap: 3000}},
			{Nr: 0, Bypass: 2, TimeNs: KindTimes{Bypass: 20000}},
		},
	}
	for i := range r.Syscalls {
		r.Totals.addRow(&r.Syscalls[i])
	}
	r.setMeans()
	if got := r.SavingPerCall(39); got != 2000-100 {
		t.Errorf("getpid: %d, want 1900 (its own means)", got)
	}
	// write has no bypass: the run's means over all (2.2 µs - 1.75 µs).
	if got := r.SavingPerCall(1); got != 11000/6-21000/12 {
		t.Errorf("write, no host costs: %d, want %d", got, 11000/6-21000/12)
	}
	r.Timing = &Timing{Costs: []PathCost{{PathTrap, 3000}, {PathTrapSUD, 2500}, {PathBypassFast, 400}}}
	if got := r.SavingPerCall(1); got != 2600 {
		t.Errorf("write, seccomp: %d, want 2600 (calibrated)", got)
	}
	r.TrapMode = "sud"
	if got := r.SavingPerCall(1); got != 2100 {
		t.Errorf("write, sud: %d, want 2100 (calibrated)", got)
	}
	// The calibrated signal delivery is added to the run's own means.
	r.Timing.Costs = append(r.Timing.Costs, PathCost{PathDeliverySUD, 700})
	if got := r.SavingPerCall(39); got != 2000+700-100 {
		t.Errorf("getpid, sud, with the delivery: %d, want 2600", got)
	}
	if got := (&Report{}).SavingPerCall(1); got != 0 {
		t.Errorf("no times: %d", got)
	}
}

// TestPatchNext groups trapped sites by the code that made them: the
// wrappers a template generates (one source line, many functions) are one
// group, so are an object's simple wrappers without line tables and its
// start-up code; the rest by function; the largest saving first.
func TestPatchNext(t *testing.T) {
	const libc = "/lib/libc.so.6"
	site := func(obj, fn string, off int, file string, line int, sys string, nr int, count uint64) Site {
		return Site{Object: obj, Function: fn, Symbol: fn + "+0x" + string(rune('0'+off)), Offset: Hex(off), File: file, Line: line,
			Syscall: sys, Nr: nr, Kind: KindTrap, Count: count, TimeNs: count * 3000}
	}
	r := &Report{
		Syscalls: []SyscallRow{{Nr: 39, Bypass: 1, Trap: 1, TimeNs: KindTimes{Bypass: 100, Trap: 3100}}},
		Sites: []Site{
			// glibc's syscalls.list wrappers: one template line.
			// glibc's syscalls.list wrappers: one template (two of its lines).
			site(libc, "getpid", 5, "sysdeps/unix/syscall-template.S", 91, "getpid", 39, 100),
			site(libc, "mprotect", 5, "sysdeps/unix/syscall-template.S", 117, "mprotect", 10, 20),
			site(libc, "munmap", 5, "sysdeps/unix/syscall-template.S", 91, "munmap", 11, 30),
			// An assembly stub, and a macro's line in two C functions.
			site(libc, "clone", 9, "sysdeps/unix/sysv/linux/x86_64/clone.S", 60, "clone", 56, 4),
			site("/prog", "f", 9, "raw.h", 7, "read", 0, 6),
			site("/prog", "g", 9, "raw.h", 7, "write", 1, 7),
			// A stripped object's wrappers: mov $nr,%eax; syscall at the start.
			site("/lib/libother.so", "sched_yield", 5, "", 0, "sched_yield", 24, 5),
			site("/lib/libother.so", "getppid", 5, "", 0, "getppid", 110, 5),
			// Start-up code.
			site("/lib64/ld-linux-x86-64.so.2", "_dl_map_object", 9, "", 0, "openat", 257, 3),
			site("/prog", "__libc_setup_tls", 9, "", 0, "brk", 12, 1),
			// A function with an inline syscall, and one nowhere known.
			site("/prog", "loop", 9, "prog.c", 12, "getpid", 39, 1000),
			{Object: UnknownObject, Syscall: "read", Nr: 0, Kind: KindTrap, Count: 2},
			// Not trapped: not in the section.
			{Object: "/prog", Function: "main", Syscall: "write", Nr: 1, Kind: KindBypass, Count: 99},
		},
	}
	r.Totals = totalsOf(r.Syscalls)
	r.setMeans()
	got := PatchNextOf(r)
	type line struct {
		object, code, kind string
		sites              int
		calls, saving      uint64
	}
	var lines []line
	for _, g := range got {
		lines = append(lines, line{g.Object, g.Code, g.Kind, g.Sites, g.Calls, g.SavingNs})
	}
	// 3000 ns saved a call (getpid's own means; the run's, the same,
	// for the others).
	want := []line{
		{"/prog", "loop", PatchFunction, 1, 1000, 3000000},
		{libc, "syscall-template.S", PatchTemplate, 3, 150, 450000},
		{"/prog", "raw.h:7", PatchTemplate, 2, 13, 39000},
		{"/lib/libother.so", "simple wrappers (mov $nr,%eax; syscall)", PatchWrappers, 2, 10, 30000},
		{libc, "clone.S", PatchStub, 1, 4, 12000},
		{"/lib64/ld-linux-x86-64.so.2", "start-up", PatchStartup, 1, 3, 9000},
		{UnknownObject, "?", PatchUnknown, 1, 2, 6000},
		{"/prog", "start-up", PatchStartup, 1, 1, 3000},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("groups:\n got %+v\nwant %+v", lines, want)
	}
	if g := got[1]; !reflect.DeepEqual(g.Functions, []string{"getpid", "mprotect", "munmap"}) ||
		!reflect.DeepEqual(g.Syscalls, []string{"getpid", "mprotect", "munmap"}) || g.TimeNs != 150*3000 {
		t.Errorf("template group: %+v", g)
	}
	if PatchNextOf(&Report{Sites: r.Sites[len(r.Sites)-1:]}) != nil {
		t.Error("no trapped site: want no section")
	}
}

// TestTimeSections: a timed report's text, HTML and diff show the times
// and what to patch next; an untimed one shows the groups only.
func TestTimeSections(t *testing.T) {
	in := Input{Shards: []Shard{timedShard()}, Timing: &Timing{TSCHz: 2e9, TSCSource: "cpuid"}, NoSymbols: true,
		SyscallName: func(int) string { return "getpid" }}
	timed := Build(in)
	in.Timing = nil
	untimed := Build(in)
	if len(timed.PatchNext) != 1 || timed.PatchNext[0].SavingNs != 4*(2000-100) {
		t.Fatalf("patch next = %+v", timed.PatchNext)
	}
	render := func(r *Report) (text, html string) {
		var tb, hb strings.Builder
		if err := r.WriteText(&tb); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteHTML(&hb); err != nil {
			t.Fatal(err)
		}
		return tb.String(), hb.String()
	}
	text, html := render(timed)
	for _, want := range []string{"time in calls, most first", "  getpid                           100          2000             -         0.009", "what to patch next (1 groups; bypassing them all would save 0.008 ms)"} {
		if !strings.Contains(text, want) {
			t.Errorf("timed text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{`id="patch-table"`, `id="time-table"`, "TSC at 2.000 GHz, cpuid"} {
		if !strings.Contains(html, want) {
			t.Errorf("timed HTML lacks %q", want)
		}
	}
	text, html = render(untimed)
	if strings.Contains(text, "time in calls") || !strings.Contains(text, "what to patch next (1 groups, by calls") {
		t.Errorf("untimed text:\n%s", text)
	}
	if strings.Contains(html, `id="time-table"`) || !strings.Contains(html, `id="patch-table"`) {
		t.Error("untimed HTML: a time table, or no patch table")
	}
	var db strings.Builder
	if err := Compare(timed, timed).WriteText(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(db.String(), "2000 -> 2000") {
		t.Errorf("diff of timed reports:\n%s", db.String())
	}
	db.Reset()
	Compare(untimed, timed).WriteText(&db)
	if strings.Contains(db.String(), "mean ns a call") {
		t.Errorf("diff with an untimed side shows times:\n%s", db.String())
	}
}
