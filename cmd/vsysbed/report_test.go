package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls"
)

// site is one call site of a test run, in object obj at offset off.
type site struct {
	obj  string
	off  uint64
	nr   uint32
	kind uint32
	n    uint64
}

// writeReport builds, with coverage.Build, the report of a run that made
// the calls at sites with obj mapped at base, and writes it to dir/name.
func writeReport(t *testing.T, dir, name string, base uint64, sites ...site) string {
	t.Helper()
	sd := &rundir.ShardData{TrapMode: tls.TrapSeccomp}
	sd.Exit.Done = 1
	mapped := map[string]uint64{}
	var events []coverage.Event
	for _, s := range sites {
		if _, ok := mapped[s.obj]; !ok {
			start := base + uint64(len(mapped))<<20
			mapped[s.obj] = start
			events = append(events, coverage.Event{Ev: coverage.EvMap, Start: coverage.Hex(start),
				End: coverage.Hex(start + 1<<20), Path: s.obj})
		}
		sd.Counts[s.nr][s.kind] += s.n
		sd.Sites = append(sd.Sites, tls.Site{Addr: mapped[s.obj] + s.off, Nr: s.nr, Kind: s.kind, Count: s.n})
	}
	r := coverage.Build(coverage.Input{Command: []string{"prog", name}, Shards: []coverage.Shard{sd.Plain()},
		Events: events, SyscallName: kernelsim.Name, NoSymbols: true})
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// vsysbed runs the command line through main's run and returns its exit
// status, stdout and stderr.
func vsysbed(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	old := reportStdout
	reportStdout = &stdout
	defer func() { reportStdout = old }()
	code := run(args, &stderr)
	return code, stdout.String(), stderr.String()
}

const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"

// reports writes a base and a new report: new traps getpid at a new site
// in /prog and bypasses more writes; ASLR moved libc between them.
func reports(t *testing.T) (dir, base, new string) {
	dir = t.TempDir()
	base = writeReport(t, dir, "base.json", 0x7f1000000000,
		site{libc, 0x2234, 1, tls.KindTrap, 3},
		site{libc, 0x3000, 1, tls.KindBypass, 9},
		site{libc, 0x4000, 231, tls.KindBypass, 1})
	new = writeReport(t, dir, "new.json", 0x7f2200000000,
		site{libc, 0x2234, 1, tls.KindTrap, 3},
		site{libc, 0x3000, 1, tls.KindBypass, 20},
		site{libc, 0x4000, 231, tls.KindBypass, 1},
		site{"/prog", 0x1170, 39, tls.KindTrap, 2})
	return dir, base, new
}

func TestReportShow(t *testing.T) {
	dir, base, _ := reports(t)
	code, out, errOut := vsysbed(t, "report", "show", base)
	if code != 0 || !strings.HasPrefix(out, "vsysbed: prog base.json\n") || !strings.Contains(out, "trapped sites (1 sites, 3 calls)") {
		t.Errorf("show text: %d\n%s%s", code, out, errOut)
	}

	code, out, _ = vsysbed(t, "report", "show", "--format", "json", base)
	want, _ := os.ReadFile(base)
	if code != 0 || out != string(want) {
		t.Errorf("show json: %d, output differs from the file:\n%s", code, out)
	}

	html := filepath.Join(dir, "r.html")
	code, out, errOut = vsysbed(t, "report", "show", "--format", "html", "-o", html, base)
	page, err := os.ReadFile(html)
	if code != 0 || err != nil || out != "" || !bytes.Contains(page, []byte("<html")) {
		t.Errorf("show html: %d %v, stdout %q, stderr %q", code, err, out, errOut)
	}

	// Flags after the file read the same.
	code, out, _ = vsysbed(t, "report", "show", base, "--format", "json")
	if code != 0 || out != string(want) {
		t.Errorf("show FILE --format json: %d", code)
	}
}

func TestReportMerge(t *testing.T) {
	dir, base, new := reports(t)
	all := filepath.Join(dir, "all.json")
	code, _, errOut := vsysbed(t, "report", "merge", "-o", all, base, new)
	if code != 0 {
		t.Fatalf("merge: %d %s", code, errOut)
	}
	m, err := coverage.Load(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 2 || m.Totals.Total != 13+26 || m.Totals.Trap != 3+5 {
		t.Errorf("merged: runs %d totals %+v", len(m.Runs), m.Totals)
	}
	for _, s := range m.Sites {
		if s.Object == libc && s.Offset == 0x2234 && (s.Count != 6 || s.Address != 0) {
			t.Errorf("libc write trap site not merged across ASLR: %+v", s)
		}
	}

	// Merging the merge with a third input equals merging all three.
	third := writeReport(t, dir, "third.json", 0x7f3000000000, site{libc, 0x2234, 1, tls.KindTrap, 1})
	code, nested, _ := vsysbed(t, "report", "merge", "-o", "-", all, third)
	code2, flat, _ := vsysbed(t, "report", "merge", "-o", "-", base, new, third)
	if code != 0 || code2 != 0 || nested != flat {
		t.Errorf("merge is not associative (%d, %d):\n%s\n---\n%s", code, code2, nested, flat)
	}

	if code, _, errOut := vsysbed(t, "report", "merge", base, new); code != 2 || !strings.Contains(errOut, "-o FILE is required") {
		t.Errorf("merge without -o: %d %q", code, errOut)
	}
}

func TestReportDiff(t *testing.T) {
	_, base, new := reports(t)
	code, out, errOut := vsysbed(t, "report", "diff", base, new)
	if code != 0 {
		t.Fatalf("diff: %d %s", code, errOut)
	}
	for _, want := range []string{
		"newly trapping syscalls (1):\n  getpid ",
		"newly trapping sites (1 sites, 2 calls):\n  /prog  ?      0x1170  getpid  2\n",
		"sites no longer trapping: none\n",
		"  write         75%    86.95%   11.95pp",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	// A diff reports; it does not gate: exit 0 even with new traps.
	if code, out, _ := vsysbed(t, "report", "diff", base, base); code != 0 || !strings.Contains(out, "no change") {
		t.Errorf("diff with itself: %d\n%s", code, out)
	}
}

func TestReportCheck(t *testing.T) {
	_, base, new := reports(t)
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{new}, 0, []string{"ok: 80.76% bypassed, 2 trap site(s)\n"}},
		{[]string{"--min-bypass", "80", "--max-trap-sites", "2", "--no-new-traps", new, new}, 0,
			[]string{"ok: 80.76% bypassed (min 80%), no new trap sites, 2 trap site(s) (max 2)\n"}},
		{[]string{"--min-bypass", "90", new}, 1, []string{
			"FAIL: 1 gate(s) failed",
			"min-bypass: 80.76% bypassed (21 bypass of 26 calls that entered the kernel), want at least 90%",
		}},
		{[]string{"--no-new-traps", base, "--max-trap-sites", "1", new}, 1, []string{
			"FAIL: 2 gate(s) failed",
			"no-new-traps: 1 trap site(s) that the base report does not trap at",
			"max-trap-sites: 2 trap sites, at most 1 allowed",
			"  /prog  ?      0x1170  getpid  2\n",
			"  /usr/lib/x86_64-linux-gnu/libc.so.6  ?      0x2234  write   3\n",
		}},
	} {
		code, out, errOut := vsysbed(t, append([]string{"report", "check"}, c.args...)...)
		if code != c.code {
			t.Errorf("check %q: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("check %q output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
}

func TestReportSeccomp(t *testing.T) {
	dir, _, new := reports(t)
	code, out, errOut := vsysbed(t, "report", "seccomp", new)
	var p coverage.OCIProfile
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil {
		t.Fatalf("seccomp: %d %s\n%s", code, errOut, out)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" || strings.Join(p.Syscalls[0].Names, ",") != "execve,exit_group,getpid,write" {
		t.Errorf("profile = %+v", p)
	}

	yml := filepath.Join(dir, "p.yml")
	code, _, errOut = vsysbed(t, "report", "seccomp", "--format", "yaml", "-o", yml, new)
	b, _ := os.ReadFile(yml)
	if code != 0 || !strings.Contains(string(b), "seccomp:\n  default_action: errno\n  syscalls:\n  - action: allow\n    names:\n    - execve\n") {
		t.Errorf("seccomp yaml: %d %s\n%s", code, errOut, b)
	}
}

func TestReportUsageErrors(t *testing.T) {
	dir, base, new := reports(t)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema": "other/v9"}`), 0o644)
	for _, c := range []struct {
		args []string
		want string // on stderr
	}{
		{[]string{"report"}, "usage:"},
		{[]string{"report", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"report", "show"}, "want 1 report file(s), got 0"},
		{[]string{"report", "show", "--format", "pdf", base}, "--format must be text, json or html"},
		{[]string{"report", "show", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"report", "show", bad}, `report schema "other/v9"`},
		{[]string{"report", "diff", base}, "want 2 report file(s), got 1"},
		{[]string{"report", "check", "--min-bypass", "150", new}, "from 0 to 100"},
		{[]string{"report", "check", "--min-bypass", "x", new}, "invalid value"},
		{[]string{"report", "check", "--max-trap-sites", "-1", new}, "must not be negative"},
		{[]string{"report", "check", "--no-new-traps", filepath.Join(dir, "nope.json"), new}, "nope.json"},
		{[]string{"report", "seccomp", "--format", "xml", new}, "--format must be oci or yaml"},
		{[]string{"report", "merge", "-o", "-"}, "want at least 1 report file(s), got 0"},
	} {
		code, _, errOut := vsysbed(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if code, out, _ := vsysbed(t, "help", "report"); code != 0 || !strings.Contains(out, "vsysbed report check") {
		t.Errorf("help report: %d %q", code, out)
	}
}

// TestReportCheckFormats: --format json and junit say what the text says,
// and the exit status is the same.
func TestReportCheckFormats(t *testing.T) {
	_, base, new := reports(t)
	code, out, errOut := vsysbed(t, "report", "check", "--min-bypass", "90", "--no-new-traps", base, "--format", "json", new)
	if code != 1 || errOut != "" {
		t.Fatalf("check --format json: exit %d, stderr %q", code, errOut)
	}
	var doc struct {
		Schema        string  `json:"schema"`
		OK            bool    `json:"ok"`
		BypassPercent float64 `json:"bypass_percent"`
		Entered       uint64  `json:"entered"`
		NewTrapSites  *int    `json:"new_trap_sites"`
		Gates         struct {
			MinBypass  *float64 `json:"min_bypass"`
			NoNewTraps bool     `json:"no_new_traps"`
		} `json:"gates"`
		Failures []struct {
			Gate  string          `json:"gate"`
			Sites []coverage.Site `json:"sites"`
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if doc.Schema != coverage.CheckSchema || doc.OK || doc.BypassPercent != 80.76 || doc.Entered != 26 ||
		doc.Gates.MinBypass == nil || *doc.Gates.MinBypass != 90 || !doc.Gates.NoNewTraps ||
		doc.NewTrapSites == nil || *doc.NewTrapSites != 1 ||
		len(doc.Failures) != 2 || doc.Failures[0].Gate != "min-bypass" || len(doc.Failures[0].Sites) != 2 ||
		doc.Failures[1].Gate != "no-new-traps" || doc.Failures[1].Sites[0].Syscall != "getpid" {
		t.Errorf("check JSON:\n%s", out)
	}

	code, out, _ = vsysbed(t, "report", "check", "--min-bypass", "90", "--max-trap-sites", "5", "--format", "junit", new)
	if code != 1 {
		t.Errorf("check --format junit: exit %d", code)
	}
	var x struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(x.Suites) != 1 || x.Suites[0].Tests != 2 || x.Suites[0].Failures != 1 ||
		x.Suites[0].Cases[0].Name != "min-bypass" || x.Suites[0].Cases[0].Failure == nil ||
		!strings.Contains(x.Suites[0].Cases[0].Failure.Message, "80.76% bypassed") ||
		!strings.Contains(x.Suites[0].Cases[0].Failure.Text, "getpid") ||
		x.Suites[0].Cases[1].Name != "max-trap-sites" || x.Suites[0].Cases[1].Failure != nil {
		t.Errorf("check JUnit:\n%s", out)
	}

	if code, out, _ := vsysbed(t, "report", "check", "--format", "junit", new); code != 0 || !strings.Contains(out, `<testcase name="report"`) {
		t.Errorf("check --format junit without gates: exit %d\n%s", code, out)
	}
	if code, _, errOut := vsysbed(t, "report", "check", "--format", "tap", new); code != 2 || !strings.Contains(errOut, "text, json or junit") {
		t.Errorf("check --format tap: exit %d, %q", code, errOut)
	}
}
