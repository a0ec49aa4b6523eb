package rundir

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

var testNames = map[int]string{0: "read", 1: "write", 3: "close", 39: "getpid", 60: "exit", 228: "clock_gettime", 231: "exit_group"}

func testSyscallName(nr int) string { return testNames[nr] }

const (
	libc     = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	libcBase = 0x7f1000000000
	vdsoBase = 0x7ffd0000a000
	exeBase  = 0x555500000000
)

// writeRun lays out a typical run directory: two threads, a main image, a
// libc with a hole punched into it, the vDSO, and one site nowhere mapped.
func writeRun(t *testing.T, dir string) (main, worker *cblock.ControlBlock) {
	t.Helper()
	main = openTestShard(t, dir, 100)
	worker = openTestShard(t, dir, 101)

	main.Counts[1][cblock.KindBypass] = 10
	main.Counts[1][cblock.KindTrap] = 4
	main.Counts[39][cblock.KindTrap] = 2
	main.Counts[228][cblock.KindVDSO] = 50
	worker.Counts[1][cblock.KindBypass] = 5
	worker.Counts[0][cblock.KindTrap] = 1
	worker.Counts[231][cblock.KindBypass] = 1
	worker.Counts[cblock.NrMax-1][cblock.KindTrap] = 2

	main.Sites[3] = cblock.Site{Addr: libcBase + 0x1234, Nr: 1, Kind: cblock.KindTrap, Count: 3}
	main.Sites[17] = cblock.Site{Addr: exeBase + 0x10, Nr: 39, Kind: cblock.KindTrap, Count: 2}
	main.Sites[99] = cblock.Site{Addr: vdsoBase + 0x40, Nr: 228, Kind: cblock.KindVDSO, Count: 50}
	main.Sites[100] = cblock.Site{Addr: 0x1000, Nr: 1, Kind: cblock.KindTrap, Count: 1} // unmapped
	worker.Sites[3] = cblock.Site{Addr: libcBase + 0x1234, Nr: 1, Kind: cblock.KindTrap, Count: 0}
	worker.Sites[5] = cblock.Site{Addr: libcBase + 0x1234, Nr: 1, Kind: cblock.KindBypass, Count: 5}
	worker.Sites[6] = cblock.Site{Addr: exeBase + 0x10, Nr: 39, Kind: cblock.KindTrap, Count: 0}
	worker.Sites[7] = cblock.Site{Addr: libcBase + 0x9000, Nr: 0, Kind: cblock.KindTrap, Count: 1}
	worker.Sites[8] = cblock.Site{Addr: libcBase + 0x3800, Nr: cblock.NrMax - 1, Kind: cblock.KindTrap, Count: 2}
	main.Exit = cblock.Exit{Done: 1, Code: 0}

	l := openTestLog(t, filepath.Join(dir, EventsFile))
	for _, err := range []error{
		l.Exec("/work/prog", []string{"prog", "-v"}, "/lib64/ld-linux-x86-64.so.2"),
		l.Map(exeBase, exeBase+0x1000, 0, unix.PROT_READ|unix.PROT_EXEC, "/work/prog"),
		// ld.so maps the whole file, then replaces its text with MAP_FIXED.
		l.Map(libcBase, libcBase+0x10000, 0, unix.PROT_READ, libc),
		l.Map(libcBase+0x1000, libcBase+0x8000, 0x2000, unix.PROT_READ|unix.PROT_EXEC, libc),
		l.Unmap(libcBase+0x3000, libcBase+0x4000), // hole: 0x3800 falls back to history
		l.Map(vdsoBase, vdsoBase+0x2000, 0, unix.PROT_READ|unix.PROT_EXEC, "[vdso]"),
		l.Error("not supported yet: clone"),
		l.Error("not supported yet: clone"),
		l.Error("ioctl TCGETS2 refused"),
		l.Exit(0, 0),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return main, worker
}

func buildRun(t *testing.T, dir string, host coverage.HostStatus) *coverage.Report {
	t.Helper()
	in := readInput(t, dir)
	in.Command, in.Host, in.TrapMode = []string{"prog", "-v"}, host, "seccomp"
	in.SyscallName, in.NoSymbols = testSyscallName, true
	return coverage.Build(in)
}

// readInput is ReadInput(dir), which must not fail.
func readInput(t *testing.T, dir string) coverage.Input {
	t.Helper()
	in, err := ReadInput(dir)
	if err != nil {
		t.Fatalf("ReadInput: %v", err)
	}
	return in
}

func TestBuildMergesShards(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir)
	r := buildRun(t, dir, coverage.HostStatus{})

	if r.Schema != coverage.Schema || !reflect.DeepEqual(r.Command, []string{"prog", "-v"}) || r.TrapMode != "seccomp" {
		t.Errorf("header: %q %q %q", r.Schema, r.Command, r.TrapMode)
	}
	if r.Threads != 2 {
		t.Errorf("threads = %d, want 2", r.Threads)
	}
	wantTotals := coverage.Totals{Bypass: 16, Trap: 9, VDSO: 50, Total: 75}
	if r.Totals != wantTotals {
		t.Errorf("totals = %+v, want %+v", r.Totals, wantTotals)
	}
	var sum coverage.Totals
	for _, s := range r.Syscalls {
		sum.Bypass += s.Bypass
		sum.Trap += s.Trap
		sum.VDSO += s.VDSO
		sum.Total += s.Total
		if s.Total != s.Bypass+s.Trap+s.VDSO {
			t.Errorf("%s: total %d != %d+%d+%d", s.Name, s.Total, s.Bypass, s.Trap, s.VDSO)
		}
	}
	if sum != r.Totals {
		t.Errorf("rows sum to %+v, totals say %+v", sum, r.Totals)
	}
	if !sort.SliceIsSorted(r.Syscalls, func(i, j int) bool { return r.Syscalls[i].Nr < r.Syscalls[j].Nr }) {
		t.Error("syscalls not sorted by nr")
	}
	wantRows := []coverage.SyscallRow{
		{Nr: 0, Name: "read", Trap: 1, Total: 1},
		{Nr: 1, Name: "write", Bypass: 15, Trap: 4, Total: 19},
		{Nr: 39, Name: "getpid", Trap: 2, Total: 2},
		{Nr: 228, Name: "clock_gettime", VDSO: 50, Total: 50},
		{Nr: 231, Name: "exit_group", Bypass: 1, Total: 1},
		{Nr: cblock.NrMax - 1, Name: "syscall_511", Trap: 2, Total: 2},
	}
	if !reflect.DeepEqual(r.Syscalls, wantRows) {
		t.Errorf("syscalls:\n got %+v\nwant %+v", r.Syscalls, wantRows)
	}

	wantSites := []coverage.Site{
		{Address: vdsoBase + 0x40, Object: "[vdso]", Offset: 0x40, Nr: 228, Syscall: "clock_gettime", Kind: "vdso", Count: 50},
		{Address: libcBase + 0x1234, Object: libc, Offset: 0x2234, Nr: 1, Syscall: "write", Kind: "bypass", Count: 5},
		{Address: libcBase + 0x1234, Object: libc, Offset: 0x2234, Nr: 1, Syscall: "write", Kind: "trap", Count: 3},
		// Unmapped at the end of the run: the latest mapping that held it.
		{Address: libcBase + 0x3800, Object: libc, Offset: 0x4800, Nr: cblock.NrMax - 1, Syscall: "syscall_511", Kind: "trap", Count: 2},
		{Address: exeBase + 0x10, Object: "/work/prog", Offset: 0x10, Nr: 39, Syscall: "getpid", Kind: "trap", Count: 2},
		// Outside the MAP_FIXED text: the whole-file mapping's offset.
		{Address: libcBase + 0x9000, Object: libc, Offset: 0x9000, Nr: 0, Syscall: "read", Kind: "trap", Count: 1},
		{Address: 0x1000, Object: coverage.UnknownObject, Offset: 0x1000, Nr: 1, Syscall: "write", Kind: "trap", Count: 1},
	}
	if !reflect.DeepEqual(r.Sites, wantSites) {
		t.Errorf("sites:\n got %+v\nwant %+v", r.Sites, wantSites)
	}

	if !r.Complete || r.IncompleteReason != "" {
		t.Errorf("complete = %v (%q), want true", r.Complete, r.IncompleteReason)
	}
	if r.Exit != (coverage.ExitStatus{}) {
		t.Errorf("exit = %+v", r.Exit)
	}
	if !reflect.DeepEqual(r.Errors, []string{"not supported yet: clone", "ioctl TCGETS2 refused"}) {
		t.Errorf("errors = %q", r.Errors)
	}
	wantExecs := []coverage.Exec{{Path: "/work/prog", Argv: []string{"prog", "-v"}, Interp: "/lib64/ld-linux-x86-64.so.2"}}
	if !reflect.DeepEqual(r.Execs, wantExecs) {
		t.Errorf("execs = %+v", r.Execs)
	}
}

func TestBuildHostKilledBeforeGuestExit(t *testing.T) {
	dir := t.TempDir()
	cb := openTestShard(t, dir, 1)
	cb.Counts[1][cblock.KindTrap] = 1

	r := buildRun(t, dir, coverage.HostStatus{Signal: syscall.SIGKILL})
	if r.Complete {
		t.Error("complete without an exit record")
	}
	if want := "host process killed by SIGKILL before the guest exited"; r.IncompleteReason != want {
		t.Errorf("reason = %q, want %q", r.IncompleteReason, want)
	}
	if r.Exit.Signal != "SIGKILL" || r.Host.Signal != "SIGKILL" {
		t.Errorf("exit = %+v, host = %+v", r.Exit, r.Host)
	}
	if r.Totals.Trap != 1 {
		t.Errorf("counts of a killed host lost: %+v", r.Totals)
	}

	r = buildRun(t, dir, coverage.HostStatusFromWait(syscall.WaitStatus(3<<8)))
	if r.Complete || r.IncompleteReason != "host process exited with code 3 before the guest exited" || r.Exit.Code != 3 {
		t.Errorf("exit code 3: complete=%v reason=%q exit=%+v", r.Complete, r.IncompleteReason, r.Exit)
	}
}

func TestBuildGuestExit(t *testing.T) {
	t.Run("fault record wins", func(t *testing.T) {
		dir := t.TempDir()
		a := openTestShard(t, dir, 1)
		b := openTestShard(t, dir, 2)
		a.Exit = cblock.Exit{Done: 1, Code: 0}
		b.Exit = cblock.Exit{Done: 1, Signal: int32(syscall.SIGSEGV), FaultAddr: 0x8, FaultRip: 0x401000}
		// The host then re-raised the signal on itself.
		r := buildRun(t, dir, coverage.HostStatus{Signal: syscall.SIGSEGV})
		want := coverage.ExitStatus{Signal: "SIGSEGV", FaultAddr: 0x8, FaultRIP: 0x401000}
		if !r.Complete || r.Exit != want {
			t.Errorf("complete=%v exit=%+v, want %+v", r.Complete, r.Exit, want)
		}
	})
	t.Run("event log fallback", func(t *testing.T) {
		dir := t.TempDir()
		openTestShard(t, dir, 1)
		l := openTestLog(t, filepath.Join(dir, EventsFile))
		l.Exit(0, syscall.SIGABRT)
		l.Exit(7, 0)
		r := buildRun(t, dir, coverage.HostStatus{Code: 7})
		if !r.Complete || r.Exit != (coverage.ExitStatus{Code: 7}) {
			t.Errorf("complete=%v exit=%+v", r.Complete, r.Exit)
		}
	})
	t.Run("trap mode from shard", func(t *testing.T) {
		dir := t.TempDir()
		openTestShard(t, dir, 1).TrapMode = cblock.TrapSUD
		r := coverage.Build(readInput(t, dir))
		if r.TrapMode != "sud" {
			t.Errorf("trap mode = %q", r.TrapMode)
		}
	})
}

func TestBuildBadInputs(t *testing.T) {
	dir := t.TempDir()
	cb := openTestShard(t, dir, 1)
	cb.Counts[1][cblock.KindBypass] = 2
	cb.Exit.Done = 1
	// A shard the host created but never initialised: nothing to say.
	if err := os.WriteFile(ShardPath(dir, 2), make([]byte, cblock.Size), 0o644); err != nil {
		t.Fatal(err)
	}
	r := buildRun(t, dir, coverage.HostStatus{})
	if !r.Complete || len(r.Errors) != 0 || r.Threads != 1 {
		t.Fatalf("uninitialised shard: complete=%v errors=%q threads=%d", r.Complete, r.Errors, r.Threads)
	}
	// A truncated shard loses counts: the report says so.
	if err := os.WriteFile(ShardPath(dir, 3), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	// And a corrupt middle line in the log is reported, not fatal.
	if err := os.WriteFile(filepath.Join(dir, EventsFile), []byte("garbage\n{\"ev\":\"error\",\"msg\":\"m\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = buildRun(t, dir, coverage.HostStatus{})
	if r.Complete || !strings.Contains(r.IncompleteReason, "1 shard file(s) unreadable") {
		t.Errorf("truncated shard: complete=%v reason=%q", r.Complete, r.IncompleteReason)
	}
	if r.Totals.Bypass != 2 {
		t.Errorf("good shard's counts lost: %+v", r.Totals)
	}
	if len(r.Errors) != 3 || r.Errors[0] != "m" || !strings.Contains(r.Errors[1], "shard-3.cb") ||
		!strings.Contains(r.Errors[2], "events.jsonl:1: malformed event") {
		t.Errorf("errors = %q", r.Errors)
	}

	// An empty run directory is a report of nothing, not a failure.
	in := readInput(t, t.TempDir())
	in.Host = coverage.HostStatus{Signal: syscall.SIGKILL}
	r = coverage.Build(in)
	if r.Complete || r.Totals != (coverage.Totals{}) || len(r.Sites) != 0 {
		t.Errorf("empty dir: %+v", r)
	}
}

func TestBuildFromPreparedInput(t *testing.T) {
	sd := &ShardData{Sites: []cblock.Site{{Addr: 0x5010, Nr: 3, Kind: cblock.KindTrap, Count: 9}}}
	sd.Counts[3][cblock.KindTrap] = 9
	sd.Exit.Done = 1
	r := coverage.Build(coverage.Input{
		Shards:    []coverage.Shard{sd.Plain(), sd.Plain()},
		Events:    []coverage.Event{{Ev: coverage.EvMap, Start: 0x5000, End: 0x6000, Offset: 0x3000, Path: "/lib/x.so"}},
		NoSymbols: true,
	})
	want := []coverage.Site{{Address: 0x5010, Object: "/lib/x.so", Offset: 0x3010, Nr: 3, Syscall: "syscall_3", Kind: "trap", Count: 18}}
	if !reflect.DeepEqual(r.Sites, want) || r.Totals.Trap != 18 {
		t.Errorf("sites = %+v, totals = %+v", r.Sites, r.Totals)
	}
}

func TestSymbolsFromELF(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	os.WriteFile(src, []byte(`
long vsys_probe_write(long x) { return x * 3 + 1; }
static long hidden(long x) { return x - 7; }
long vsys_probe_read(long x) { return hidden(x) ^ 5; }
`), 0o644)
	for _, tc := range []struct{ name, flag string }{{"symtab", "-g0"}, {"stripped", "-s"}} {
		t.Run(tc.name, func(t *testing.T) {
			so := filepath.Join(dir, tc.name+".so")
			if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", tc.flag, "-o", so, src).CombinedOutput(); err != nil {
				t.Fatalf("gcc: %v\n%s", err, out)
			}
			f, err := elf.Open(so)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dyn, err := f.DynamicSymbols()
			if err != nil {
				t.Fatal(err)
			}
			var fn elf.Symbol
			for _, s := range dyn {
				if s.Name == "vsys_probe_read" {
					fn = s
				}
			}
			var text *elf.Prog
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
					text = p
				}
			}
			if fn.Value == 0 || text == nil || fn.Size < 2 {
				t.Fatalf("probe symbol %+v or text segment missing", fn)
			}
			// The text segment mapped at a page-aligned base, as ld.so does.
			const base = 0x7f0000000000
			start := base + (text.Vaddr &^ 0xfff)
			addr := start + (fn.Value - text.Vaddr&^0xfff) + 1
			r := coverage.Build(coverage.Input{
				Shards: plain(&ShardData{Sites: []cblock.Site{
					{Addr: addr, Nr: 0, Kind: cblock.KindTrap, Count: 1},
					{Addr: start + text.Memsz + 0x100000, Nr: 0, Kind: cblock.KindTrap, Count: 1},
				}}),
				Events: []coverage.Event{{Ev: coverage.EvMap, Start: coverage.Hex(start), End: coverage.Hex(start + text.Memsz + 0x1000),
					Offset: coverage.Hex(text.Off &^ 0xfff), Path: so}},
			})
			site := r.Sites[0]
			if site.Object != so || site.Symbol != "vsys_probe_read+0x1" {
				t.Errorf("site = %+v, want %s <vsys_probe_read+0x1>", site, so)
			}
			if r.Sites[1].Symbol != "" || r.Sites[1].Object != coverage.UnknownObject {
				t.Errorf("site outside the object: %+v", r.Sites[1])
			}
		})
	}
}

// A child that died without writing its own exit (SIGKILL) still gets one
// in the process tree, from its parent's wait.
func TestBuildProcessTreeFromReapedChild(t *testing.T) {
	dir := t.TempDir()
	openTestShard(t, dir, 1)
	l := openTestLog(t, filepath.Join(dir, EventsFile))
	l.Exec("/bin/sh", []string{"sh"}, "")
	l.Reaped(4242, 0, syscall.SIGKILL)
	l.Reaped(4243, 3, 0)
	l.Exit(0, 0)
	r := buildRun(t, dir, coverage.HostStatus{})
	if len(r.Processes) != 3 {
		t.Fatalf("processes %+v", r.Processes)
	}
	if e := r.Processes[1].Exit; r.Processes[1].Pid != 4242 || e == nil || e.Signal != "SIGKILL" {
		t.Errorf("killed child: %+v", r.Processes[1])
	}
	if e := r.Processes[2].Exit; e == nil || e.Code != 3 {
		t.Errorf("exited child: %+v", r.Processes[2])
	}
}

// Two processes of a tree load a library at different addresses: the text
// lists the call site once, in its object, with both counts.
func TestSitesResolvePerProcess(t *testing.T) {
	dir := t.TempDir()
	const (
		parent, child = 500, 501
		image         = 0x4000_0000_0000
		libcAt        = 0x4000_1000_0000
	)
	var lines []byte
	for _, ev := range []coverage.Event{
		{Ev: coverage.EvExec, Pid: parent, Path: "/bin/sh"},
		{Ev: coverage.EvMap, Pid: parent, Start: image, End: image + 0x10000, Path: "/bin/sh"},
		{Ev: coverage.EvMap, Pid: parent, Start: libcAt, End: libcAt + 0x10000, Offset: 0x1000, Path: libc},
		{Ev: coverage.EvFork, Pid: child, Parent: parent},
		{Ev: coverage.EvExec, Pid: child, Path: "/bin/cat"},
		{Ev: coverage.EvUnmap, Pid: child, Start: image, End: image + 0x10000},
		{Ev: coverage.EvMap, Pid: child, Start: image, End: image + 0x8000, Path: "/bin/cat"},
		{Ev: coverage.EvExit, Pid: parent},
	} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(append(lines, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, EventsFile), lines, 0o644); err != nil {
		t.Fatal(err)
	}
	sh, cat := openTestShard(t, dir, parent), openTestShard(t, dir, child)
	sh.Pid, cat.Pid = parent, child
	sh.Counts[1][cblock.KindTrap], cat.Counts[1][cblock.KindTrap] = 2, 3+4
	sh.Sites[0] = cblock.Site{Addr: image + 0x100, Nr: 1, Kind: cblock.KindTrap, Count: 2}
	cat.Sites[0] = cblock.Site{Addr: image + 0x100, Nr: 1, Kind: cblock.KindTrap, Count: 3}
	cat.Sites[1] = cblock.Site{Addr: libcAt + 0x200, Nr: 1, Kind: cblock.KindTrap, Count: 4}

	r := buildRun(t, dir, coverage.HostStatus{})
	got := map[string]uint64{}
	for _, s := range r.Sites {
		got[fmt.Sprintf("%s %s %s", s.Address, s.Object, s.Offset)] += s.Count
	}
	want := map[string]uint64{
		"0x400000000100 /bin/sh 0x100":       2,
		"0x400000000100 /bin/cat 0x100":      3,
		"0x400010000200 " + libc + " 0x1200": 4,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sites:\n%v\nwant:\n%v", got, want)
	}
}

// Numbers outside the x86-64 table and i386 calls are counted in the site
// table only; they still get rows and totals.
func TestBuildSiteOnlyRows(t *testing.T) {
	sd := &ShardData{Pid: 1}
	sd.Counts[39][cblock.KindTrap] = 1
	sd.Sites = []cblock.Site{
		{Addr: 0x1000, Nr: 39, Kind: cblock.KindTrap, Count: 1},
		{Addr: 0x1002, Nr: 0xffffffff, Kind: cblock.KindTrap, Count: 2},
		{Addr: 0x1004, Nr: 0xffffffff, Kind: cblock.KindBypass, Count: 1},
		{Addr: 0x1006, Nr: 512, Kind: cblock.KindTrap, Count: 1},
		{Addr: 0x1008, Nr: 20, Kind: cblock.KindInt80, Count: 3},
		{Addr: 0x100a, Nr: 9999, Kind: cblock.KindInt80, Count: 1},
	}
	r := coverage.Build(coverage.Input{Shards: plain(sd), NoSymbols: true})
	want := []coverage.SyscallRow{
		{Nr: 39, Name: "syscall_39", Trap: 1, Total: 1},
		{Nr: 512, Name: "syscall_512", Trap: 1, Total: 1, Errors: 1},
		{Nr: 0xffffffff, Name: "syscall_4294967295", Bypass: 1, Trap: 2, Total: 3, Errors: 3},
		{Nr: 20, Name: "i386_getpid", Int80: 3, Total: 3},
		{Nr: 9999, Name: "i386_9999", Int80: 1, Total: 1},
	}
	if !reflect.DeepEqual(r.Syscalls, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", r.Syscalls, want)
	}
	if got := (coverage.Totals{Bypass: 1, Trap: 4, Int80: 4, Total: 9}); r.Totals != got {
		t.Errorf("totals %+v, want %+v", r.Totals, got)
	}
	for _, s := range r.Sites {
		if s.Nr == 20 && (s.Kind != "int80" || s.Syscall != "i386_getpid") {
			t.Errorf("int80 site %+v", s)
		}
	}
}

// plain is the shards' data as the report reads it.
func plain(sds ...*ShardData) []coverage.Shard {
	var out []coverage.Shard
	for _, sd := range sds {
		out = append(out, sd.Plain())
	}
	return out
}
