package diffrun

import (
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
)

func report(rows ...coverage.SyscallRow) *coverage.Report {
	r := &coverage.Report{}
	for _, row := range rows {
		row.Total = row.Bypass + row.Trap + row.VDSO
		r.Syscalls = append(r.Syscalls, row)
	}
	return r
}

func agreeing() []Outcome {
	rows := []coverage.SyscallRow{{Nr: 1, Name: "write", Trap: 2}, {Nr: 257, Name: "openat", Trap: 3, Errors: 1}}
	return []Outcome{
		{Platform: Native, Stdout: []byte("a\nb\n"), Stderr: []byte("warn\n")},
		{Platform: InProcess, Stdout: []byte("a\nb\n"), Stderr: []byte("warn\n"), Report: report(rows...)},
		// The same calls through other entries: the multiset is by number.
		{Platform: Ptrace, Stdout: []byte("a\nb\n"), Stderr: []byte("warn\n"), Report: report(
			coverage.SyscallRow{Nr: 1, Name: "write", Bypass: 1, Trap: 1},
			coverage.SyscallRow{Nr: 257, Name: "openat", Bypass: 3, Errors: 1})},
	}
}

func TestCompareAgrees(t *testing.T) {
	if d := Compare(agreeing()); d != nil {
		t.Fatalf("divergence in agreeing runs: %s", d)
	}
	if d := Compare(agreeing()[:1]); d != nil {
		t.Fatalf("one run cannot diverge: %s", d)
	}
}

func TestCompareFindsFirstDivergence(t *testing.T) {
	cases := []struct {
		name   string
		change func([]Outcome)
		what   string
		a, b   string
		detail []string
	}{
		{"stdout line", func(o []Outcome) { o[2].Stdout = []byte("a\nc\n") }, "stdout", Native, Ptrace,
			[]string{"byte 2 (line 2)", `"b\n"`, `"c\n"`}},
		{"stdout shorter", func(o []Outcome) { o[1].Stdout = []byte("a\n") }, "stdout", Native, InProcess,
			[]string{"(end of output)", "(4 bytes vs 2)"}},
		{"stderr", func(o []Outcome) { o[1].Stderr = nil }, "stderr", Native, InProcess, []string{"line 1"}},
		{"exit code", func(o []Outcome) { o[1].Exit.Code = 3 }, "exit", Native, InProcess,
			[]string{"native: exit code 0", "inprocess: exit code 3"}},
		{"signal", func(o []Outcome) { o[2].Exit.Signal = "SIGSEGV" }, "exit", Native, Ptrace,
			[]string{"killed by SIGSEGV"}},
		{"calls", func(o []Outcome) { o[2].Report.Syscalls[0].Trap++; o[2].Report.Syscalls[0].Total++ }, "syscalls", InProcess, Ptrace,
			[]string{"write (1): inprocess 2 call(s), 0 error(s), ptrace 3 call(s), 0 error(s)"}},
		{"errors", func(o []Outcome) { o[2].Report.Syscalls[1].Errors = 0 }, "syscalls", InProcess, Ptrace,
			[]string{"openat (257)", "3 call(s), 1 error(s)", "3 call(s), 0 error(s)"}},
		{"missing syscall", func(o []Outcome) { o[1].Report.Syscalls = o[1].Report.Syscalls[:1] }, "syscalls", InProcess, Ptrace,
			[]string{"openat (257): inprocess no calls"}},
		// Output comes before syscalls, whichever platform differs.
		{"output first", func(o []Outcome) {
			o[1].Report.Syscalls[0].Errors = 5
			o[2].Stdout = nil
		}, "stdout", Native, Ptrace, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outs := agreeing()
			c.change(outs)
			d := Compare(outs)
			if d == nil {
				t.Fatal("no divergence found")
			}
			if d.What != c.what || d.A != c.a || d.B != c.b {
				t.Fatalf("got %s between %s and %s, want %s between %s and %s\n%s", d.What, d.A, d.B, c.what, c.a, c.b, d)
			}
			for _, s := range c.detail {
				if !strings.Contains(d.Detail, s) {
					t.Errorf("detail lacks %q:\n%s", s, d.Detail)
				}
			}
		})
	}
}

func TestCompareListsSeveralSyscalls(t *testing.T) {
	var a, b []coverage.SyscallRow
	for nr := range 10 {
		a = append(a, coverage.SyscallRow{Nr: nr, Name: "s", Trap: 1})
		b = append(b, coverage.SyscallRow{Nr: nr, Name: "s", Trap: 2})
	}
	d := Compare([]Outcome{{Platform: InProcess, Report: report(a...)}, {Platform: Ptrace, Report: report(b...)}})
	if d == nil {
		t.Fatal("no divergence")
	}
	if !strings.HasPrefix(d.Detail, "s (0):") || strings.Count(d.Detail, "also ") != 4 || !strings.Contains(d.Detail, "and 5 more") {
		t.Errorf("detail:\n%s", d.Detail)
	}
}

func TestSplitOwn(t *testing.T) {
	own, guest := splitOwn([]byte("out1\nvsysbed: guest killed by SIGSEGV\nout2"))
	if string(own) != "vsysbed: guest killed by SIGSEGV\n" || string(guest) != "out1\nout2" {
		t.Errorf("own %q guest %q", own, guest)
	}
}

func TestQuoteLineBounds(t *testing.T) {
	long := strings.Repeat("x", 1000) + "\nnext"
	q := quoteLine([]byte(long))
	if len(q) > maxShown+10 || !strings.HasSuffix(q, `…"`) {
		t.Errorf("quoted %d bytes: %s", len(q), q)
	}
}

func TestCompareIgnoring(t *testing.T) {
	outs := agreeing()
	outs[1].Stderr = []byte("12.5 ns/call\n")
	outs[2].Report.Syscalls[0].Errors = 1
	if d, _ := CompareWith(outs, Rules{Ignore: map[string]bool{"stderr": true}}); d == nil || d.What != "syscalls" {
		t.Fatalf("ignoring stderr: got %v, want the syscalls divergence", d)
	}
	if d, _ := CompareWith(outs, Rules{Ignore: map[string]bool{"stderr": true, "syscalls": true}}); d != nil {
		t.Fatalf("ignoring both: %s", d)
	}
}

func TestCompareTolerates(t *testing.T) {
	outs := agreeing()
	outs[2].Report.Syscalls[0].Trap += 7 // write, as if it were futex
	outs[2].Report.Syscalls[0].Total += 7
	d, ex := CompareWith(outs, Rules{Tolerate: map[string]bool{"write": true}})
	if d != nil {
		t.Fatalf("tolerated syscall diverged: %s", d)
	}
	if len(ex) != 1 || !strings.Contains(ex[0], "write (1)") || !strings.Contains(ex[0], "tolerated") {
		t.Errorf("explained: %q", ex)
	}
}
