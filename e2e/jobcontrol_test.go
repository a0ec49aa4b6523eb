package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// stopName is strsignal's name of a stop signal, as jobctl prints it.
func stopName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTSTP:
		return "Stopped\n"
	case syscall.SIGTTIN:
		return "Stopped (tty input)\n"
	case syscall.SIGTTOU:
		return "Stopped (tty output)\n"
	}
	return "Stopped (signal)\n"
}

// Issue 12: job control as a shell sees it, compared with native in both
// trap modes (guest jobctl).
var _ = Describe("job control", func() {
	var tmp string
	BeforeEach(func() { tmp = GinkgoT().TempDir() })
	jobctl := func(args ...string) []string {
		return append([]string{filepath.Join(guestDir, "jobctl")}, args...)
	}
	// A shell sees a job stopped by the signal that stopped it: vsysbed
	// stops itself by the guest's (in-process: the host's stop by it;
	// ptrace: the tracee's group stop by it).
	for _, flags := range [][]string{{"--trap", "seccomp"}, {"--trap", "sud"}, {"--platform=ptrace"}} {
		for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
			It(fmt.Sprintf("a parent's waitpid sees vsysbed %v stopped by %v, as natively", flags, sig), func() {
				inner := jobctl("sleep", "1000")
				outer := func(argv ...string) []string {
					return append([]string{filepath.Join(guestDir, "jobctl"), "waitcmd", strconv.Itoa(int(sig))}, argv...)
				}
				want := startTree(tmp, outer(inner...), "").wait("the stop of the job")
				Expect(want.Stdout).To(ContainSubstring("stopped by "+stopName(sig)), "native: %s", want)
				got := startTree(tmp, outer(append(append([]string{vsysbedBin, "run"}, flags...), append([]string{"--report", filepath.Join(tmp, "r.json"), "--"}, inner...)...)...), "").wait("the stop of vsysbed")
				Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
				Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
			})
		}
	}

	// A shell moves each job into a group of its own from the parent and
	// the child both; the parent's setpgid works until the child's
	// execve. A host process is a re-exec, which the host kernel takes for
	// that execve (kernelsim/setpgid.go).
	for _, flags := range [][]string{{"--trap", "seccomp"}, {"--trap", "sud"}, {"--platform=ptrace"}} {
		It(fmt.Sprintf("a parent's setpgid of its child works until the child's execve, %v, as natively", flags), func() {
			argv := jobctl("setpgid")
			want := run(nil, argv...)
			Expect(want.Stdout).To(ContainSubstring("setpgid(child, child) = 0, its group is its own: 1"), "native: %s", want)
			got := run(nil, vsysbedArgv(append(flags, "--report", filepath.Join(tmp, "r.json")), argv...)...)
			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
		})
	}

	for _, mode := range trapModes {
		vs := func(argv []string) []string { return vsysbedArgv([]string{"--trap", mode}, argv...) }

		It(fmt.Sprintf("a parent's waitpid(WUNTRACED) reports a child's stop by its own signal, --trap %s, as natively", mode), func() {
			argv := jobctl("waitstop")
			want := startTree(tmp, argv, "").wait("waitstop")
			Expect(want.Status).To(Equal(0), "native: %s", want)
			Expect(want.Stdout).To(ContainSubstring("Stopped: stopped by Stopped\n"), "native: %s", want)
			got := startTree(tmp, vs(argv), "").wait("waitstop")
			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
		})

		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGCONT, syscall.SIGTSTP} {
			It(fmt.Sprintf("kill -%d -PGID runs the guest's handler once, --trap %s, as natively", sig, mode), func() {
				argv := jobctl("count", strconv.Itoa(int(sig)))
				group := func(argv []string) result {
					t := startTree(tmp, argv, "ready")
					time.Sleep(200 * time.Millisecond)
					Expect(syscall.Kill(-t.cmd.Process.Pid, sig)).To(Succeed())
					return t.wait("the signal to the group")
				}
				want := group(argv)
				Expect(want.Stdout).To(ContainSubstring("handled 1 time(s)"), "native: %s", want)
				got := group(vs(argv))
				Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
				Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
			})
		}

		It(fmt.Sprintf("SIGTSTP, SIGTTIN and SIGTTOU do not stop a process of an orphaned process group, --trap %s, as natively", mode), func() {
			// setsid: the group's only parent outside it is in another
			// session (the supervisor stands for the program).
			orphaned := func(argv []string) result {
				b := newBlockedRun(argv, "")
				b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
				b.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
				b.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				b.start()
				DeferCleanup(func() { syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) })
				return b.wait("the stop signals")
			}
			want := orphaned(jobctl("orphan"))
			Expect(want.Status).To(Equal(0), "native: %s", want)
			got := orphaned(vs(jobctl("orphan")))
			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
		})

		It(fmt.Sprintf("kill -STOP then kill -CONT of the guest's pid leave the run able to finish, --trap %s, as natively", mode), func() {
			argv := jobctl("sleep", "1500")
			stopCont := func(argv []string, guest func([]int) int) result {
				t := startTree(tmp, argv, "ready")
				var pids []int
				Eventually(func() int { pids = tree(t.cmd.Process.Pid); return guest(pids) }).
					WithTimeout(readyTimeout).Should(BeNumerically(">", 0))
				g := guest(pids)
				Expect(syscall.Kill(g, syscall.SIGSTOP)).To(Succeed())
				// The whole run stops (the supervisor mirrors the guest).
				Eventually(func() string { return procState(pids[0]) }).WithTimeout(5 * time.Second).
					WithPolling(20 * time.Millisecond).Should(Equal("T"))
				time.Sleep(200 * time.Millisecond)
				Expect(syscall.Kill(g, syscall.SIGCONT)).To(Succeed())
				return t.wait("the SIGCONT to the guest")
			}
			want := stopCont(argv, func(p []int) int { return p[0] })
			got := stopCont(vs(argv), func(p []int) int {
				if len(p) < 2 {
					return 0
				}
				return p[1]
			})
			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
		})
	}
})
