// Package bed runs programs under vsysbed from Go code — typically a user's
// end-to-end test suite — the way os/exec runs them natively, and hands
// back the coverage report of each run.
//
// A Cmd runs the vsysbed binary in a child process
// (`vsysbed run --report FILE [--trap T] [--route R]... -- PROGRAM ARGS...`)
// rather than loading the guest into the calling process: a guest runs
// inside vsysbed's own process, so a crashing or misbehaving guest can only
// take that child down, never the test binary.
//
//	cmd := bed.Command(ctx, "/bin/echo", "hello")
//	out, err := cmd.Output()        // "hello\n", nil
//	rep, err := cmd.Report()        // *bed.Report, the same type the CLI writes
//
// The report types are package coverage's (schema vsysbed.report/v1,
// docs/report.md); package bedmatch has Gomega matchers for them.
package bed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
)

// Report is the coverage report of one run, shared with the vsysbed CLI
// (`vsysbed run --report`, `coverage.Load`).
type Report = coverage.Report

// Site is one call site of a Report.
type Site = coverage.Site

// LoadReport reads a JSON report written by `vsysbed run --report` (a
// baseline checked in beside a suite, say).
func LoadReport(path string) (*Report, error) {
	return coverage.Load(path)
}

// Exit statuses with which vsysbed refuses to run a guest. A guest may
// exit with the same numbers itself; Wait tells the two apart by whether
// vsysbed wrote a report (it writes one for every guest it started).
const (
	// ExitUsage: vsysbed rejected its command line (a bad --route, say).
	ExitUsage = exitstatus.Usage
	// ExitFailed: vsysbed itself failed before the guest ran (no run
	// directory, the host process could not start), or the guest needs
	// something vsysbed does not support yet.
	ExitFailed = exitstatus.Failed
	// ExitNotExecutable: the program exists but cannot be executed: a
	// directory, no execute permission, neither ELF nor `#!`, a 32-bit or
	// non-x86-64 ELF, a corrupt ELF.
	ExitNotExecutable = exitstatus.NotExecutable
	// ExitNotFound: the program was not found (on PATH, for a name
	// without a slash).
	ExitNotFound = exitstatus.NotFound
)

// BinaryEnv names the environment variable that points Command at the
// vsysbed binary when Cmd.Binary is empty.
const BinaryEnv = "VSYSBED_BIN"

// ErrBinaryNotFound is returned by Start when no vsysbed binary can be
// located. The wrapping error says where bed looked.
var ErrBinaryNotFound = errors.New("vsysbed binary not found")

// ErrNoReport is returned by Report when the run left no report: vsysbed
// did not start the guest, or was killed before writing it.
var ErrNoReport = errors.New("no coverage report")

// Cmd is a program to run under vsysbed. Its exported fields mirror
// os/exec.Cmd and are read by Start; change them only before it.
type Cmd struct {
	// Path is the program to run. A name without a slash is looked up by
	// vsysbed on the PATH of Env (like a shell); a relative path is
	// relative to Dir.
	Path string
	// Args holds the program and its arguments, Args[0] being Path as
	// Command sets it. vsysbed gives the guest Path as argv[0]: Args[0]
	// is not used otherwise.
	Args []string

	// Env is the environment of vsysbed and therefore of the guest; nil
	// means the calling process's environment, as in os/exec.
	Env []string
	// Dir is the working directory of vsysbed and the guest; "" means the
	// calling process's.
	Dir string

	// Stdin, Stdout and Stderr are the guest's standard streams, with
	// os/exec's meaning of nil (the null device). vsysbed's own messages
	// (lines starting with "vsysbed:") also go to Stderr. When Stderr is
	// nil or not an *os.File, the last part of it is also kept for
	// ExitError.Stderr and StartError.Stderr.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles are more open files for the guest, as in os/exec: entry
	// i becomes the guest's fd 3+i. vsysbed passes every inheritable fd
	// of its caller to the guest at its own number.
	ExtraFiles []*os.File

	// Trap selects how raw `syscall` instructions are caught: "seccomp"
	// or "sud" (Syscall User Dispatch); "" is vsysbed's default (seccomp).
	Trap string
	// Rewrite is "lazy" or "off" (vsysbed run --rewrite; "" is vsysbed's
	// default, lazy): with "lazy", sites that trapped and match a known
	// pattern are rewritten, their later calls counted as patched; "off"
	// keeps every raw syscall a trap.
	Rewrite string
	// Routes force syscall routes, each "NAME=fast" or "NAME=kernel"
	// (vsysbed run --route).
	Routes []string
	// Platform is "inprocess" (vsysbed's default when "") or "ptrace":
	// the guest runs natively as a traced child, every syscall counted at
	// a ptrace stop (vsysbed run --platform; docs/ptrace.md). Trap does
	// not apply to "ptrace".
	Platform string
	// Binary is the vsysbed executable. "" means $VSYSBED_BIN, else
	// `vsysbed` on PATH.
	Binary string
	// ReportFile is where vsysbed writes the JSON report. "" means a file
	// in a temporary directory that Wait removes once it has read the
	// report (Report returns it). A ReportFile is removed at Start, so a
	// stale report is never read back, and kept after Wait.
	ReportFile string

	// Process is the vsysbed process, once started.
	Process *os.Process
	// ProcessState is the vsysbed process's state once Wait returned. Its
	// exit code is the guest's (128+N when the guest died by signal N).
	ProcessState *os.ProcessState

	ctx        context.Context
	cmd        *exec.Cmd
	reportPath string
	tempDir    string // the temporary report's, "" once removed
	stderrTail *tailBuffer
	waited     bool
	report     *Report
	reportErr  error
}

// Command returns a Cmd that runs name with args under vsysbed. The
// context kills vsysbed, its host process and the guest (the whole process
// group) if it is done before the command finishes; Wait then returns an
// error that wraps ctx.Err().
func Command(ctx context.Context, name string, args ...string) *Cmd {
	return &Cmd{
		Path: name,
		Args: append([]string{name}, args...),
		ctx:  ctx,
	}
}

// String describes the vsysbed command line Cmd runs (for logs), each
// word quoted as a POSIX shell would need it, so that it can be pasted
// into one; the report file shows as FILE until Start chose it.
func (c *Cmd) String() string {
	bin := c.Binary
	if bin == "" {
		bin = "vsysbed"
	}
	report := c.reportPath
	if report == "" {
		report = "FILE"
	}
	words := append([]string{bin}, c.vsysbedArgs(report)...)
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// shellQuote returns w as a POSIX shell word: as it is when it holds only
// characters no shell treats specially, else in single quotes (a single
// quote inside as '\”).
func shellQuote(w string) string {
	if w == "" {
		return "''"
	}
	plain := true
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func (c *Cmd) vsysbedArgs(report string) []string {
	args := []string{"run", "--report", report}
	if c.Platform != "" {
		args = append(args, "--platform", c.Platform)
	}
	if c.Trap != "" {
		args = append(args, "--trap", c.Trap)
	}
	if c.Rewrite != "" {
		args = append(args, "--rewrite", c.Rewrite)
	}
	for _, r := range c.Routes {
		args = append(args, "--route", r)
	}
	args = append(args, "--", c.Path)
	if len(c.Args) > 1 {
		args = append(args, c.Args[1:]...)
	}
	return args
}

// FindBinary returns the vsysbed binary a Cmd with an empty Binary runs:
// $VSYSBED_BIN, else `vsysbed` on PATH. The error wraps ErrBinaryNotFound
// and says how to set it.
func FindBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("bed: $%s=%s: %w", BinaryEnv, p, err)
		}
		return filepath.Abs(p)
	}
	p, err := exec.LookPath("vsysbed")
	if err != nil {
		return "", fmt.Errorf("bed: %w: set Cmd.Binary or $%s to its path, or put vsysbed on PATH "+
			"(`make build` in the vsysbed tree writes build/vsysbed)", ErrBinaryNotFound, BinaryEnv)
	}
	return filepath.Abs(p)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no such file", ErrBinaryNotFound)
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("%w: not an executable file", ErrBinaryNotFound)
	}
	return nil
}

// Start starts vsysbed with the guest and returns without waiting for it.
func (c *Cmd) Start() error {
	if c.cmd != nil {
		return errors.New("bed: already started")
	}
	if c.ctx == nil {
		return errors.New("bed: Cmd not created by Command (nil context)")
	}
	if c.Path == "" {
		return errors.New("bed: no program given")
	}
	switch c.Trap {
	case "", "seccomp", "sud":
	default:
		return fmt.Errorf("bed: Trap must be \"seccomp\" or \"sud\", got %q", c.Trap)
	}
	switch c.Rewrite {
	case "", "off", "lazy":
	default:
		return fmt.Errorf("bed: Rewrite must be \"off\" or \"lazy\", got %q", c.Rewrite)
	}
	for _, r := range c.Routes {
		if name, route, ok := strings.Cut(r, "="); !ok || name == "" || (route != "fast" && route != "kernel") {
			return fmt.Errorf("bed: a route is NAME=fast or NAME=kernel, got %q", r)
		}
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}

	bin := c.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return err
		}
	} else if err := checkExecutable(bin); err != nil {
		return fmt.Errorf("bed: Cmd.Binary %s: %w", bin, err)
	}
	// exec resolves a relative binary against Dir; the user meant the
	// caller's working directory.
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}

	report, err := c.prepareReportFile()
	if err != nil {
		return err
	}

	cmd := exec.CommandContext(c.ctx, bin, c.vsysbedArgs(report)...)
	cmd.Env, cmd.Dir, cmd.Stdin, cmd.ExtraFiles = c.Env, c.Dir, c.Stdin, c.ExtraFiles
	// vsysbed's host process (and any process a forking guest creates)
	// is a grandchild: killing only vsysbed would leave it running.
	// A process group of their own lets cancellation reach them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != syscall.ESRCH {
			return err
		}
		return os.ErrProcessDone
	}
	c.stderrTail = &tailBuffer{}
	c.wireOutput(cmd)
	if err := cmd.Start(); err != nil {
		c.removeTempReport()
		return fmt.Errorf("bed: starting %s: %w", bin, err)
	}
	c.cmd = cmd
	c.Process = cmd.Process
	return nil
}

// prepareReportFile chooses the report file and clears it.
func (c *Cmd) prepareReportFile() (string, error) {
	if c.ReportFile != "" {
		p, err := filepath.Abs(c.ReportFile)
		if err != nil {
			return "", err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("bed: clearing the report file: %w", err)
		}
		c.reportPath = p
		return p, nil
	}
	dir, err := os.MkdirTemp("", "vsysbed-bed-")
	if err != nil {
		return "", fmt.Errorf("bed: creating the report directory: %w", err)
	}
	c.tempDir = dir
	// A Cmd started but never waited for still leaves nothing behind
	// once it is garbage collected.
	runtime.AddCleanup(c, func(dir string) { os.RemoveAll(dir) }, dir)
	c.reportPath = filepath.Join(dir, "report.json")
	return c.reportPath, nil
}

// removeTempReport removes the temporary report directory, if Start made
// one: once Wait has read the report, or when Start failed.
func (c *Cmd) removeTempReport() {
	if c.tempDir != "" {
		os.RemoveAll(c.tempDir)
		c.tempDir = ""
	}
}

// wireOutput connects the guest's stdout and stderr, keeping the tail of
// stderr for the errors. An *os.File is passed through untouched: the
// guest may care that its stderr is a terminal or a regular file.
func (c *Cmd) wireOutput(cmd *exec.Cmd) {
	cmd.Stdout = c.Stdout
	switch w := c.Stderr; {
	case w == nil:
		cmd.Stderr = c.stderrTail
	case isFile(w):
		cmd.Stderr = w
	case sameWriter(w, c.Stdout):
		// One writer for both streams: os/exec gives it one pipe, so the
		// writes stay ordered and never run concurrently. Keep that.
		tee := io.MultiWriter(w, c.stderrTail)
		cmd.Stdout, cmd.Stderr = tee, tee
	default:
		cmd.Stderr = io.MultiWriter(w, c.stderrTail)
	}
}

func isFile(w io.Writer) bool {
	_, ok := w.(*os.File)
	return ok
}

// sameWriter reports whether a and b are the same writer; writers of
// uncomparable dynamic types are never the same.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// Run starts the command and waits for it to finish.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Wait waits for vsysbed to exit and reads the report. It returns nil when
// the guest exited with status 0; an *ExitError when the guest exited
// non-zero or died by a signal; a *StartError when vsysbed exited without
// running the guest; an error wrapping ctx.Err() when the context ended
// the run.
func (c *Cmd) Wait() error {
	if c.cmd == nil {
		return errors.New("bed: not started")
	}
	if c.waited {
		return errors.New("bed: Wait already called")
	}
	c.waited = true
	waitErr := c.cmd.Wait()
	c.ProcessState = c.cmd.ProcessState
	c.loadReport()
	c.removeTempReport()

	if c.ProcessState == nil {
		return fmt.Errorf("bed: waiting for vsysbed: %w", waitErr)
	}
	ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
	if ctxErr := c.ctx.Err(); ctxErr != nil && ws.Signaled() {
		return fmt.Errorf("bed: %s stopped: %w", c.Path, ctxErr)
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		// The process ended, but copying its output failed.
		return fmt.Errorf("bed: %s: %w", c.Path, waitErr)
	}
	if ws.Signaled() {
		// vsysbed mirrors a guest's death as an exit status, so this is
		// vsysbed itself killed from outside.
		return &ExitError{Code: -1, Signal: ws.Signal(), Stderr: c.stderrTail.Bytes(),
			ProcessState: c.ProcessState, vsysbedKilled: true}
	}
	code := ws.ExitStatus()
	if code == 0 {
		return nil
	}
	if errors.Is(c.reportErr, ErrNoReport) {
		stderr := c.stderrTail.Bytes()
		return &StartError{Program: c.Path, Code: code, Stderr: stderr, Message: vsysbedLines(stderr)}
	}
	e := &ExitError{Code: code, Stderr: c.stderrTail.Bytes(), ProcessState: c.ProcessState}
	if c.report != nil {
		e.Signal = signalNumber(c.report.Exit.Signal)
	} else if code > 128 {
		e.Signal = syscall.Signal(code - 128)
	}
	return e
}

func (c *Cmd) loadReport() {
	rep, err := coverage.Load(c.reportPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.reportErr = fmt.Errorf("bed: %w: vsysbed exited with status %d without writing %s",
			ErrNoReport, c.ProcessState.ExitCode(), c.reportPath)
	case err != nil:
		c.reportErr = fmt.Errorf("bed: reading the report: %w", err)
	default:
		c.report = rep
	}
}

// Output runs the command and returns its standard output. When Stderr is
// nil, an *ExitError or *StartError carries the end of the guest's and
// vsysbed's stderr.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("bed: Stdout already set")
	}
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error interleaved, vsysbed's own messages included.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("bed: Stdout already set")
	}
	if c.Stderr != nil {
		return nil, errors.New("bed: Stderr already set")
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}

// ExitCode is vsysbed's exit status once it exited: the guest's status,
// 128+N when the guest died by signal N, or one of the Exit* codes when
// vsysbed refused to run it. It is -1 before Wait returned or when vsysbed
// itself was killed.
func (c *Cmd) ExitCode() int {
	if c.ProcessState == nil {
		return -1
	}
	return c.ProcessState.ExitCode()
}

// Report returns the run's coverage report, read when Wait returned. A
// guest that crashed still has one. The error wraps ErrNoReport when
// vsysbed wrote none.
func (c *Cmd) Report() (*Report, error) {
	if !c.waited {
		return nil, errors.New("bed: Report called before Wait")
	}
	return c.report, c.reportErr
}

// ReportPath is the JSON report file of the run ("" before Start). A
// temporary one (ReportFile "") is removed when Wait returns, its report
// read into Report: set ReportFile to keep the file.
func (c *Cmd) ReportPath() string {
	return c.reportPath
}

// ExitError is a guest that exited with a non-zero status or died by a
// signal.
type ExitError struct {
	// Code is vsysbed's exit status: the guest's exit code, or 128+N
	// when it died by signal N; -1 when vsysbed itself was killed.
	Code int
	// Signal is the signal that killed the guest (from the report), or
	// 0 when it exited.
	Signal syscall.Signal
	// Stderr is the end of the guest's and vsysbed's standard error when
	// Cmd.Stderr was nil or not an *os.File.
	Stderr []byte
	// ProcessState is the vsysbed process's.
	ProcessState *os.ProcessState

	vsysbedKilled bool
}

// ExitCode returns Code.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Error() string {
	switch {
	case e.vsysbedKilled:
		return "bed: vsysbed itself was killed by " + coverage.SignalName(e.Signal)
	case e.Signal != 0:
		return fmt.Sprintf("bed: guest killed by %s (exit status %d)", coverage.SignalName(e.Signal), e.Code)
	}
	return "bed: guest exited with status " + strconv.Itoa(e.Code)
}

// StartError is vsysbed exiting without having run the guest: it wrote no
// report. Code says why (ExitNotFound, ExitNotExecutable, ExitFailed,
// ExitUsage; anything else means vsysbed died before the guest started).
type StartError struct {
	Program string
	Code    int
	// Stderr is the end of vsysbed's standard error (when Cmd.Stderr was
	// nil or not an *os.File); Message its lines starting with
	// "vsysbed:" (or its first line), which say what went wrong.
	Stderr  []byte
	Message string
}

// ExitCode returns Code.
func (e *StartError) ExitCode() int { return e.Code }

func (e *StartError) Error() string {
	var why string
	switch e.Code {
	case ExitNotFound:
		why = "program not found"
	case ExitNotExecutable:
		why = "program cannot be executed"
	case ExitFailed:
		why = "vsysbed failed"
	case ExitUsage:
		why = "vsysbed rejected its command line"
	default:
		why = "vsysbed ended before the guest started"
	}
	msg := fmt.Sprintf("bed: vsysbed did not run %s: %s (exit status %d)", e.Program, why, e.Code)
	if e.Message != "" {
		msg += ": " + strings.ReplaceAll(e.Message, "\n", "; ")
	}
	return msg
}

// vsysbedLines picks vsysbed's own messages out of stderr: the lines
// starting with "vsysbed:", else (a flag error) the first non-empty line.
func vsysbedLines(stderr []byte) string {
	var lines []string
	first := ""
	for _, l := range strings.Split(string(stderr), "\n") {
		if strings.HasPrefix(l, "vsysbed:") {
			lines = append(lines, l)
		}
		if first == "" {
			first = strings.TrimSpace(l)
		}
	}
	if len(lines) == 0 {
		return first
	}
	return strings.Join(lines, "\n")
}

// signalNumber converts a report's signal name ("SIGSEGV", "SIG34") back
// to its number; 0 for "" or a name it does not know.
func signalNumber(name string) syscall.Signal {
	if name == "" {
		return 0
	}
	if s := unix.SignalNum(name); s != 0 {
		return s
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "SIG")); err == nil && n > 0 {
		return syscall.Signal(n)
	}
	return 0
}

// tailBuffer keeps the first and the last bytes written to it, enough for
// vsysbed's own messages, which come first (a refusal) or last (a death),
// without holding the whole stderr of a chatty guest.
type tailBuffer struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte
	skipped int64
}

const (
	tailHead = 8 << 10
	tailKeep = 24 << 10
)

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := tailHead - len(b.head); room > 0 {
		take := min(room, len(p))
		b.head = append(b.head, p[:take]...)
		p = p[take:]
	}
	if len(p) == 0 {
		return n, nil
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - tailKeep; over > 0 {
		b.skipped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

// Bytes returns what was kept, with a marker where bytes were dropped.
func (b *tailBuffer) Bytes() []byte {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]byte{}, b.head...)
	if b.skipped > 0 {
		out = fmt.Appendf(out, "\n... omitting %d bytes ...\n", b.skipped)
	}
	return append(out, b.tail...)
}
