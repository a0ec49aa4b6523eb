package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Issue 16: a host process that has forked twice keeps a spare host
// process started ahead of its next fork (platform/inprocess/pool.go).
// The spare is none of the guest's: waits for any child do not see it, a
// child it serves is a freshly forked one, and it never outlives the run.

// spares are the idle spare host processes among pids: re-execs of vsysbed
// with --spare in a process group of their own.
func spares(pids []int) []int {
	var out []int
	for _, p := range pids {
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err == nil && bytes.Contains(cmd, []byte("\x00--spare\x00")) && isVsysbed(p) {
			out = append(out, p)
		}
	}
	return out
}

var _ = Describe("spare host processes for forks", func() {
	for _, mode := range trapModes {
		It(fmt.Sprintf("are no children of the guest's: waits for any child, and the children they serve (--trap %s)", mode), func() {
			report := filepath.Join(GinkgoT().TempDir(), "R.json")
			argv := []string{filepath.Join(guestDir, "waitany")}
			native := run(nil, argv...)
			Expect(native.Status).To(Equal(0), "%s", native)
			Expect(native.Stdout).To(ContainSubstring("wait: No child processes\n"))
			got := runVsysbed(nil, reportFlags(mode, report), argv...)
			expectNoPanic(got)
			Expect(got).To(Equal(native), "native:\n%s\nvsysbed:\n%s", native, got)
			// The guest's processes only: itself, 4+1+1 forks, a vfork and a
			// posix_spawn child, each with its exit.
			procs := loadProcesses(report)
			Expect(procs).To(HaveLen(9), "%+v", procs)
			for _, p := range procs {
				Expect(p.Exit).NotTo(BeNil(), "%+v", p)
			}
		})
	}

	// What may change between a spare's start and the fork it serves is
	// given to it at hand-off: each subshell here (a fork) is served by the
	// spare started while the sleep before it ran, before the shell
	// changed its cwd, umask or limit.
	for _, mode := range trapModes {
		It(fmt.Sprintf("serve children with the cwd, umask, limits and process group their parent has now (--trap %s)", mode), func() {
			script := `/bin/true; /bin/true; sleep 0.2
cd /; (pwd -P); sleep 0.2
umask 027; (umask); sleep 0.2
ulimit -s 4096; (ulimit -s); sleep 0.2
[ "$(ps -o pgid= $$)" = "$(sh -c 'ps -o pgid= $$')" ] && echo same group
(sleep 0.1; echo subshell) & wait; echo $?`
			got := sameAsNative(mode, nil, "/bin/sh", "-c", script)
			Expect(got.Stdout).To(Equal("/\n0027\n4096\nsame group\nsubshell\n0\n"))
		})
	}

	It("keep one once a process forked twice, and none outlives a SIGKILL of the supervisor", func() {
		tmp := GinkgoT().TempDir()
		// exec, not a fourth fork: the spare a fork takes looks like one
		// until its guest has exec'd, beside the next spare.
		t := startTree(tmp, vsysbedArgv(nil, "sh", "-c", "/bin/true; /bin/true; /bin/true; echo ready; exec sleep 30"), "ready")
		var pids []int
		Eventually(func() []int { pids = tree(t.cmd.Process.Pid); return spares(pids) }).
			WithTimeout(readyTimeout).WithPolling(20*time.Millisecond).Should(HaveLen(1), "sh's host process has no spare")
		Consistently(func() []int { return spares(tree(t.cmd.Process.Pid)) }).
			WithTimeout(300*time.Millisecond).WithPolling(50*time.Millisecond).Should(HaveLen(1), "more than one spare")
		pids = tree(t.cmd.Process.Pid)
		Expect(t.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		t.wait("SIGKILL of vsysbed")
		expectNoneLeft(pids)
	})

	It("are not started for a run that never forks", func() {
		tmp := GinkgoT().TempDir()
		t := startTree(tmp, vsysbedArgv(nil, filepath.Join(guestDir, "sleeper")), "ready")
		Consistently(func() []int { return spares(tree(t.cmd.Process.Pid)) }).
			WithTimeout(500 * time.Millisecond).WithPolling(50 * time.Millisecond).Should(BeEmpty())
		pids := tree(t.cmd.Process.Pid)
		Expect(t.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		t.wait("SIGKILL of vsysbed")
		expectNoneLeft(pids)
	})
})
