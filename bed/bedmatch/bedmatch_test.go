package bedmatch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/gomega/types"

	"github.com/vsysbed/vsysbed/bed"
	"github.com/vsysbed/vsysbed/bed/bedmatch"
	"github.com/vsysbed/vsysbed/coverage"
)

const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"

func site(obj string, off coverage.Hex, sym, syscall string, nr int, kind string, count uint64) coverage.Site {
	return coverage.Site{Address: 0x7f0000000000 + off, Object: obj, Offset: off, Symbol: sym,
		Nr: nr, Syscall: syscall, Kind: kind, Count: count}
}

// report builds a consistent report (rows and totals from the sites).
func report(sites ...coverage.Site) *coverage.Report {
	r := &coverage.Report{Schema: coverage.Schema, Command: []string{"prog", "-v"}, Complete: true, Sites: sites}
	rows := map[string]*coverage.SyscallRow{}
	var order []string
	for _, s := range sites {
		row := rows[s.Syscall]
		if row == nil {
			row = &coverage.SyscallRow{Nr: s.Nr, Name: s.Syscall}
			rows[s.Syscall] = row
			order = append(order, s.Syscall)
		}
		switch s.Kind {
		case "bypass":
			row.Bypass += s.Count
			r.Totals.Bypass += s.Count
		case "trap":
			row.Trap += s.Count
			r.Totals.Trap += s.Count
		case "vdso":
			row.VDSO += s.Count
			r.Totals.VDSO += s.Count
		}
		row.Total += s.Count
		r.Totals.Total += s.Count
	}
	for _, n := range order {
		r.Syscalls = append(r.Syscalls, *rows[n])
	}
	return r
}

var (
	bypassWrite = site("/app", 0x1000, "main+0x10", "write", 1, "bypass", 90)
	vdsoClock   = site("[vdso]", 0x900, "__vdso_clock_gettime", "clock_gettime", 228, "vdso", 50)
	trapClone   = site(libc, 0x2234, "clone+0x14", "clone", 56, "trap", 6)
	trapWrite   = site(libc, 0x4444, "write+0x14", "write", 1, "trap", 4)
)

// match runs m on actual and returns the verdict and the message Gomega
// would print for the outcome that fails (To when !ok, NotTo when ok).
func match(t *testing.T, m types.GomegaMatcher, actual any) (bool, string) {
	t.Helper()
	ok, err := m.Match(actual)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if ok {
		return ok, m.NegatedFailureMessage(actual)
	}
	return ok, m.FailureMessage(actual)
}

func wantContains(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message lacks %q:\n%s", p, msg)
		}
	}
}

func TestBeFullyBypassed(t *testing.T) {
	ok, msg := match(t, bedmatch.BeFullyBypassed(), report(bypassWrite, vdsoClock))
	if !ok {
		t.Fatalf("bypass+vdso report not fully bypassed:\n%s", msg)
	}
	wantContains(t, msg, "none of its 140 calls trapped", "90 bypassed", "50 vDSO")

	ok, msg = match(t, bedmatch.BeFullyBypassed(), report(bypassWrite, trapClone, trapWrite))
	if ok {
		t.Fatal("report with trap sites fully bypassed")
	}
	wantContains(t, msg, `the report of "prog -v"`, "10 of 100 calls trapped, at 2 sites",
		libc, "clone+0x14", "offset 0x2234", "clone", "6×", "write+0x14", "offset 0x4444", "4×")
	if strings.Index(msg, "clone+0x14") > strings.Index(msg, "write+0x14") {
		t.Errorf("most frequent site not first:\n%s", msg)
	}
	if strings.Contains(msg, "main+0x10") {
		t.Errorf("message lists a bypass site:\n%s", msg)
	}

	// Counted traps without a recorded site still fail, and say so.
	r := report(bypassWrite)
	r.Totals.Trap, r.Totals.Total, r.SitesDropped = 7, 97, 7
	ok, msg = match(t, bedmatch.BeFullyBypassed(), r)
	if ok {
		t.Fatal("report with 7 unrecorded traps fully bypassed")
	}
	wantContains(t, msg, "7 trapped calls at sites the report does not list")

	// A value works as well as a pointer.
	if ok, _ := bedmatch.BeFullyBypassed().Match(*report(bypassWrite)); !ok {
		t.Error("coverage.Report value not accepted")
	}
}

func TestBadActual(t *testing.T) {
	for _, m := range []types.GomegaMatcher{
		bedmatch.BeFullyBypassed(), bedmatch.HaveBypassRatioAtLeast(0.5),
		bedmatch.HaveTrapped("clone"), bedmatch.HaveNoNewTrapsComparedTo(report()),
	} {
		for _, actual := range []any{"a string", (*coverage.Report)(nil), nil} {
			if _, err := m.Match(actual); err == nil || !strings.Contains(err.Error(), "bedmatch:") {
				t.Errorf("%T.Match(%#v) error %v, want a bedmatch error", m, actual, err)
			}
		}
	}
	for _, bad := range []struct {
		m    types.GomegaMatcher
		want string
	}{
		{bedmatch.HaveBypassRatioAtLeast(1.5), "between 0 and 1"},
		{bedmatch.HaveBypassRatioAtLeast(-0.1), "between 0 and 1"},
		{bedmatch.HaveTrapped(""), "no syscall name"},
		{bedmatch.HaveTrapped("opnat"), `HaveTrapped("opnat"): no x86-64 syscall has that name`},
		{bedmatch.HaveNoNewTrapsComparedTo(nil), "base report is nil"},
	} {
		if _, err := bad.m.Match(report(bypassWrite)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%T: error %v, want %q", bad.m, err, bad.want)
		}
	}
}

func TestHaveBypassRatioAtLeast(t *testing.T) {
	r := report(bypassWrite, vdsoClock, trapClone, trapWrite) // 90 / (90+10), vDSO left out
	for _, tc := range []struct {
		min  float64
		want bool
	}{{0, true}, {0.5, true}, {0.9, true}, {0.9001, false}, {1, false}} {
		if ok, _ := bedmatch.HaveBypassRatioAtLeast(tc.min).Match(r); ok != tc.want {
			t.Errorf("ratio 0.9 at least %v: %v, want %v", tc.min, ok, tc.want)
		}
	}
	_, msg := match(t, bedmatch.HaveBypassRatioAtLeast(0.95), r)
	wantContains(t, msg, "at least 0.95", "it is 0.9 (90 bypassed, 10 trapped)", "clone+0x14", "write+0x14")
	_, msg = match(t, bedmatch.HaveBypassRatioAtLeast(0.5), r)
	wantContains(t, msg, "below 0.5, but it is 0.9")

	if ok, _ := bedmatch.HaveBypassRatioAtLeast(1).Match(report(bypassWrite)); !ok {
		t.Error("a fully bypassed report fails ratio 1")
	}
	ok, msg := match(t, bedmatch.HaveBypassRatioAtLeast(0), report(vdsoClock))
	if ok {
		t.Error("a report without bypass or trap calls passes")
	}
	wantContains(t, msg, "no bypassed or trapped calls")
}

// TestHaveTrappedRefusesUnknownNames: NotTo(HaveTrapped("opnat")) once
// passed whatever the guest did; a name the guest did not call is fine
// when it is a syscall's.
func TestHaveTrappedRefusesUnknownNames(t *testing.T) {
	r := report(bypassWrite)
	if _, err := bedmatch.HaveTrapped("opnat").Match(r); err == nil || !strings.Contains(err.Error(), "no x86-64 syscall") {
		t.Errorf(`HaveTrapped("opnat"): %v, want an error`, err)
	}
	for _, name := range []string{"openat", "mseal", "syscall_511", "i386_getpid"} {
		if ok, err := bedmatch.HaveTrapped(name).Match(r); ok || err != nil {
			t.Errorf("HaveTrapped(%q) = %v, %v; want false, nil", name, ok, err)
		}
	}
}

func TestHaveTrapped(t *testing.T) {
	r := report(bypassWrite, trapClone, trapWrite, site("/app", 0x1100, "main+0x50", "getpid", 39, "bypass", 3))
	ok, msg := match(t, bedmatch.HaveTrapped("clone"), r)
	if !ok {
		t.Fatalf("clone not trapped:\n%s", msg)
	}
	wantContains(t, msg, "not to show clone trapped", "6 of its 6 clone calls trapped, at 1 sites", "clone+0x14", "offset 0x2234")
	if strings.Contains(msg, "write+0x14") {
		t.Errorf("negated message lists another syscall's site:\n%s", msg)
	}

	ok, msg = match(t, bedmatch.HaveTrapped("getpid"), r)
	if ok {
		t.Fatal("bypassed getpid counted as trapped")
	}
	wantContains(t, msg, "none of its 3 getpid calls trapped (3 bypassed, 0 vDSO)")

	ok, msg = match(t, bedmatch.HaveTrapped("fork"), r)
	if ok {
		t.Fatal("fork trapped though never called")
	}
	wantContains(t, msg, "never called fork")
}

func TestHaveNoNewTrapsComparedTo(t *testing.T) {
	base := report(bypassWrite, trapClone)
	// Same identity at another address (ASLR), different count: not new.
	moved := trapClone
	moved.Address += 0x10000000
	moved.Count = 60
	if ok, msg := match(t, bedmatch.HaveNoNewTrapsComparedTo(base), report(bypassWrite, moved)); !ok {
		t.Errorf("a moved site counted as new:\n%s", msg)
	}
	// A site that stopped trapping is not a new trap.
	if ok, _ := bedmatch.HaveNoNewTrapsComparedTo(base).Match(report(bypassWrite)); !ok {
		t.Error("fewer traps than base fails")
	}
	// A base bypass site at the same place does not excuse a trap there.
	asTrap := bypassWrite
	asTrap.Kind = "trap"
	ok, msg := match(t, bedmatch.HaveNoNewTrapsComparedTo(base), report(trapClone, asTrap, trapWrite))
	if ok {
		t.Fatal("new trap sites not found")
	}
	wantContains(t, msg, "2 sites trap anew (94 calls)", `the base report (of "prog -v")`,
		"/app", "main+0x10", "offset 0x1000", "write+0x14", "offset 0x4444")
	if strings.Contains(msg, "clone+0x14") {
		t.Errorf("message lists a site base also trapped at:\n%s", msg)
	}
	// The same offset with another syscall is another site.
	otherCall := trapClone
	otherCall.Syscall, otherCall.Nr = "clone3", 435
	if ok, _ := bedmatch.HaveNoNewTrapsComparedTo(base).Match(report(otherCall)); ok {
		t.Error("same offset, other syscall not new")
	}
	// The same offset in another object is another site.
	otherObj := trapClone
	otherObj.Object = "/usr/lib/other.so"
	if ok, _ := bedmatch.HaveNoNewTrapsComparedTo(base).Match(report(otherObj)); ok {
		t.Error("same offset, other object not new")
	}
	// Traps at unrecorded sites, of a syscall base never trapped.
	r := report(trapClone)
	r.Syscalls = append(r.Syscalls, coverage.SyscallRow{Nr: 39, Name: "getpid", Trap: 5, Total: 5})
	r.SitesDropped = 5
	ok, msg = match(t, bedmatch.HaveNoNewTrapsComparedTo(base), r)
	if ok {
		t.Fatal("unrecorded new traps passed")
	}
	wantContains(t, msg, "newly trapping: getpid (5 calls)")

	_, msg = match(t, bedmatch.HaveNoNewTrapsComparedTo(base), report(trapClone))
	wantContains(t, msg, "every trap site also trapped there")
}

func TestMessageListsAtMost20(t *testing.T) {
	var sites []coverage.Site
	for i := range 25 {
		sites = append(sites, site(libc, coverage.Hex(0x1000+i*0x10), fmt.Sprintf("fn%02d", i), "read", 0, "trap", uint64(100-i)))
	}
	_, msg := match(t, bedmatch.BeFullyBypassed(), report(sites...))
	wantContains(t, msg, "fn00", "fn19", "… 5 more (390 calls)")
	if strings.Contains(msg, "fn20") {
		t.Errorf("message lists more than 20 sites:\n%s", msg)
	}
	if n := strings.Count(msg, "\n    "+libc); n != 20 {
		t.Errorf("%d site lines, want 20:\n%s", n, msg)
	}
}

func TestSiteLineDetails(t *testing.T) {
	s := site(libc, 0x10, "", "write", 1, "trap", 2)
	s.Function, s.File, s.Line = "__write", "write.c", 26
	_, msg := match(t, bedmatch.BeFullyBypassed(), report(s))
	wantContains(t, msg, "__write (write.c:26)")
	_, msg = match(t, bedmatch.BeFullyBypassed(), report(site("[unknown]", 0x7f00, "", "write", 1, "trap", 1)))
	wantContains(t, msg, "[unknown]  ?  offset 0x7f00")
}

// The probe guest calls write, getpid, openat, read and close both
// through __kernel_vsyscall and through raw syscall instructions.
func TestProbeGuestReport(t *testing.T) {
	probe := probePath(t)
	cmd := bed.Command(context.Background(), probe)
	if _, err := cmd.Output(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatal(err)
	}
	if ok, msg := match(t, bedmatch.HaveBypassRatioAtLeast(0.1), rep); !ok {
		t.Errorf("probe ratio:\n%s", msg)
	}
	if ok, msg := match(t, bedmatch.HaveTrapped("getpid"), rep); !ok {
		t.Errorf("probe getpid:\n%s", msg)
	}
	ok, msg := match(t, bedmatch.BeFullyBypassed(), rep)
	if ok {
		t.Fatal("probe fully bypassed")
	}
	wantContains(t, msg, probe, "raw_entry+", "getpid", "trapped, at")
	if ok, msg := match(t, bedmatch.HaveNoNewTrapsComparedTo(rep), rep); !ok {
		t.Errorf("a report has new traps compared to itself:\n%s", msg)
	}
}

func probePath(t *testing.T) string {
	t.Helper()
	root := ""
	if dir, err := os.Getwd(); err == nil {
		for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				break
			}
		}
	}
	bin := os.Getenv(bed.BinaryEnv)
	if bin == "" {
		bin = filepath.Join(root, "build", "vsysbed")
		t.Setenv(bed.BinaryEnv, bin)
	}
	guests := os.Getenv("VSYSBED_GUESTS")
	if guests == "" {
		guests = filepath.Join(root, "build", "guests")
	}
	probe := filepath.Join(guests, "vsyscall_probe-musl")
	for _, p := range []string{bin, probe} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: run make build guests", p)
		}
	}
	return probe
}

// The matchers use the report's own definitions: a trap site and its
// identity as coverage.Check and coverage.Compare see them, and
// coverage.BypassRatio.
func TestMatchersAgreeWithCoverage(t *testing.T) {
	moved := trapClone
	moved.Address += 0x10000000
	asTrap := bypassWrite
	asTrap.Kind = "trap"
	base := report(bypassWrite, trapClone)
	for i, r := range []*coverage.Report{
		report(bypassWrite), report(bypassWrite, vdsoClock), report(bypassWrite, moved),
		report(trapClone, asTrap, trapWrite), report(vdsoClock, trapWrite), base,
	} {
		res := coverage.Check(r, coverage.Gates{NoNewTrapsSince: base})
		if ok, _ := bedmatch.HaveNoNewTrapsComparedTo(base).Match(r); ok != (res.NewTrapSites == 0) {
			t.Errorf("report %d: no new traps %v, coverage.Check finds %d new trap sites", i, ok, res.NewTrapSites)
		}
		if ok, _ := bedmatch.BeFullyBypassed().Match(r); ok != (res.TrapSites == 0) {
			t.Errorf("report %d: fully bypassed %v, coverage.Check finds %d trap sites", i, ok, res.TrapSites)
		}
		ratio, defined := coverage.BypassRatio(r.Totals.Bypass, r.Totals.Entered()-r.Totals.Bypass)
		if ok, _ := bedmatch.HaveBypassRatioAtLeast(ratio).Match(r); ok != defined {
			t.Errorf("report %d: ratio at least its own coverage.BypassRatio %v: %v", i, ratio, ok)
		}
	}
}

// Sites of equal count are listed in the report's order of sites
// (object, then offset), whatever order a hand-built report has them in.
func TestMessageOrdersTiesLikeTheReport(t *testing.T) {
	a := site("/b.so", 0x10, "b", "read", 0, "trap", 3)
	b := site("/a.so", 0x20, "a", "read", 0, "trap", 3)
	_, msg := match(t, bedmatch.BeFullyBypassed(), report(a, b))
	if strings.Index(msg, "/a.so") > strings.Index(msg, "/b.so") {
		t.Errorf("tie not in object order:\n%s", msg)
	}
}

// With --rewrite=lazy each trap site a failure lists says what the rewrite
// did there.
func TestSiteListsSayWhatRewritingDid(t *testing.T) {
	clone, write := trapClone, trapWrite
	clone.NotRewritten = "pattern unknown"
	write.RewrittenAfter = 1
	ok, msg := match(t, bedmatch.BeFullyBypassed(), report(bypassWrite, clone, write))
	if ok {
		t.Fatal("report with trap sites fully bypassed")
	}
	wantContains(t, msg, "clone+0x14", "not rewritten: pattern unknown", "write+0x14", "rewritten after 1")
	_, msg = match(t, bedmatch.BeFullyBypassed(), report(bypassWrite, trapClone, trapWrite))
	if strings.Contains(msg, "rewritten") {
		t.Errorf("a report without rewrite answers mentions them:\n%s", msg)
	}
}
