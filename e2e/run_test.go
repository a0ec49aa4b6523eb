package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// runTimeout bounds every process a spec starts: a hung guest must fail
// its spec, not stall CI until the job limit.
const runTimeout = 60 * time.Second

// result is what a program showed the outside world.
type result struct {
	Stdout string
	Stderr string
	// Status is the shell's view of the exit: the exit code, or 128+N
	// for death by signal N — the same convention vsysbed uses.
	Status int
}

func (r result) String() string {
	return fmt.Sprintf("status %d\n--- stdout ---\n%s--- stderr ---\n%s", r.Status, clip(r.Stdout), clip(r.Stderr))
}

// clip keeps failure messages readable when a program prints a lot.
func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return s[:max] + fmt.Sprintf("\n... (%d more bytes)\n", len(s)-max)
	}
	return s
}

// run starts argv (argv[0] looked up on PATH), feeds it stdin through a
// pipe when stdin is non-nil, and waits at most runTimeout.
func run(stdin *string, argv ...string) result {
	GinkgoHelper()
	return runEnv(nil, stdin, argv...)
}

// runEnv is run with env (NAME=value entries) replacing the suite's own
// environment; nil keeps it.
func runEnv(env []string, stdin *string, argv ...string) result {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdin = strings.NewReader(*stdin)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		Fail(fmt.Sprintf("%q did not finish within %s\n%s", argv, runTimeout,
			result{stdout.String(), stderr.String(), -1}))
	}
	status, ok := exitStatus(err)
	if !ok {
		Fail(fmt.Sprintf("cannot start %q: %v", argv, err))
	}
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}
}

// exitStatus turns cmd.Wait's error into the shell's status; ok is false
// when err is not about the exit at all (the program never ran).
func exitStatus(err error) (status int, ok bool) {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exitErr):
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ws.ExitStatus(), true
	default:
		return -1, false
	}
}

// runVsysbed runs `vsysbed run FLAGS -- ARGV`.
func runVsysbed(stdin *string, flags []string, argv ...string) result {
	GinkgoHelper()
	return run(stdin, vsysbedArgv(flags, argv...)...)
}

// vsysbedArgv is the command line of `vsysbed run FLAGS -- ARGV`.
func vsysbedArgv(flags []string, argv ...string) []string {
	full := append([]string{vsysbedBin, "run"}, flags...)
	full = append(full, "--")
	return append(full, argv...)
}

// reportFlags are the flags of a run that writes its JSON report to path
// under trap mode mode.
func reportFlags(mode, path string) []string {
	return []string{"--trap", mode, "--report", path}
}

func str(s string) *string { return &s }

func intp(n int) *int { return &n }

// groupRun is a program started in a process group of its own, with its
// output collected: killing vsysbed alone would leave the guest's host
// processes running, holding a port and the output pipes open (so
// WaitDelay bounds Wait), and ctx's end kills the whole group.
type groupRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error // Wait's result, sent once
}

func startGroup(ctx context.Context, argv []string) *groupRun {
	GinkgoHelper()
	g := &groupRun{done: make(chan error, 1)}
	g.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	g.cmd.Stdout, g.cmd.Stderr = &g.stdout, &g.stderr
	g.cmd.WaitDelay = 5 * time.Second
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.Cancel = func() error { return syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL) }
	Expect(g.cmd.Start()).To(Succeed())
	go func() { g.done <- g.cmd.Wait() }()
	return g
}

// killGroup kills the group of g.
func (g *groupRun) killGroup() { syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL) }

// sameAsNative runs argv natively and under vsysbed in trap mode mode
// (env added to both environments) and expects the same stdout, stderr
// and status, a native status 0 and an intact report; it returns the
// vsysbed run.
func sameAsNative(mode string, env []string, argv ...string) result {
	GinkgoHelper()
	native := runEnv(env, nil, argv...)
	Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	got := runEnv(env, nil, vsysbedArgv(reportFlags(mode, reportPath), argv...)...)
	expectNoPanic(got)
	Expect(got).To(Equal(native), "native:\n%s\nvsysbed:\n%s", native, got)
	checkReport(loadReport(reportPath), argv, native.Status)
	return got
}
