package coverage

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	goldenfile "github.com/vsysbed/vsysbed/internal/golden"
)

// golden compares got with testdata/golden/name (golden.Check).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, name, got)
}

// goldenSites are call sites that exercise every way a site list can lay
// out a site: many objects, long and non-ASCII paths, symbols, functions
// without symbols, neither, source lines, a newline in a name, long
// syscall names, ties, the same site at two addresses, and kinds other
// than trap between them. n is how many plain trap sites come after the
// special ones.
func goldenSites(n int) []Site {
	longObj := "/" + strings.Repeat("very-long-directory-name/", 5) + "libfoo.so.1"
	sites := []Site{
		{Address: 0x7f0000002234, Object: libc, Offset: 0x2234, Symbol: "clone+0x14", Nr: 56, Syscall: "clone", Kind: KindTrap, Count: 900},
		{Address: 0x7f0000001000, Object: "/work/prog", Offset: 0x1000, Symbol: "main+0x10", Nr: 1, Syscall: "write", Kind: KindBypass, Count: 800},
		{Address: 0x7f0000004444, Object: libc, Offset: 0x4444, Function: "__write", File: "write.c", Line: 26, Nr: 1, Syscall: "write", Kind: KindTrap, Count: 70},
		{Address: 0x7f1000004444, Object: libc, Offset: 0x4444, Function: "__write", File: "write.c", Line: 26, Nr: 1, Syscall: "write", Kind: KindTrap, Count: 30},
		{Address: 0x7f0000000900, Object: VDSOObject, Offset: 0x900, Symbol: "__vdso_clock_gettime", Nr: 228, Syscall: "clock_gettime", Kind: KindVDSO, Count: 500},
		{Address: 0x7e0000000010, Object: longObj, Offset: 0x10, Symbol: strings.Repeat("s", 60), Nr: 0, Syscall: "read", Kind: KindTrap, Count: 64},
		{Address: 0x7e0000000020, Object: "/opt/ünïcødé/libü.so", Offset: 0x20, Symbol: "fünc+0x1", Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 64},
		{Address: 0x1000, Object: UnknownObject, Offset: 0x1000, Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 12},
		{Address: 0x2000, Object: UnknownObject, Offset: 0x1000, Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 11},
		{Address: 0x7f0000005000, Object: "/work/prog", Offset: 0x5000, Symbol: "bad\nname", Nr: 3, Syscall: "close", Kind: KindTrap, Count: 10},
		{Address: 0x7f0000006000, Object: "/work/prog", Offset: 0x123456789abc, Nr: 511, Syscall: "syscall_with_a_very_long_name_indeed_511", Kind: KindTrap, Count: 9},
		{Address: 0x7f0000007000, Object: "/work/prog", Offset: 0x7000, Symbol: "main+0x99", Nr: 1, Syscall: "write", Kind: KindBypass, Count: 8},
	}
	for i := range n {
		sites = append(sites, Site{Address: Hex(0x7f2000000000 + i*0x10), Object: "/lib/libextra.so", Offset: Hex(0x100 + i*0x10),
			Symbol: fmt.Sprintf("fn%02d+0x4", i), Nr: 0, Syscall: "read", Kind: KindTrap, Count: uint64(8 - i%3)})
	}
	return sites
}

// goldenReport is a report of sites with rows and totals to match.
func goldenReport(cmd string, sites []Site) *Report {
	r := &Report{Schema: Schema, Command: []string{cmd, "-v"}, Complete: true, TrapMode: "seccomp", Threads: 1, Sites: sites}
	var rows []SyscallRow
	for _, s := range sites {
		row := SyscallRow{Nr: s.Nr, Name: s.Syscall}
		switch s.Kind {
		case KindBypass:
			row.Bypass = s.Count
		case KindTrap:
			row.Trap = s.Count
		case KindVDSO:
			row.VDSO = s.Count
		}
		rows = append(rows, row)
	}
	r.Syscalls = sumRows(rows, nil)
	r.Totals = totalsOf(r.Syscalls)
	return r
}

func TestGoldenReportText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sites []Site
	}{
		{"text-few.txt", goldenSites(0)},
		{"text-many.txt", goldenSites(30)},
		{"text-none.txt", goldenSites(0)[1:2]},
	} {
		r := goldenReport("prog", tc.sites)
		r.SitesDropped = 3
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.String())
	}
}

func TestGoldenDiffText(t *testing.T) {
	base := goldenReport("prog", goldenSites(3)[2:4])
	new := goldenReport("prog", append(goldenSites(30)[:2], goldenSites(30)[4:]...))
	var b bytes.Buffer
	if err := Compare(base, new).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.txt", b.String())

	b.Reset()
	if err := Compare(base, base).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff-empty.txt", b.String())
}

func TestGoldenCheckText(t *testing.T) {
	base := goldenReport("prog", goldenSites(3)[2:])
	new := goldenReport("prog", goldenSites(60))
	for _, tc := range []struct {
		name string
		g    Gates
	}{
		{"check-fail.txt", Gates{MinBypass: pct(99.5), NoNewTrapsSince: base, MaxTrapSites: count(5)}},
		{"check-ok.txt", Gates{MinBypass: pct(10), NoNewTrapsSince: new, MaxTrapSites: count(500)}},
	} {
		var b bytes.Buffer
		if err := Check(new, tc.g).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.String())
	}
}

func TestGoldenAuditText(t *testing.T) {
	var sites []AuditSite
	for i, s := range goldenSites(20) {
		sites = append(sites, AuditSite{Address: s.Address, Object: s.Object, Offset: s.Offset, Symbol: s.Symbol,
			Nr: s.Nr, Syscall: s.Syscall, Count: uint64(1000 - i), Function: s.Function, File: s.File, Line: s.Line})
	}
	for _, platform := range []string{AuditInProcess, AuditNative} {
		r := goldenReport("prog", goldenSites(0))
		r.Audit = &AuditSection{Platform: platform, Escapes: 7, Processes: 2, Sites: sites,
			Syscalls:   []AuditSyscall{{Nr: 0, Name: "read", Guest: 5, Host: 9}, {Nr: 39, Name: "getpid", Guest: 2, Host: 1}},
			Mismatches: []AuditMismatch{{Nr: 39, Name: "getpid", Host: 1, Expected: 3}}, SitesDropped: 1, IPUnreadable: 2}
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, "audit-"+platform+".txt", b.String())
	}
}
