package bed

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests run real guests through the real vsysbed binary: build/vsysbed
// and build/guests of this module (`make build guests`), or $VSYSBED_BIN
// and $VSYSBED_GUESTS.
var (
	testBinary string // "" when absent
	guestDir   string
	whyMissing string
)

func TestMain(m *testing.M) {
	flag.Parse()
	testBinary, guestDir, whyMissing = locateBuild()
	if testBinary != "" {
		// The examples use the default lookup, as users' code does.
		os.Setenv(BinaryEnv, testBinary)
	} else {
		// Examples cannot skip; leave them out instead of failing them.
		fmt.Fprintf(os.Stderr, "bed: %s; skipping the examples\n", whyMissing)
		skip := "^Example"
		if s := flag.Lookup("test.skip").Value.String(); s != "" {
			skip = s + "|" + skip
		}
		flag.Set("test.skip", skip)
	}
	os.Exit(m.Run())
}

// locateBuild finds the vsysbed binary and guest directory of the module
// this test belongs to, walking up from the package directory to go.mod.
func locateBuild() (bin, guests, why string) {
	root := ""
	if dir, err := os.Getwd(); err == nil {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	bin = os.Getenv(BinaryEnv)
	if bin == "" && root != "" {
		bin = filepath.Join(root, "build", "vsysbed")
	}
	guests = os.Getenv("VSYSBED_GUESTS")
	if guests == "" && root != "" {
		guests = filepath.Join(root, "build", "guests")
	}
	if bin == "" || checkExecutable(bin) != nil {
		return "", guests, fmt.Sprintf("no vsysbed binary at %q: run make build guests", bin)
	}
	return bin, guests, ""
}

func needBinary(t *testing.T) {
	t.Helper()
	if testBinary == "" {
		t.Skip(whyMissing)
	}
}

func needGuest(t *testing.T, name string) string {
	t.Helper()
	needBinary(t)
	p := filepath.Join(guestDir, name)
	if checkExecutable(p) != nil {
		t.Skipf("no guest %s: run make build guests", p)
	}
	return p
}

func TestOutputEcho(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/echo", "hello", "world")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	if string(out) != "hello world\n" {
		t.Errorf("stdout %q, want %q", out, "hello world\n")
	}
	if cmd.ExitCode() != 0 {
		t.Errorf("ExitCode %d, want 0", cmd.ExitCode())
	}
}

func TestExitStatus(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/usr/bin/python3", "-c", "import sys; sys.stderr.write('bye\\n'); sys.exit(3)")
	_, err := cmd.Output()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want *ExitError", err, err)
	}
	if ee.ExitCode() != 3 || ee.Signal != 0 || cmd.ExitCode() != 3 {
		t.Errorf("ExitError code %d signal %v, Cmd.ExitCode %d; want 3, 0, 3", ee.Code, ee.Signal, cmd.ExitCode())
	}
	if !bytes.Contains(ee.Stderr, []byte("bye\n")) {
		t.Errorf("ExitError.Stderr %q lacks the guest's stderr", ee.Stderr)
	}
	if err.Error() != "bed: guest exited with status 3" {
		t.Errorf("message %q", err)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.Exit.Code != 3 || !rep.Complete {
		t.Errorf("report exit %v complete %v, want code 3, complete", rep.Exit, rep.Complete)
	}
}

func TestStdinToCat(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "cat")
	cmd.Stdin = strings.NewReader("line one\nline two\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	if string(out) != "line one\nline two\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestEnvAndDir(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/usr/bin/env")
	cmd.Env = []string{"ONLY=this", "AND=that"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("env: %v", err)
	}
	if string(out) != "ONLY=this\nAND=that\n" {
		t.Errorf("env printed %q, want exactly the Cmd's Env", out)
	}

	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmd = Command(t.Context(), "/bin/pwd", "-P")
	cmd.Dir = dir
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("pwd: %v", err)
	}
	if got := strings.TrimSuffix(string(out), "\n"); got != dir {
		t.Errorf("pwd printed %q, want %q", got, dir)
	}
}

func TestCrashingGuest(t *testing.T) {
	crash := needGuest(t, "crash")
	t.Parallel()
	cmd := Command(t.Context(), crash)
	err := cmd.Run()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want *ExitError", err, err)
	}
	if ee.Code != 139 || ee.Signal != syscall.SIGSEGV || cmd.ExitCode() != 139 {
		t.Errorf("code %d signal %v ExitCode %d, want 139 SIGSEGV 139", ee.Code, ee.Signal, cmd.ExitCode())
	}
	if !strings.Contains(err.Error(), "SIGSEGV") {
		t.Errorf("message %q does not name the signal", err)
	}
	if !bytes.Contains(ee.Stderr, []byte("vsysbed: guest killed by SIGSEGV")) {
		t.Errorf("Stderr %q lacks vsysbed's account of the crash", ee.Stderr)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatalf("a crashed guest still has a report: %v", err)
	}
	if rep.Exit.Signal != "SIGSEGV" || rep.Totals.Total == 0 {
		t.Errorf("report exit %v, %d calls; want SIGSEGV and some calls", rep.Exit, rep.Totals.Total)
	}
}

func TestMissingProgram(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/nonexistent/program")
	_, err := cmd.Output()
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want *StartError", err, err)
	}
	if se.Code != ExitNotFound || cmd.ExitCode() != 127 {
		t.Errorf("code %d, ExitCode %d; want 127", se.Code, cmd.ExitCode())
	}
	if !strings.Contains(se.Message, "/nonexistent/program") || !strings.Contains(err.Error(), "program not found") {
		t.Errorf("message %q / error %q should name the program and the reason", se.Message, err)
	}
	if _, err := cmd.Report(); !errors.Is(err, ErrNoReport) {
		t.Errorf("Report error %v, want ErrNoReport", err)
	}
}

func TestNotExecutable(t *testing.T) {
	needBinary(t)
	t.Parallel()
	err := Command(t.Context(), t.TempDir()).Run()
	var se *StartError
	if !errors.As(err, &se) || se.Code != ExitNotExecutable {
		t.Fatalf("error %v, want *StartError with code 126", err)
	}
}

func TestGuestExit127IsNotStartError(t *testing.T) {
	needBinary(t)
	t.Parallel()
	// A guest's own 127 comes with a report: it is the guest's status.
	err := Command(t.Context(), "/usr/bin/python3", "-c", "import sys; sys.exit(127)").Run()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 127 {
		t.Fatalf("error %v (%T), want *ExitError with code 127", err, err)
	}
}

func TestReportTotals(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if len(rep.Command) != 1 || rep.Command[0] != "/bin/true" || !rep.Complete || rep.Exit.Code != 0 {
		t.Errorf("command %q complete %v exit %v", rep.Command, rep.Complete, rep.Exit)
	}
	tot := rep.Totals
	if tot.Total == 0 || tot.Total != tot.Bypass+tot.Trap+tot.VDSO+tot.Int80+tot.Patched {
		t.Errorf("totals %+v: not a sum, or empty", tot)
	}
	var rows uint64
	for _, r := range rep.Syscalls {
		rows += r.Total
	}
	if rows != tot.Total {
		t.Errorf("rows sum to %d, totals say %d", rows, tot.Total)
	}
	if cmd.ReportPath() == "" {
		t.Errorf("ReportPath is empty")
	}
}

func TestTrapAndReportFile(t *testing.T) {
	needBinary(t)
	t.Parallel()
	file := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(file, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := Command(t.Context(), "/bin/true")
	cmd.Trap = "sud"
	cmd.ReportFile = file
	if err := cmd.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.TrapMode != "sud" || cmd.ReportPath() != file {
		t.Errorf("trap mode %q, report path %q", rep.TrapMode, cmd.ReportPath())
	}
}

func TestPtracePlatform(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/echo", "traced")
	cmd.Platform = "ptrace"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	if string(out) != "traced\n" {
		t.Errorf("stdout %q", out)
	}
	rep, err := cmd.Report()
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.TrapMode != "ptrace" || rep.Totals.Trap == 0 {
		t.Errorf("trap mode %q, %d traps: not a ptrace run", rep.TrapMode, rep.Totals.Trap)
	}
	// vsysbed refuses a trap mode with the ptrace platform, as a usage error.
	bad := Command(t.Context(), "/bin/true")
	bad.Platform, bad.Trap = "ptrace", "sud"
	if err := bad.Run(); bad.ExitCode() != ExitUsage {
		t.Errorf("ptrace with --trap sud: %v, exit %d, want %d", err, bad.ExitCode(), ExitUsage)
	}
}

func TestBadRouteRejectedByVsysbed(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/true")
	cmd.Routes = []string{"no_such_call=fast"}
	err := cmd.Run()
	var se *StartError
	if !errors.As(err, &se) || se.Code != ExitUsage {
		t.Fatalf("error %v, want *StartError with code %d", err, ExitUsage)
	}
	if !strings.Contains(se.Message, "no_such_call") {
		t.Errorf("message %q does not name the route", se.Message)
	}
}

func TestCombinedOutput(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/usr/bin/python3", "-c",
		"import sys; print('out', flush=True); sys.stderr.write('err\\n')")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CombinedOutput: %v", err)
	}
	if string(out) != "out\nerr\n" {
		t.Errorf("output %q, want %q", out, "out\nerr\n")
	}
}

func TestContextKillsTheRun(t *testing.T) {
	needBinary(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	cmd := Command(ctx, "/bin/sleep", "60")
	start := time.Now()
	err := cmd.Run()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
	// Generous: the point is that the guest did not run its 60 s.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run returned after %v", d)
	}
}

func TestBinaryLookup(t *testing.T) {
	t.Setenv(BinaryEnv, "")
	t.Setenv("PATH", t.TempDir())
	_, err := Command(t.Context(), "/bin/true").Output()
	if !errors.Is(err, ErrBinaryNotFound) || !strings.Contains(err.Error(), BinaryEnv) {
		t.Fatalf("error %v, want ErrBinaryNotFound saying how to set %s", err, BinaryEnv)
	}

	t.Setenv(BinaryEnv, "/nonexistent/vsysbed")
	if _, err := FindBinary(); !errors.Is(err, ErrBinaryNotFound) || !strings.Contains(err.Error(), "/nonexistent/vsysbed") {
		t.Errorf("error %v, want ErrBinaryNotFound naming the path", err)
	}

	cmd := Command(t.Context(), "/bin/true")
	cmd.Binary = t.TempDir()
	if err := cmd.Run(); !errors.Is(err, ErrBinaryNotFound) {
		t.Errorf("a directory as Binary: %v, want ErrBinaryNotFound", err)
	}
}

func TestBadUse(t *testing.T) {
	ctx := t.Context()
	for name, tc := range map[string]struct {
		cmd  *Cmd
		want string
	}{
		"trap":      {&Cmd{Path: "/bin/true", Trap: "ptrace", ctx: ctx, Binary: "/bin/true"}, `Trap must be "seccomp" or "sud"`},
		"rewrite":   {&Cmd{Path: "/bin/true", Rewrite: "eager", ctx: ctx, Binary: "/bin/true"}, `Rewrite must be "off" or "lazy"`},
		"route":     {&Cmd{Path: "/bin/true", Routes: []string{"getpid"}, ctx: ctx}, "NAME=fast or NAME=kernel"},
		"no ctx":    {&Cmd{Path: "/bin/true"}, "not created by Command"},
		"no path":   {Command(ctx, ""), "no program"},
		"canceled":  {Command(canceled(), "/bin/true"), "context canceled"},
		"no binary": {&Cmd{Path: "/bin/true", Binary: "/nonexistent", ctx: ctx}, "vsysbed binary not found"},
	} {
		err := tc.cmd.Start()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start error %v, want %q", name, err, tc.want)
		}
	}

	cmd := Command(ctx, "/bin/true")
	if err := cmd.Wait(); err == nil {
		t.Error("Wait before Start succeeded")
	}
	if _, err := cmd.Report(); err == nil {
		t.Error("Report before Wait succeeded")
	}
	if cmd.ExitCode() != -1 {
		t.Errorf("ExitCode before Wait %d, want -1", cmd.ExitCode())
	}
	cmd.Stdout = &bytes.Buffer{}
	if _, err := cmd.Output(); err == nil || !strings.Contains(err.Error(), "Stdout already set") {
		t.Errorf("Output with Stdout set: %v", err)
	}
	if _, err := cmd.CombinedOutput(); err == nil {
		t.Error("CombinedOutput with Stdout set succeeded")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestString(t *testing.T) {
	cmd := Command(t.Context(), "prog", "-v", "--", "x")
	cmd.Binary = "/opt/vsysbed"
	cmd.Trap = "sud"
	cmd.Routes = []string{"getpid=fast", "write=kernel"}
	want := "/opt/vsysbed run --report FILE --trap sud --route getpid=fast --route write=kernel -- prog -v -- x"
	if got := cmd.String(); got != want {
		t.Errorf("String\n got %s\nwant %s", got, want)
	}

	// Words a shell would split, expand or glob are quoted.
	cmd = Command(t.Context(), "/bin/sh", "-c", `echo "$HOME" it's *`, "")
	cmd.Binary = "/opt/my vsysbed"
	want = `'/opt/my vsysbed' run --report FILE -- /bin/sh -c 'echo "$HOME" it'\''s *' ''`
	if got := cmd.String(); got != want {
		t.Errorf("String\n got %s\nwant %s", got, want)
	}
	if out, err := exec.Command("/bin/sh", "-c", "printf '%s|' "+strings.TrimPrefix(cmd.String(), "'/opt/my vsysbed' ")).Output(); err != nil ||
		string(out) != `run|--report|FILE|--|/bin/sh|-c|echo "$HOME" it's *||` {
		t.Errorf("a shell reads String() as %q (%v)", out, err)
	}
}

// TestNoTemporaryReportLeft: a Cmd without ReportFile leaves no file
// behind once Wait has returned (its report is in Report).
func TestNoTemporaryReportLeft(t *testing.T) {
	needBinary(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, prog := range []string{"/bin/true", "/bin/false"} {
		cmd := Command(t.Context(), prog)
		cmd.Run()
		if rep, err := cmd.Report(); err != nil || rep == nil {
			t.Fatalf("%s: Report: %v", prog, err)
		}
		if _, err := os.Stat(cmd.ReportPath()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the temporary report %s is still there (%v)", prog, cmd.ReportPath(), err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	if got := b.Bytes(); len(got) != 0 {
		t.Errorf("empty buffer holds %q", got)
	}
	b.Write([]byte("vsysbed: first\n"))
	b.Write(bytes.Repeat([]byte("x"), tailHead+tailKeep+100))
	b.Write([]byte("vsysbed: last\n"))
	got := b.Bytes()
	if !bytes.HasPrefix(got, []byte("vsysbed: first\n")) || !bytes.HasSuffix(got, []byte("xvsysbed: last\n")) {
		t.Errorf("head or tail lost: %.40q ... %.40q", got[:40], got[len(got)-40:])
	}
	skipped := len("vsysbed: first\n") + tailHead + tailKeep + 100 + len("vsysbed: last\n") - tailHead - tailKeep
	if !bytes.Contains(got, fmt.Appendf(nil, "omitting %d bytes", skipped)) {
		t.Errorf("no marker for %d omitted bytes", skipped)
	}
	if len(got) > tailHead+tailKeep+64 {
		t.Errorf("kept %d bytes", len(got))
	}
}

func TestSignalNumberAndLines(t *testing.T) {
	for name, want := range map[string]syscall.Signal{
		"": 0, "SIGSEGV": syscall.SIGSEGV, "SIGKILL": syscall.SIGKILL, "SIG40": 40, "bogus": 0,
	} {
		if got := signalNumber(name); got != want {
			t.Errorf("signalNumber(%q) = %d, want %d", name, got, want)
		}
	}
	got := vsysbedLines([]byte("guest noise\nvsysbed: one\nmore\nvsysbed: two\n"))
	if got != "vsysbed: one\nvsysbed: two" {
		t.Errorf("vsysbedLines = %q", got)
	}
	if got := vsysbedLines([]byte("\ninvalid value \"x\" for flag -route\nusage: ...\n")); got != `invalid value "x" for flag -route` {
		t.Errorf("vsysbedLines without vsysbed: lines = %q", got)
	}
}

// The test binary itself must survive a guest that kills its whole
// process group's leader: a SIGKILLed vsysbed is an ExitError, not a
// crash of the caller.
func TestVsysbedKilled(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || ee.Code != -1 {
		t.Fatalf("error %v (%T), want *ExitError for a killed vsysbed", err, err)
	}
	if !strings.Contains(err.Error(), "vsysbed itself") {
		t.Errorf("message %q", err)
	}
	if _, err := cmd.Report(); !errors.Is(err, ErrNoReport) {
		t.Errorf("Report: %v, want ErrNoReport", err)
	}
}

func TestLoadReport(t *testing.T) {
	needBinary(t)
	t.Parallel()
	cmd := Command(t.Context(), "/bin/true")
	cmd.ReportFile = filepath.Join(t.TempDir(), "r.json")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	rep, err := LoadReport(cmd.ReportPath())
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := cmd.Report()
	if rep.Totals != mine.Totals || len(rep.Sites) != len(mine.Sites) {
		t.Errorf("LoadReport read %+v, Report gave %+v", rep.Totals, mine.Totals)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"other/v9"}`), 0o644)
	if _, err := LoadReport(bad); err == nil || !strings.Contains(err.Error(), "other/v9") {
		t.Errorf("other schema: %v", err)
	}
}
