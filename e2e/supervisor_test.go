package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// How long a spec waits for the sleeper to say "ready", and for vsysbed to
// exit once signalled: upper bounds for a failure message, never waited
// out by a passing run (the sleeper itself sleeps 30 s).
const (
	readyTimeout = 20 * time.Second
	exitTimeout  = 10 * time.Second
)

// watchedOutput collects a stream and, when line is set, closes seen once
// that line has appeared.
type watchedOutput struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  string
	seen  chan struct{}
	found bool
}

func newWatchedOutput(line string) *watchedOutput {
	w := &watchedOutput{seen: make(chan struct{})}
	if line != "" {
		w.line = line + "\n"
	}
	return w
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.line != "" && !w.found && strings.Contains(w.buf.String(), w.line) {
		w.found = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// blockedRun is `vsysbed run` of the sleeper guest, started in the
// background and blocked in nanosleep once ready is closed.
type blockedRun struct {
	cmd    *exec.Cmd
	stdout *watchedOutput
	stderr *watchedOutput
	exited chan struct{}
	status int
}

// startSleeper starts vsysbed on the sleeper guest and waits for its
// "ready". Whatever happens, the processes are gone when the spec ends.
func startSleeper(reportPath string) *blockedRun {
	GinkgoHelper()
	return startSleeperWith([]string{"--report", reportPath})
}

// startSleeperWith is startSleeper with the run's flags.
func startSleeperWith(flags []string) *blockedRun {
	GinkgoHelper()
	argv := vsysbedArgv(flags, filepath.Join(guestDir, "sleeper"))
	b := newBlockedRun(argv, "ready")
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	b.start()

	select {
	case <-b.stdout.seen:
	case <-b.exited:
		Fail(fmt.Sprintf("vsysbed ended before the sleeper was ready\n%s", b.result()))
	case <-time.After(readyTimeout):
		Fail(fmt.Sprintf("the sleeper printed no \"ready\" within %s\n%s", readyTimeout, b.result()))
	}
	return b
}

// newBlockedRun prepares argv to run in the background; ready is the
// stdout line to watch for ("" for none).
func newBlockedRun(argv []string, ready string) *blockedRun {
	return &blockedRun{
		cmd:    exec.Command(argv[0], argv[1:]...),
		stdout: newWatchedOutput(ready),
		stderr: newWatchedOutput(""),
		exited: make(chan struct{}),
	}
}

// start starts the run and collects its status in the background.
// Whatever happens, its processes are gone when the spec ends: the host's
// pid is known only later, so it is killed through the supervisor's
// children while the supervisor still has them.
func (b *blockedRun) start() {
	GinkgoHelper()
	Expect(b.cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		select {
		case <-b.exited:
			return
		default:
		}
		if kids, err := childrenOf(b.cmd.Process.Pid); err == nil {
			for _, pid := range kids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		b.cmd.Process.Kill()
		<-b.exited
	})
	go func() {
		status, ok := exitStatus(b.cmd.Wait())
		if !ok {
			status = -1
		}
		b.status = status
		close(b.exited)
	}()
}

// wait returns the run's result once vsysbed has exited, failing the spec
// if that takes longer than exitTimeout.
func (b *blockedRun) wait(after string) result {
	GinkgoHelper()
	select {
	case <-b.exited:
	case <-time.After(exitTimeout):
		Fail(fmt.Sprintf("vsysbed still runs %s after %s\n%s", exitTimeout, after, b.result()))
	}
	return b.result()
}

func (b *blockedRun) result() result {
	status := -1
	select {
	case <-b.exited:
		status = b.status
	default:
	}
	return result{Stdout: b.stdout.String(), Stderr: b.stderr.String(), Status: status}
}

// childrenOf lists pid's child processes from the children file of each
// of its threads (the kernel lists a child under the thread that forked
// it; the Go runtime may fork from any).
func childrenOf(pid int) ([]int, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, field := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(field)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a pid", f, field)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// hostOf is the host process of a run: the supervisor's only child, a
// re-exec of vsysbed as `__host`.
func hostOf(b *blockedRun) int {
	GinkgoHelper()
	kids, err := childrenOf(b.cmd.Process.Pid)
	Expect(err).NotTo(HaveOccurred())
	Expect(kids).To(HaveLen(1), "the supervisor should have exactly one child, the host process")
	// The host process shows the guest's command line (pidof and ps find
	// the guest): it is known by its executable, vsysbed's.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", kids[0]))
	Expect(err).NotTo(HaveOccurred())
	want, err := filepath.EvalSymlinks(vsysbedBin)
	Expect(err).NotTo(HaveOccurred())
	Expect(exe).To(Equal(want), "the supervisor's child is not the host process")
	return kids[0]
}

// sysClockNanosleep is what glibc's nanosleep() calls. Only this number
// identifies the guest's sleep: the Go runtime's own sleeps (sysmon's
// usleep) are nanosleep, on the host's other threads.
const sysClockNanosleep = 230

// waitAsleep waits until a thread of the host process is blocked in the
// sleeper's nanosleep: "ready" is printed before the sleep starts, and
// only once it blocks is the sleep certain to be counted.
func waitAsleep(b *blockedRun, host int) {
	GinkgoHelper()
	deadline := time.Now().Add(readyTimeout)
	for {
		files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", host))
		Expect(err).NotTo(HaveOccurred())
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue // the thread ended meanwhile
			}
			// "NR arg1 ... sp pc" while blocked, "running" otherwise.
			nr, err := strconv.Atoi(strings.Fields(string(data) + " x")[0])
			if err == nil && nr == sysClockNanosleep {
				return
			}
		}
		if time.Now().After(deadline) {
			Fail(fmt.Sprintf("no thread of the host process %d blocked in clock_nanosleep within %s\n%s",
				host, readyTimeout, b.result()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vsysbedLines are the lines vsysbed itself wrote to stderr.
func vsysbedLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "vsysbed:") {
			out = append(out, l)
		}
	}
	return out
}

// expectCountsBeforeDeath checks that the report kept what the sleeper did
// before it blocked: its write of "ready" and the sleep it is blocked in.
func expectCountsBeforeDeath(r report) {
	GinkgoHelper()
	w, ok := syscallByName(r, "write")
	Expect(ok).To(BeTrue(), "the report lost the write of \"ready\"; syscalls: %+v", r.Syscalls)
	Expect(w.Bypass + w.Trap + w.Patched).To(BeNumerically(">=", 1))
	var sleeps int64
	for _, name := range []string{"nanosleep", "clock_nanosleep"} {
		if s, ok := syscallByName(r, name); ok {
			sleeps += s.Bypass + s.Trap + s.Patched
		}
	}
	Expect(sleeps).To(BeNumerically(">=", 1), "the report lost the sleep; syscalls: %+v", r.Syscalls)
}

var _ = Describe("the supervisor, with a guest blocked in nanosleep", func() {
	It("reports an incomplete run when the host process is killed by SIGKILL", func() {
		reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
		b := startSleeper(reportPath)
		host := hostOf(b)
		waitAsleep(b, host)
		Expect(syscall.Kill(host, syscall.SIGKILL)).To(Succeed())
		got := b.wait("SIGKILL of the host process")

		Expect(got.Status).To(Equal(128+9), "%s", got)
		Expect(got.Stdout).To(Equal("ready\n"))
		expectNoPanic(got)

		r := loadReport(reportPath)
		Expect(r.Schema).To(Equal(reportSchema))
		Expect(r.Complete).To(BeFalse(), "the guest's exit was never recorded")
		Expect(r.IncompleteReason).NotTo(BeEmpty())
		Expect(r.Host.Signal).To(Equal("SIGKILL"))
		expectCountsBeforeDeath(r)

		lines := vsysbedLines(got.Stderr)
		Expect(lines).To(HaveLen(1), "want exactly one vsysbed: line:\n%s", got)
		Expect(lines[0]).To(ContainSubstring("SIGKILL"))
		// The guest did not die: the host process under it was killed.
		Expect(lines[0]).To(MatchRegexp(`(?i)host( process)? .*killed|killed .*host`),
			"the line should say the host process was killed")
	})

	DescribeTable("forwards a signal sent to vsysbed to the host process",
		func(sig syscall.Signal) {
			reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
			b := startSleeper(reportPath)
			waitAsleep(b, hostOf(b))
			Expect(b.cmd.Process.Signal(sig)).To(Succeed())
			got := b.wait(coverageSignal(sig) + " to vsysbed")

			Expect(got.Status).To(Equal(128+int(sig)), "%s", got)
			Expect(got.Stdout).To(Equal("ready\n"))
			expectNoPanic(got)
			Expect(len(vsysbedLines(got.Stderr))).To(BeNumerically("<=", 1), "%s", got)

			r := loadReport(reportPath)
			Expect(r.Schema).To(Equal(reportSchema))
			// The host died by the very signal: it was forwarded, not
			// replaced by a kill of vsysbed's own.
			Expect(r.Host.Signal).To(Equal(coverageSignal(sig)), "host process status in the report")
			expectCountsBeforeDeath(r)
		},
		Entry("SIGTERM", syscall.SIGTERM),
		Entry("SIGINT", syscall.SIGINT),
	)
})

// coverageSignal spells sig as the report does.
func coverageSignal(sig syscall.Signal) string { return signalName(int(sig)) }
