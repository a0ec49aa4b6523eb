package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/version"
)

// commands are every user-facing command, as typed before its flags.
var commands = [][]string{
	{"run"}, {"diff-run"}, {"vdso"}, {"gc"},
	{"report", "show"}, {"report", "merge"}, {"report", "diff"}, {"report", "check"}, {"report", "seccomp"},
}

// TestBadFlagIsOneLine: a bad flag is one line on stderr naming the flag
// and where the help is, nothing on stdout, exit 2 — for every command.
func TestBadFlagIsOneLine(t *testing.T) {
	for _, cmd := range commands {
		name := strings.Join(cmd, " ")
		code, out, errOut := vsysbed(t, append(cmd, "--no-such-flag", "x")...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, "-no-such-flag") || !strings.Contains(errOut, "'vsysbed "+name+" --help'") {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want 2, nothing, one line pointing to --help", name, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"run"}, // no PROGRAM
		{"run", "--trap", "bogus", "true"},
		{"run", "--route", "nosuchcall=fast", "true"},
		{"vdso"},
		{"gc", "extra"},
		{"diff-run", "--platforms", "native", "true"},
		{"report", "nosuch"},
		{"nosuch"},
	} {
		code, out, errOut := vsysbed(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--help'") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and one line pointing to --help", args, code, out, errOut)
		}
	}
}

// TestHelpOnStdout: COMMAND --help and help COMMAND print the same usage
// on stdout and exit 0.
func TestHelpOnStdout(t *testing.T) {
	for _, cmd := range commands {
		name := strings.Join(cmd, " ")
		code, out, errOut := vsysbed(t, append(cmd, "--help")...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: vsysbed "+name) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
		if len(cmd) == 1 {
			code2, out2, _ := vsysbed(t, "help", cmd[0])
			if code2 != 0 || out2 != out {
				t.Errorf("help %s: exit %d, stdout %q; want %s --help's", name, code2, out2, name)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		if code, out, errOut := vsysbed(t, args...); code != 0 || errOut != "" || !strings.HasPrefix(out, "usage:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := vsysbed(t, args...)
		if code != 0 || errOut != "" || out != version.Line()+"\n" || !strings.HasPrefix(out, "vsysbed ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	if colourful(&strings.Builder{}) {
		t.Error("colour on a strings.Builder")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if colourful(f) {
		t.Error("colour on a regular file")
	}
	tty := openPTY(t)
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "")
	if !colourful(tty) {
		t.Error("no colour on a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if colourful(tty) {
		t.Error("colour on a terminal with NO_COLOR=1")
	}
}

func TestColourCheck(t *testing.T) {
	got := colourCheck("FAIL: 1 gate(s) failed\n\nmin-bypass: 50% bypassed\n  offending sites (1 sites, 1 calls):\n")
	want := sgrRed + "FAIL" + sgrReset + ": 1 gate(s) failed\n\n" + sgrBold + "min-bypass" + sgrReset + ": 50% bypassed\n  offending sites (1 sites, 1 calls):\n"
	if got != want {
		t.Errorf("colourCheck:\n%q\nwant\n%q", got, want)
	}
	if got := colourCheck("ok: 100% bypassed\n"); got != sgrGreen+"ok"+sgrReset+": 100% bypassed\n" {
		t.Errorf("colourCheck(ok) = %q", got)
	}
}

// openPTY opens a pseudo-terminal's terminal end (not as the controlling
// terminal).
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
