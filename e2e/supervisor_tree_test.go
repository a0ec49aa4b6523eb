package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Issue 12: the supervisor and the tree it runs. Every spec runs vsysbed
// with TMPDIR of its own, so "no run directory left behind" is an empty
// directory, and checks that no host process of the run outlives it.

// treeRun is one program started in a process group of its own (Ctrl-Z
// goes to a group), natively or under vsysbed, with TMPDIR set.
type treeRun struct {
	*blockedRun
	tmp string
}

// startTree starts argv with TMPDIR=tmp; ready is the stdout line to wait
// for ("" for none).
func startTree(tmp string, argv []string, ready string) *treeRun {
	GinkgoHelper()
	b := newBlockedRun(argv, ready)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	b.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.start()
	DeferCleanup(func() { syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) })
	if ready != "" {
		select {
		case <-b.stdout.seen:
		case <-b.exited:
			Fail(fmt.Sprintf("%q ended before printing %q\n%s", argv, ready, b.result()))
		case <-time.After(readyTimeout):
			Fail(fmt.Sprintf("%q printed no %q within %s\n%s", argv, ready, readyTimeout, b.result()))
		}
	}
	return &treeRun{blockedRun: b, tmp: tmp}
}

// tree is pid and its descendants, from the children files.
func tree(pid int) []int {
	out := []int{pid}
	kids, _ := childrenOf(pid)
	for _, k := range kids {
		out = append(out, tree(k)...)
	}
	return out
}

// waitTree waits until the run's tree has at least n processes and
// returns it.
func waitTree(t *treeRun, n int) []int {
	GinkgoHelper()
	var pids []int
	Eventually(func() int { pids = tree(t.cmd.Process.Pid); return len(pids) }).
		WithTimeout(readyTimeout).WithPolling(20*time.Millisecond).
		Should(BeNumerically(">=", n), "the run's tree never had %d processes", n)
	return pids
}

// procState is the state letter of /proc/PID/stat ("" when gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// isVsysbed tells whether pid is a live process of the vsysbed binary
// (a zombie's exe cannot be read).
func isVsysbed(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	want, err := filepath.EvalSymlinks(vsysbedBin)
	return err == nil && exe == want
}

// expectNoneLeft checks that none of pids (a run's tree, taken while it
// ran) is still a live vsysbed process, waiting a little for the kernel.
func expectNoneLeft(pids []int) {
	GinkgoHelper()
	left := func() []int {
		var out []int
		for _, p := range pids {
			if isVsysbed(p) {
				out = append(out, p)
			}
		}
		return out
	}
	Eventually(left).WithTimeout(5*time.Second).WithPolling(50*time.Millisecond).
		Should(BeEmpty(), "host processes of the run are still running")
}

// treeProcess is a report's process record with the field --wait=main sets.
type treeProcess struct {
	reportProcess
	Running bool `json:"running"`
}

func loadTreeProcesses(path string) []treeProcess {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred(), "vsysbed wrote no report at %s", path)
	var r struct {
		Processes []treeProcess `json:"processes"`
	}
	Expect(json.Unmarshal(data, &r)).To(Succeed(), "report %s is not valid JSON", path)
	return r.Processes
}

// runDirs are the run directories in tmp.
func runDirs(tmp string) []string {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "vsysbed-run-*"))
	return dirs
}

// vsysbedGC runs `vsysbed gc` with TMPDIR=tmp.
func vsysbedGC(tmp string) result {
	GinkgoHelper()
	return runEnv(append(os.Environ(), "TMPDIR="+tmp), nil, vsysbedBin, "gc")
}

var _ = Describe("the supervisor and the tree", func() {
	var tmp string
	BeforeEach(func() { tmp = GinkgoT().TempDir() })

	It("takes every host process with it when killed by SIGKILL; gc and the next run remove the run directory", func() {
		script := "sleep 30 & sleep 30; echo unreachable"
		for _, next := range []string{"gc", "run"} {
			t := startTree(tmp, vsysbedArgv(nil, "sh", "-c", script), "")
			// The supervisor, sh's host process and the two sleeps'.
			pids := waitTree(t, 4)
			Expect(t.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
			got := t.wait("SIGKILL of vsysbed")
			Expect(got.Status).To(Equal(128+9), "%s", got) // as a native kill -9 of sh
			expectNoneLeft(pids)
			Expect(runDirs(tmp)).To(HaveLen(1), "a killed supervisor cannot remove its run directory")
			if next == "gc" {
				gc := vsysbedGC(tmp)
				Expect(gc.Status).To(Equal(0), "%s", gc)
				Expect(gc.Stdout).To(ContainSubstring("removed "), "%s", gc)
			} else {
				r := runEnv(append(os.Environ(), "TMPDIR="+tmp), nil, vsysbedArgv([]string{"--report", filepath.Join(tmp, "R.json")}, "/bin/true")...)
				Expect(r.Status).To(Equal(0), "%s", r)
			}
			Expect(runDirs(tmp)).To(BeEmpty())
		}
	})

	DescribeTable("forwards a signal to the guest, whose default action decides, and writes the report",
		func(sig syscall.Signal, name string) {
			native := startTree(tmp, []string{filepath.Join(guestDir, "sleeper")}, "ready")
			Expect(native.cmd.Process.Signal(sig)).To(Succeed())
			want := native.wait("the signal")

			reportPath := filepath.Join(tmp, "R.json")
			t := startTree(tmp, vsysbedArgv([]string{"--report", reportPath}, filepath.Join(guestDir, "sleeper")), "ready")
			pids := tree(t.cmd.Process.Pid)
			waitAsleep(t.blockedRun, hostOf(t.blockedRun))
			Expect(t.cmd.Process.Signal(sig)).To(Succeed())
			got := t.wait("the signal to vsysbed")

			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout))
			expectNoPanic(got)
			Expect(len(vsysbedLines(got.Stderr))).To(BeNumerically("<=", 1), "%s", got)
			r := loadReport(reportPath)
			Expect(r.Schema).To(Equal(reportSchema))
			Expect(r.Complete).To(BeTrue(), "the guest's exit was recorded")
			Expect(r.Host.Signal).To(Equal(name))
			expectCountsBeforeDeath(r)
			expectNoneLeft(pids)
			Expect(runDirs(tmp)).To(BeEmpty())
		},
		Entry("SIGQUIT", syscall.SIGQUIT, "SIGQUIT"),
		Entry("SIGUSR1", syscall.SIGUSR1, "SIGUSR1"),
		Entry("SIGUSR2", syscall.SIGUSR2, "SIGUSR2"),
	)

	// stopAndContinue stops a run of `sh -c 'sleep 2; echo done'` with
	// SIGTSTP (to the group: Ctrl-Z; else to the first process alone),
	// returns the states of its tree while stopped, continues it and
	// returns its result.
	stopped := func(s string) bool { return s == "T" || s == "t" }
	stopAndContinue := func(argv []string, group bool, n int) (states map[int]string, pids []int, got result) {
		t := startTree(tmp, argv, "")
		// Once sleep runs, not in sh's vfork (a child stopped before its
		// exec holds sh in D state until the SIGCONT, natively too), and
		// not while a host process probes its children's layout.
		Eventually(func() bool {
			pids = tree(t.cmd.Process.Pid)
			if len(pids) != n {
				return false
			}
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pids[n-1]))
			return strings.TrimSpace(string(b)) == "sleep"
		}).WithTimeout(readyTimeout).WithPolling(20*time.Millisecond).Should(BeTrue(), "no sleep in the tree of %q", argv)
		time.Sleep(100 * time.Millisecond)
		send := func(sig syscall.Signal) {
			if group {
				Expect(syscall.Kill(-t.cmd.Process.Pid, sig)).To(Succeed())
			} else {
				Expect(t.cmd.Process.Signal(sig)).To(Succeed())
			}
		}
		send(syscall.SIGTSTP)
		// Until the first n-1 of the tree (the supervisor and the first
		// host process, or sh natively) are stopped, then once more for
		// the others.
		Eventually(func() []string {
			var out []string
			for _, p := range pids[:n-1] {
				if st := procState(p); !stopped(st) {
					out = append(out, fmt.Sprintf("%d:%s", p, st))
				}
			}
			return out
		}).WithTimeout(5*time.Second).WithPolling(20*time.Millisecond).Should(BeEmpty(), "%q: not stopped", argv)
		time.Sleep(300 * time.Millisecond)
		states = map[int]string{}
		for _, p := range pids {
			states[p] = procState(p)
		}
		send(syscall.SIGCONT)
		return states, pids, t.wait("SIGCONT")
	}

	DescribeTable("stops the whole run at SIGTSTP and resumes it at SIGCONT, as natively",
		func(flags []string, group bool) {
			script := []string{"sh", "-c", "sleep 2; echo done"}
			nstates, npids, want := stopAndContinue(script, group, 2) // sh, sleep
			Expect(want.Status).To(Equal(0), "%s", want)
			Expect(stopped(nstates[npids[0]])).To(BeTrue(), "native sh: %v", nstates)

			reportPath := filepath.Join(tmp, "R.json")
			// and the supervisor
			states, pids, got := stopAndContinue(vsysbedArgv(append(flags, "--report", reportPath), script...), group, 3)
			sup, host := pids[0], pids[1]
			Expect(stopped(states[sup])).To(BeTrue(), "the supervisor is not stopped: %v", states)
			Expect(stopped(states[host])).To(BeTrue(), "the first host process is not stopped: %v", states)
			if group && len(flags) == 0 {
				// Ctrl-Z reaches every process of the group, sleep too.
				for _, p := range pids {
					Expect(stopped(states[p])).To(BeTrue(), "process %d is not stopped: %v", p, states)
				}
			}
			Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
			Expect(got.Stdout).To(Equal(want.Stdout))
			Expect(vsysbedLines(got.Stderr)).To(BeEmpty(), "%s", got)
			r := loadReport(reportPath)
			Expect(r.Complete).To(BeTrue())
			Expect(r.Exit).To(Equal(reportExit{Code: 0}))
			expectNoneLeft(pids)
			Expect(runDirs(tmp)).To(BeEmpty())
		},
		Entry("SIGTSTP to vsysbed", nil, false),
		// The processes get a group's SIGTSTP directly; the supervisor
		// does not forward the terminal's, and a kill's forward and
		// direct copy are one (tracer/jobctl.go).
		Entry("Ctrl-Z: SIGTSTP to the process group", nil, true),
		Entry("SIGTSTP to vsysbed, ptrace platform", []string{"--platform=ptrace"}, false),
	)

	// A sleep that a SIGSTOP and SIGCONT land in: Linux restarts it
	// transparently, for what is left of it, unless a SIGCONT handler
	// runs (EINTR, SA_RESTART or not). The guest's process is stopped
	// (the host process under vsysbed: a SIGSTOP to the supervisor cannot
	// be forwarded) and the run continued as a shell's fg would.
	for _, mode := range trapModes {
		for _, call := range []string{"nanosleep", "clock", "abs"} {
			for _, flags := range []string{"-", "h", "hr"} {
				It(fmt.Sprintf("%s across a stop (%s), --trap %s, as natively", call, flags, mode), func() {
					argv := []string{filepath.Join(guestDir, "stopsleep"), call, flags}
					stopAndGo := func(argv []string, guest func([]int) int) result {
						t := startTree(tmp, argv, "ready")
						var pids []int
						Eventually(func() int {
							pids = tree(t.cmd.Process.Pid)
							return guest(pids)
						}).WithTimeout(readyTimeout).Should(BeNumerically(">", 0))
						time.Sleep(200 * time.Millisecond)
						Expect(syscall.Kill(guest(pids), syscall.SIGSTOP)).To(Succeed())
						time.Sleep(300 * time.Millisecond)
						Expect(t.cmd.Process.Signal(syscall.SIGCONT)).To(Succeed())
						return t.wait("the sleep's end")
					}
					want := stopAndGo(argv, func(p []int) int { return p[0] })
					Expect(want.Stdout).To(ContainSubstring("lengthened 0"), "native: %s", want)
					got := stopAndGo(vsysbedArgv([]string{"--trap", mode}, argv...), func(p []int) int {
						if len(p) < 2 {
							return 0
						}
						return p[1]
					})
					Expect(got.Status).To(Equal(want.Status), "native: %s\nvsysbed: %s", want, got)
					Expect(got.Stdout).To(Equal(want.Stdout), "native: %s\nvsysbed: %s", want, got)
				})
			}
		}
	}

	It("waits for background children by default and leaves them running with --wait=main", func() {
		script := "sleep 3 >/dev/null 2>&1 & echo started"
		native := run(nil, "sh", "-c", script)
		Expect(native.Status).To(Equal(0))

		// --wait=all, the default: the report covers the whole tree.
		allReport := filepath.Join(tmp, "all.json")
		start := time.Now()
		all := runEnv(append(os.Environ(), "TMPDIR="+tmp), nil, vsysbedArgv([]string{"--report", allReport}, "sh", "-c", script)...)
		Expect(time.Since(start)).To(BeNumerically(">=", 3*time.Second), "the default waits for the background sleep")
		Expect(all.Status).To(Equal(native.Status), "%s", all)
		Expect(all.Stdout).To(Equal(native.Stdout))
		for _, p := range loadTreeProcesses(allReport) {
			Expect(p.Running).To(BeFalse(), "%+v", p)
			Expect(p.Exit).NotTo(BeNil(), "%+v", p)
		}
		Expect(runDirs(tmp)).To(BeEmpty())

		mainReport := filepath.Join(tmp, "main.json")
		start = time.Now()
		t := startTree(tmp, vsysbedArgv([]string{"--wait=main", "--report", mainReport}, "sh", "-c", script), "started")
		got := t.wait("sh's exit")
		Expect(time.Since(start)).To(BeNumerically("<", 3*time.Second), "--wait=main waited for the background sleep")
		Expect(got.Status).To(Equal(native.Status), "%s", got)
		Expect(got.Stdout).To(Equal(native.Stdout))
		expectNoPanic(got)

		r := loadReport(mainReport)
		Expect(r.Schema).To(Equal(reportSchema))
		Expect(r.Exit).To(Equal(reportExit{Code: 0}))
		procs := loadTreeProcesses(mainReport)
		var running []treeProcess
		for _, p := range procs {
			if p.Running {
				running = append(running, p)
				Expect(p.Exit).To(BeNil(), "a running process has no exit: %+v", p)
			}
		}
		Expect(running).To(HaveLen(1), "the background sleep is marked running: %+v", procs)
		// It runs on, as natively, and ends normally.
		sleeper := running[0].PID
		Expect(isVsysbed(sleeper)).To(BeTrue(), "the background sleep's host process was killed")
		Eventually(func() bool { return isVsysbed(sleeper) }).WithTimeout(10 * time.Second).
			WithPolling(100 * time.Millisecond).Should(BeFalse())
		var pids []int
		for _, p := range procs {
			pids = append(pids, p.PID)
		}
		expectNoneLeft(pids)
		// Its run directory was its own until then; gc takes it now.
		Expect(runDirs(tmp)).To(HaveLen(1))
		Expect(vsysbedGC(tmp).Status).To(Equal(0))
		Expect(runDirs(tmp)).To(BeEmpty())
	})

	DescribeTable("a program whose entry point cannot be executed dies by SIGSEGV on every platform",
		func(entry func(*elf.File) uint64) {
			exe := badEntry(tmp, entry)
			want := run(nil, exe)
			Expect(want.Status).To(Equal(128+11), "%s", want)
			for _, flags := range [][]string{nil, {"--platform=ptrace"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				argv := vsysbedArgv(append(flags, "--report", filepath.Join(tmp, "R.json")), exe)
				cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				status, ok := exitStatus(cmd.Run())
				Expect(ctx.Err()).NotTo(HaveOccurred(), "%v hangs", flags)
				Expect(ok).To(BeTrue())
				Expect(status).To(Equal(want.Status), "%v: %s", flags, stderr.String())
				r := loadReport(filepath.Join(tmp, "R.json"))
				Expect(r.Exit.Signal).To(Equal("SIGSEGV"), "%v", flags)
				Expect(runDirs(tmp)).To(BeEmpty())
			}
		},
		Entry("in a segment without PF_X", func(f *elf.File) uint64 {
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X == 0 && p.Memsz > 0x20 {
					return p.Vaddr + 0x10
				}
			}
			return 0
		}),
		Entry("in no segment at all", func(*elf.File) uint64 { return 0x10000 }),
	)
})

// badEntry writes a copy of the static busybox whose e_entry is what
// entry picks, into dir.
func badEntry(dir string, entry func(*elf.File) uint64) string {
	GinkgoHelper()
	b, err := os.ReadFile("/bin/busybox")
	Expect(err).NotTo(HaveOccurred())
	f, err := elf.NewFile(bytes.NewReader(b))
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Type).To(Equal(elf.ET_EXEC), "/bin/busybox is not static non-PIE")
	e := entry(f)
	Expect(e).NotTo(BeZero())
	binary.LittleEndian.PutUint64(b[0x18:], e) // e_entry
	path := filepath.Join(dir, "bad-entry")
	Expect(os.WriteFile(path, b, 0o755)).To(Succeed())
	return path
}
