// Package explore is `vsysbed explore`: what does a program need from
// the kernel? As Loupe (ASPLOS'24) does, it runs the program once to learn
// which syscalls it uses, then once more per used syscall with every call
// of it stubbed (failing with ENOSYS) and once with every call faked
// (returning 0 without running), and asks each time whether the program
// still works: a test command's exit status, or by default the same exit
// status and output as the first run. A syscall that works neither
// stubbed nor faked is required. Each run is a `vsysbed run --inject`,
// started as a program (the vsysbed binary itself), so experiments run in
// parallel in processes of their own.
package explore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vsysbed/vsysbed/coverage"
)

// Options of one exploration.
type Options struct {
	Vsysbed  string   // the vsysbed binary
	Argv     []string // PROGRAM [ARGS...]
	RunFlags []string // more `vsysbed run` flags for every run (--trap sud, ...)

	// Test decides a run's verdict: a shell command (sh -c) whose exit 0
	// means the program works; it gets the run's stdout file as $1 (and
	// in VSYSBED_EXPLORE_STDOUT). "" compares exit status and stdout with
	// the first run's.
	Test string
	// Server mode (Ready or Port set): the program is started and left
	// running; once Ready (a shell command polled until it exits 0) or a
	// connect to localhost:Port succeeds, Test runs against it, then the
	// program is killed. Experiments then need Test.
	Ready string
	Port  int

	Runs    int           // runs per experiment; it works only if every run does
	Jobs    int           // experiments at once
	Timeout time.Duration // per run: the program (and the test) are killed after it

	Progress io.Writer // one line per experiment done; nil: none
	// ProgressBar: Progress is a terminal, where one line is redrawn
	// instead (a bar, the count, the last experiment, the ETA); the
	// experiments that failed stay on their own lines above it.
	ProgressBar bool
}

// Treatments of a syscall in an experiment.
const (
	Stub = "stubbed" // every call fails with ENOSYS
	Fake = "faked"   // every call returns 0 without running
)

// Verdict is what the experiments found for one used syscall.
type Verdict struct {
	Nr    int    `json:"nr"`
	Name  string `json:"name"`
	Calls uint64 `json:"calls"` // in the first run
	// Stubbed and Faked: every run of that experiment worked; the Runs
	// that worked are in StubbedRuns and FakedRuns (of Options.Runs).
	Stubbed     bool `json:"works_stubbed"`
	Faked       bool `json:"works_faked"`
	StubbedRuns int  `json:"stubbed_runs_ok"`
	FakedRuns   int  `json:"faked_runs_ok"`
	// Required: works neither stubbed nor faked, the kernel must
	// implement it.
	Required bool `json:"required"`
}

// Both tells whether the syscall works stubbed and faked.
func (v *Verdict) Both() bool { return v.Stubbed && v.Faked }

// Result of an exploration.
type Result struct {
	Command  []string  `json:"command"`
	Test     string    `json:"test,omitempty"`
	Runs     int       `json:"runs"`
	Syscalls []Verdict `json:"syscalls"` // used syscalls, by number
	// Required are the names of the required syscalls, by number: the
	// minimal set the program needs (each alone; see docs/explore.md).
	Required    []string `json:"required"`
	Experiments int      `json:"experiments"`
	// Seconds: the whole exploration and each experiment on average.
	Seconds              float64 `json:"seconds"`
	SecondsPerExperiment float64 `json:"seconds_per_experiment"`
}

// outcome is one run's: whether it worked.
type outcome struct {
	status int
	stdout []byte
	err    error
}

// Explore runs the exploration.
func Explore(o Options) (*Result, error) {
	if o.Runs < 1 {
		o.Runs = 1
	}
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	server := o.Ready != "" || o.Port != 0
	if server && o.Test == "" {
		return nil, errors.New("explore: a server (--ready or --port) needs --test")
	}
	work, err := os.MkdirTemp("", "vsysbed-explore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	start := time.Now()

	// The first run: what the program uses, and what working looks like.
	repPath := filepath.Join(work, "baseline.json")
	base := o.runOnce(work, "baseline", []string{"--report", repPath})
	if base.err != nil {
		return nil, fmt.Errorf("explore: the first run: %w", base.err)
	}
	if o.Test != "" && base.status != 0 {
		return nil, fmt.Errorf("explore: the test fails on the program as it is (status %d): nothing to compare with", base.status)
	}
	rep, err := coverage.Load(repPath)
	if err != nil {
		return nil, fmt.Errorf("explore: the first run's report: %w", err)
	}
	res := &Result{Command: o.Argv, Test: o.Test, Runs: o.Runs, Syscalls: []Verdict{}, Required: []string{}}
	for _, row := range rep.Syscalls {
		// vDSO calls never enter a kernel, nor i386 ones this table.
		if n := row.Bypass + row.Trap + row.Patched; n > 0 && row.Int80 == 0 {
			res.Syscalls = append(res.Syscalls, Verdict{Nr: row.Nr, Name: row.Name, Calls: n})
		}
	}
	sort.Slice(res.Syscalls, func(i, j int) bool { return res.Syscalls[i].Nr < res.Syscalls[j].Nr })
	works := func(out outcome) bool {
		if out.err != nil {
			return false
		}
		if o.Test != "" {
			return out.status == 0
		}
		return out.status == base.status && bytes.Equal(out.stdout, base.stdout)
	}

	type experiment struct {
		v     *Verdict
		treat string
	}
	var exps []experiment
	for i := range res.Syscalls {
		exps = append(exps, experiment{&res.Syscalls[i], Stub}, experiment{&res.Syscalls[i], Fake})
	}
	res.Experiments = len(exps)
	var mu sync.Mutex
	done := 0
	expStart := time.Now()
	next := make(chan experiment)
	var wg sync.WaitGroup
	for range o.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				t0 := time.Now()
				ok := 0
				for r := range o.Runs {
					tag := fmt.Sprintf("%s-%s-%d", e.v.Name, e.treat, r)
					if works(o.runOnce(work, tag, []string{"--report", "/dev/null", "--inject", injection(e.v.Name, e.treat)})) {
						ok++
					}
				}
				mu.Lock()
				if e.treat == Stub {
					e.v.StubbedRuns, e.v.Stubbed = ok, ok == o.Runs
				} else {
					e.v.FakedRuns, e.v.Faked = ok, ok == o.Runs
				}
				done++
				o.progress(done, len(exps), e.v.Name, e.treat, ok, time.Since(t0), time.Since(expStart))
				mu.Unlock()
			}
		}()
	}
	for _, e := range exps {
		next <- e
	}
	close(next)
	wg.Wait()

	for i := range res.Syscalls {
		v := &res.Syscalls[i]
		v.Required = !v.Stubbed && !v.Faked
		if v.Required {
			res.Required = append(res.Required, v.Name)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if len(exps) > 0 {
		res.SecondsPerExperiment = time.Since(expStart).Seconds() / float64(len(exps)) * float64(o.Jobs)
	}
	return res, nil
}

// injection is the --inject rule of a treatment.
func injection(name, treat string) string {
	if treat == Stub {
		return name + ":error=ENOSYS"
	}
	return name + ":retval=0"
}

func (o *Options) progress(done, total int, name, treat string, ok int, took, elapsed time.Duration) {
	if o.Progress == nil {
		return
	}
	verdict := "works"
	if ok < o.Runs {
		verdict = "fails"
		if ok > 0 {
			verdict = fmt.Sprintf("flaky (%d/%d)", ok, o.Runs)
		}
	}
	eta := time.Duration(float64(elapsed) / float64(done) * float64(total-done)).Round(time.Second)
	line := fmt.Sprintf("[%d/%d] %s %s: %s (%.2fs), ETA %s", done, total, name, treat, verdict, took.Seconds(), eta)
	if !o.ProgressBar {
		fmt.Fprintln(o.Progress, line)
		return
	}
	// \r and erase-line: the bar is redrawn in place; a failing
	// experiment's line is kept above it.
	if verdict != "works" {
		fmt.Fprintf(o.Progress, "\r\x1b[K%s\n", line)
	}
	end := "\n"
	if done < total {
		end = ""
	}
	fmt.Fprintf(o.Progress, "\r\x1b[K%s %s%s", progressBar(done, total, 24), line, end)
}

// progressBar is done of total as width cells: [#####.....].
func progressBar(done, total, width int) string {
	n := 0
	if total > 0 {
		n = done * width / total
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// runOnce runs the program under `vsysbed run FLAGS` and, in server
// mode or with a test, the test; the outcome's status is the test's
// when there is one.
func (o *Options) runOnce(work, tag string, flags []string) outcome {
	stdoutPath := filepath.Join(work, tag+".stdout")
	f, err := os.Create(stdoutPath)
	if err != nil {
		return outcome{err: err}
	}
	defer f.Close()
	argv := append(append(append([]string{"run"}, o.RunFlags...), flags...), "--")
	argv = append(argv, o.Argv...)
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	cmd := exec.Command(o.Vsysbed, argv...)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A process group of its own: a timeout kills the whole tree.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return outcome{err: err}
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer kill()

	if o.Ready != "" || o.Port != 0 {
		ready := o.waitReady(ctx, exited)
		st := -1
		if ready {
			st = o.test(ctx, stdoutPath)
		}
		// SIGTERM to the supervisor, which hands it on and writes the
		// report once the server has ended; SIGKILL if it will not.
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		return outcome{status: st}
	}
	select {
	case <-exited:
	case <-ctx.Done():
		kill()
		<-exited
		return outcome{status: -1} // a hang does not work
	}
	status := exitStatus(cmd.ProcessState, waitErr)
	out, err := os.ReadFile(stdoutPath)
	if err != nil {
		return outcome{err: err}
	}
	if o.Test != "" {
		status = o.test(ctx, stdoutPath)
	}
	return outcome{status: status, stdout: out}
}

// waitReady polls the readiness check until it passes, the program ends
// or the time is up.
func (o *Options) waitReady(ctx context.Context, exited <-chan struct{}) bool {
	for {
		if o.Port != 0 {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(o.Port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				if o.Ready == "" {
					return true
				}
			}
		}
		if o.Ready != "" && exec.CommandContext(ctx, "sh", "-c", o.Ready).Run() == nil {
			return true
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// test runs the test command; its exit status, -1 when it could not run
// or ran out of time.
func (o *Options) test(ctx context.Context, stdoutPath string) int {
	cmd := exec.CommandContext(ctx, "sh", "-c", o.Test, "test", stdoutPath)
	cmd.Env = append(os.Environ(), "VSYSBED_EXPLORE_STDOUT="+stdoutPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1
	}
	return exitStatus(cmd.ProcessState, err)
}

func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
