package diffrun

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vsysbed/vsysbed/coverage"
)

// Options of one differential run.
type Options struct {
	Vsysbed   string   // the vsysbed binary that runs the platforms
	Argv      []string // PROGRAM [ARGS...]
	Platforms []string // in order; the first is the output reference
	Trap      string   // --trap for the in-process platform ("" = default)
	Stdin     []byte   // every run reads the same input
	ReportDir string   // each platform's report goes to DIR/PLATFORM.json
	Progress  io.Writer
}

// ErrNotFound is returned (wrapped) when PROGRAM cannot be found: there is
// nothing to compare.
var ErrNotFound = errors.New("not found")

// ownPrefix starts the lines vsysbed itself writes to the shared stderr
// (a guest's death, a run directory kept): they are not the program's.
const ownPrefix = "vsysbed: "

// Run runs o.Argv on every platform in turn and returns their outcomes in
// the same order. An error means a run could not be made or read back;
// differences between runs are for Compare.
func Run(o Options) ([]Outcome, error) {
	if len(o.Argv) == 0 {
		return nil, errors.New("no program to run")
	}
	if _, err := exec.LookPath(o.Argv[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Argv[0], ErrNotFound)
	}
	var outs []Outcome
	for _, p := range o.Platforms {
		var out Outcome
		var err error
		if p == Native {
			out, err = runNative(o)
		} else {
			out, err = runPlatform(o, p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s run: %w", p, err)
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "diff-run: %-9s %s, %d bytes of stdout, %d of stderr%s\n",
				p, out.Exit, len(out.Stdout), len(out.Stderr), syscallSummary(out.Report))
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func syscallSummary(r *coverage.Report) string {
	if r == nil {
		return ""
	}
	var errs uint64
	for _, row := range r.Syscalls {
		errs += row.Errors
	}
	patched := ""
	if r.Totals.Patched > 0 {
		patched = fmt.Sprintf(", %d patched", r.Totals.Patched)
	}
	return fmt.Sprintf(", %d syscalls (%d bypassed, %d trapped%s, %d errors)",
		r.Totals.Bypass+r.Totals.Trap+r.Totals.Patched, r.Totals.Bypass, r.Totals.Trap, patched, errs)
}

func runNative(o Options) (Outcome, error) {
	cmd := exec.Command(o.Argv[0], o.Argv[1:]...)
	out := Outcome{Platform: Native}
	ws, stdout, stderr, err := collect(cmd, o.Stdin)
	if err != nil {
		return out, err
	}
	out.Stdout, out.Stderr = stdout, stderr
	out.Exit = exitOf(ws)
	return out, nil
}

func runPlatform(o Options, platform string) (Outcome, error) {
	out := Outcome{Platform: platform}
	report := filepath.Join(o.ReportDir, platform+".json")
	args := []string{"run", "--platform", platform, "--report", report}
	switch platform {
	case InProcess:
		args = append(args, "--rewrite=off")
	case InProcessLazy:
		args = []string{"run", "--platform", InProcess, "--rewrite=lazy", "--report", report}
	}
	if o.Trap != "" && (platform == InProcess || platform == InProcessLazy) {
		args = append(args, "--trap", o.Trap)
	}
	args = append(args, "--")
	args = append(args, o.Argv...)
	ws, stdout, stderr, err := collect(exec.Command(o.Vsysbed, args...), o.Stdin)
	if err != nil {
		return out, err
	}
	out.Stdout = stdout
	own, guest := splitOwn(stderr)
	out.Stderr = guest
	rep, err := coverage.Load(report)
	if err != nil {
		msg := strings.TrimSpace(string(own))
		if msg == "" {
			msg = exitOf(ws).String()
		}
		return out, fmt.Errorf("no report (%s): %w", msg, err)
	}
	out.Report = rep
	out.Exit = coverage.ExitStatus{Code: rep.Exit.Code, Signal: rep.Exit.Signal}
	return out, nil
}

// collect runs cmd to the end with stdin as its input.
func collect(cmd *exec.Cmd, stdin []byte) (syscall.WaitStatus, []byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, nil, nil, err
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ws, stdout.Bytes(), stderr.Bytes(), nil
}

func exitOf(ws syscall.WaitStatus) coverage.ExitStatus {
	if ws.Signaled() {
		return coverage.ExitStatus{Signal: coverage.SignalName(ws.Signal())}
	}
	return coverage.ExitStatus{Code: ws.ExitStatus()}
}

// splitOwn separates vsysbed's own stderr lines from the program's.
func splitOwn(b []byte) (own, guest []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		if bytes.HasPrefix(line, []byte(ownPrefix)) {
			own = append(own, line...)
		} else {
			guest = append(guest, line...)
		}
	}
	return own, guest
}

// ReadStdin is the input every run gets: all of f, or nothing when f is a
// terminal (diff-run cannot replay what a user types).
func ReadStdin(f *os.File) ([]byte, error) {
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return nil, nil
	}
	return io.ReadAll(f)
}
