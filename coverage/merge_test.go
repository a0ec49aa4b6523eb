package coverage

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
)

// call is a syscall made n times from offset off of obj, by path kind.
type call struct {
	obj  string
	off  uint64
	nr   int
	kind string
	n    uint64
}

// aslrRun builds, through Build, the report of a one-thread run that made
// calls, with the i-th distinct object mapped at base + i*1MiB: runs with
// different bases put the same sites at different addresses, as ASLR does.
func aslrRun(t *testing.T, cmd []string, base uint64, exit int, calls ...call) *Report {
	t.Helper()
	sd := Shard{TrapMode: "seccomp", Exit: &ExitStatus{Code: exit}}
	slot := map[string]uint64{}
	var events []Event
	for _, c := range calls {
		if _, ok := slot[c.obj]; !ok {
			start := base + uint64(len(slot))<<20
			slot[c.obj] = start
			events = append(events, Event{Ev: EvMap, Start: Hex(start), End: Hex(start + 1<<20), Path: c.obj})
		}
		sd.Syscalls = append(sd.Syscalls, callRow(c.nr, c.kind, c.n))
		sd.Sites = append(sd.Sites, Site{Address: Hex(slot[c.obj] + c.off), Nr: c.nr, Kind: c.kind, Count: c.n})
	}
	return Build(Input{Command: cmd, Shards: []Shard{sd}, Events: events,
		SyscallName: testSyscallName, NoSymbols: true})
}

// callRow is the row of n calls of nr by kind as a shard counts them: a
// number outside the x86-64 table (512 and up) is an error (ENOSYS).
func callRow(nr int, kind string, n uint64) SyscallRow {
	row := SyscallRow{Nr: nr}
	switch kind {
	case KindBypass:
		row.Bypass = n
	case KindTrap:
		row.Trap = n
	case KindVDSO:
		row.VDSO = n
	case KindPatched:
		row.Patched = n
	case KindInt80:
		return SyscallRow{Nr: nr, Int80: n}
	}
	if nr < 0 || nr >= 512 {
		row.Errors = n
	}
	return row
}

var testNames = map[int]string{0: "read", 1: "write", 3: "close", 39: "getpid", 60: "exit", 228: "clock_gettime", 231: "exit_group"}

func testSyscallName(nr int) string { return testNames[nr] }

const (
	libc     = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	libcBase = 0x7f1000000000
	vdsoBase = 0x7ffd0000a000
	exeBase  = 0x555500000000
)

// twoThreadRun is the report of a typical run (rundir's build test reads
// the same run from shard files): two threads, a main image, a libc with a
// hole punched into it, the vDSO, and one site nowhere mapped.
func twoThreadRun(host HostStatus) *Report {
	main := Shard{Exit: &ExitStatus{}, Syscalls: []SyscallRow{
		{Nr: 1, Bypass: 10, Trap: 4}, {Nr: 39, Trap: 2}, {Nr: 228, VDSO: 50},
	}, Sites: []Site{
		{Address: libcBase + 0x1234, Nr: 1, Kind: KindTrap, Count: 3},
		{Address: exeBase + 0x10, Nr: 39, Kind: KindTrap, Count: 2},
		{Address: vdsoBase + 0x40, Nr: 228, Kind: KindVDSO, Count: 50},
		{Address: 0x1000, Nr: 1, Kind: KindTrap, Count: 1}, // unmapped
	}}
	worker := Shard{Syscalls: []SyscallRow{
		{Nr: 0, Trap: 1}, {Nr: 1, Bypass: 5}, {Nr: 231, Bypass: 1}, {Nr: 511, Trap: 2},
	}, Sites: []Site{
		{Address: libcBase + 0x1234, Nr: 1, Kind: KindBypass, Count: 5},
		{Address: libcBase + 0x9000, Nr: 0, Kind: KindTrap, Count: 1},
		{Address: libcBase + 0x3800, Nr: 511, Kind: KindTrap, Count: 2},
	}}
	events := []Event{
		{Ev: EvExec, Path: "/work/prog", Argv: []string{"prog", "-v"}, Interp: "/lib64/ld-linux-x86-64.so.2"},
		{Ev: EvMap, Start: exeBase, End: exeBase + 0x1000, Path: "/work/prog"},
		// ld.so maps the whole file, then replaces its text with MAP_FIXED.
		{Ev: EvMap, Start: libcBase, End: libcBase + 0x10000, Path: libc},
		{Ev: EvMap, Start: libcBase + 0x1000, End: libcBase + 0x8000, Offset: 0x2000, Path: libc},
		{Ev: EvUnmap, Start: libcBase + 0x3000, End: libcBase + 0x4000}, // hole: 0x3800 falls back to history
		{Ev: EvMap, Start: vdsoBase, End: vdsoBase + 0x2000, Path: "[vdso]"},
		{Ev: EvError, Msg: "not supported yet: clone"},
		{Ev: EvError, Msg: "not supported yet: clone"},
		{Ev: EvError, Msg: "ioctl TCGETS2 refused"},
		{Ev: EvExit},
	}
	return Build(Input{Command: []string{"prog", "-v"}, Shards: []Shard{main, worker}, Events: events,
		Host: host, TrapMode: "seccomp", SyscallName: testSyscallName, NoSymbols: true})
}

func jsonOf(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const libx = "/lib/x.so"

func TestMergeSumsByObjectOffsetAcrossASLR(t *testing.T) {
	cmd := []string{"prog"}
	a := aslrRun(t, cmd, 0x7f0000000000, 0,
		call{libx, 0x100, 1, KindTrap, 3},
		call{libx, 0x200, 1, KindBypass, 10},
		call{"/prog", 0x10, 39, KindTrap, 1})
	b := aslrRun(t, cmd, 0x7f5500000000, 0,
		call{libx, 0x100, 1, KindTrap, 4},
		call{libx, 0x300, 0, KindTrap, 2})
	aJSON, bJSON := jsonOf(t, a), jsonOf(t, b)

	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, a) != aJSON || jsonOf(t, b) != bJSON {
		t.Error("Merge modified its inputs")
	}
	wantSites := []Site{
		{Address: 0x7f0000000000 + 0x200, Object: libx, Offset: 0x200, Nr: 1, Syscall: "write", Kind: "bypass", Count: 10},
		{Address: 0, Object: libx, Offset: 0x100, Nr: 1, Syscall: "write", Kind: "trap", Count: 7},
		{Address: 0x7f5500000000 + 0x300, Object: libx, Offset: 0x300, Nr: 0, Syscall: "read", Kind: "trap", Count: 2},
		{Address: 0x7f0000100000 + 0x10, Object: "/prog", Offset: 0x10, Nr: 39, Syscall: "getpid", Kind: "trap", Count: 1},
	}
	if !reflect.DeepEqual(m.Sites, wantSites) {
		t.Errorf("sites:\n got %+v\nwant %+v", m.Sites, wantSites)
	}
	wantRows := []SyscallRow{
		{Nr: 0, Name: "read", Trap: 2, Total: 2},
		{Nr: 1, Name: "write", Bypass: 10, Trap: 7, Total: 17},
		{Nr: 39, Name: "getpid", Trap: 1, Total: 1},
	}
	if !reflect.DeepEqual(m.Syscalls, wantRows) {
		t.Errorf("syscalls:\n got %+v\nwant %+v", m.Syscalls, wantRows)
	}
	if want := (Totals{Bypass: 10, Trap: 10, Total: 20}); m.Totals != want {
		t.Errorf("totals = %+v, want %+v", m.Totals, want)
	}
	if !reflect.DeepEqual(m.Command, cmd) || !m.Complete || m.IncompleteReason != "" || m.TrapMode != "seccomp" || m.Threads != 2 {
		t.Errorf("header: command %q complete %v %q trap mode %q threads %d",
			m.Command, m.Complete, m.IncompleteReason, m.TrapMode, m.Threads)
	}
	wantRuns := []Run{{Command: cmd, Complete: true}, {Command: cmd, Complete: true}}
	if !reflect.DeepEqual(m.Runs, wantRuns) {
		t.Errorf("runs = %+v", m.Runs)
	}
}

func TestMergeIsAssociative(t *testing.T) {
	a := aslrRun(t, []string{"a"}, 0x10000000, 0, call{libx, 0x100, 1, KindTrap, 3}, call{libx, 0x8, 0, KindBypass, 1})
	b := aslrRun(t, []string{"b"}, 0x20000000, 2, call{libx, 0x100, 1, KindTrap, 1}, call{"/b", 0x8, 3, KindTrap, 5})
	c := aslrRun(t, []string{"c"}, 0x10000000, 0, call{libx, 0x100, 1, KindTrap, 2}, call{libx, 0x8, 0, KindBypass, 4})
	c.TrapMode = "sud"
	c.Errors = []string{"not supported yet: clone"}
	b.Complete, b.IncompleteReason, b.Runs[0].Complete = false, "host process killed by SIGKILL before the guest exited", false

	merge := func(rs ...*Report) *Report {
		m, err := Merge(rs...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	flat := jsonOf(t, merge(a, b, c))
	if left := jsonOf(t, merge(merge(a, b), c)); left != flat {
		t.Errorf("(a+b)+c differs from a+b+c:\n%s\n---\n%s", left, flat)
	}
	if right := jsonOf(t, merge(a, merge(b, c))); right != flat {
		t.Errorf("a+(b+c) differs from a+b+c:\n%s\n---\n%s", right, flat)
	}

	m := merge(a, b, c)
	if m.Complete || m.IncompleteReason != "1 of 3 merged runs incomplete" {
		t.Errorf("complete %v, reason %q", m.Complete, m.IncompleteReason)
	}
	if m.Exit.Code != 2 {
		t.Errorf("exit = %v, want the failing run's code 2", m.Exit)
	}
	if len(m.Command) != 0 || m.TrapMode != TrapModeMixed {
		t.Errorf("command %q, trap mode %q: want empty and %q", m.Command, m.TrapMode, TrapModeMixed)
	}
	wantErrs := []string{"b: host process killed by SIGKILL before the guest exited", "not supported yet: clone"}
	if !reflect.DeepEqual(m.Errors, wantErrs) {
		t.Errorf("errors = %q, want %q", m.Errors, wantErrs)
	}
	for i, s := range m.Sites {
		if s.Object == libx && s.Offset == 0x8 && s.Address != 0x10000008 {
			t.Errorf("site %d seen at one address in every run lost it: %+v", i, s)
		}
	}
}

func TestMergeOfReportWithoutRunsAndBuiltRun(t *testing.T) {
	full := twoThreadRun(HostStatus{})
	old := aslrRun(t, []string{"old", "x"}, 0x1000000, 0, call{libx, 0x10, 3, KindTrap, 1})
	old.Runs = nil // written before reports had runs
	m, err := Merge(full, old)
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{{Command: []string{"prog", "-v"}, Complete: true}, {Command: []string{"old", "x"}, Complete: true}}
	if !reflect.DeepEqual(m.Runs, want) {
		t.Errorf("runs = %+v, want %+v", m.Runs, want)
	}
	if m.Totals.Total != full.Totals.Total+old.Totals.Total || m.SitesDropped != full.SitesDropped {
		t.Errorf("totals %+v", m.Totals)
	}
	if len(m.Execs) != len(full.Execs) || !reflect.DeepEqual(m.Errors, full.Errors) {
		t.Errorf("execs %+v errors %q", m.Execs, m.Errors)
	}
	// The merged report survives its own JSON form.
	path := t.TempDir() + "/m.json"
	if err := os.WriteFile(path, []byte(jsonOf(t, m)), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, back) != jsonOf(t, m) {
		t.Error("merged report changed through WriteJSON+Load")
	}
}

func TestMergeErrors(t *testing.T) {
	if _, err := Merge(); !errors.Is(err, ErrNoReports) {
		t.Errorf("Merge() = %v, want ErrNoReports", err)
	}
	if _, err := Merge(&Report{Schema: Schema}, nil); err == nil {
		t.Error("Merge with a nil report succeeded")
	}
	var se *SchemaError
	if _, err := Merge(&Report{Schema: Schema}, &Report{Schema: "vsysbed.report/v0"}); !errors.As(err, &se) || se.Schema != "vsysbed.report/v0" {
		t.Errorf("Merge of another schema = %v, want *SchemaError", err)
	}
}

// An i386 row keeps apart from the x86-64 row of the same number (20 is
// writev there, getpid for int $0x80).
func TestMergeKeepsInt80RowsApart(t *testing.T) {
	mk := func() *Report {
		sd := Shard{Pid: 1, Syscalls: []SyscallRow{{Nr: 20, Trap: 2}, {Nr: 20, Int80: 1}}, Sites: []Site{
			{Address: 0x1000, Nr: 20, Kind: KindTrap, Count: 2},
			{Address: 0x2000, Nr: 20, Kind: KindInt80, Count: 1},
		}}
		r := Build(Input{Shards: []Shard{sd}, NoSymbols: true, Command: []string{"prog"}})
		return r
	}
	m, err := Merge(mk(), mk())
	if err != nil {
		t.Fatal(err)
	}
	want := []SyscallRow{
		{Nr: 20, Name: "syscall_20", Trap: 4, Total: 4},
		{Nr: 20, Name: "i386_getpid", Int80: 2, Total: 2},
	}
	if !reflect.DeepEqual(m.Syscalls, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", m.Syscalls, want)
	}
	if m.Totals.Int80 != 2 || m.Totals.Total != 6 {
		t.Errorf("totals %+v", m.Totals)
	}
	if d := Compare(mk(), mk()); len(d.Syscalls) != 0 {
		t.Errorf("diff of equal reports: %+v", d.Syscalls)
	}
}
