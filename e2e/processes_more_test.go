package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// reportProcess is one entry of the report's processes section.
type reportProcess struct {
	PID    int         `json:"pid"`
	Parent int         `json:"parent"`
	Images []string    `json:"images"`
	Exit   *reportExit `json:"exit"`
}

// loadProcesses reads the processes section of the report at path.
func loadProcesses(path string) []reportProcess {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred(), "vsysbed wrote no report at %s", path)
	var r struct {
		Processes []reportProcess `json:"processes"`
	}
	Expect(json.Unmarshal(data, &r)).To(Succeed(), "report %s is not valid JSON", path)
	return r.Processes
}

// checkProcessTree applies the invariants of a report's process tree: one
// entry per pid, each parent seen before its child (the first process's
// parent is 0: vsysbed started it), the first process ran program first,
// and the report's exit is the first process's.
func checkProcessTree(r report, procs []reportProcess, program string) {
	GinkgoHelper()
	Expect(procs).NotTo(BeEmpty(), "report has no processes")
	Expect(procs[0].Parent).To(Equal(0), "the first process's parent: %+v", procs)
	seen := map[int]bool{}
	for i, p := range procs {
		Expect(p.PID).To(BeNumerically(">", 0), "process %d: %+v", i, p)
		Expect(seen).NotTo(HaveKey(p.PID), "pid %d listed twice: %+v", p.PID, procs)
		if i > 0 && p.Parent != 0 {
			Expect(seen).To(HaveKey(p.Parent), "process %d's parent %d is not listed before it: %+v", p.PID, p.Parent, procs)
		}
		seen[p.PID] = true
	}
	Expect(procs[0].Images).NotTo(BeEmpty(), "the first process ran no image: %+v", procs[0])
	Expect(sameFile(procs[0].Images[0], program)).To(BeTrue(),
		"the first process's first image is %q, not %q", procs[0].Images[0], program)
	Expect(procs[0].Exit).NotTo(BeNil(), "the first process's exit is not recorded: %+v", procs[0])
	Expect(*procs[0].Exit).To(Equal(r.Exit), "the report's exit must be the first process's")
}

// sameFile compares paths as files, so links and relative paths match.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// makefile has targets that depend on each other, recipes make runs
// directly (fork+exec) and through /bin/sh (&&, a pipe), and a directory
// target: make forks a child per recipe line and waits for each.
const makefile = `all: out/final.txt
	@echo all done

out:
	mkdir -p out

out/a.txt: | out
	echo alpha > $@

out/b.txt: out/a.txt
	cp $< $@ && echo beta >> $@

out/c.txt: out/a.txt
	printf 'gamma\ndelta\n' > $@

out/final.txt: out/b.txt out/c.txt
	cat $^ | tr a-z A-Z | sort > $@
	cat $@
	wc -l < $@
`

var _ = Describe("guest processes, more", func() {
	// runBoth runs argv natively and under vsysbed in mode, compares their
	// output and status, applies the report invariants and returns the
	// report's path. before, when not nil, runs ahead of each of the two.
	runBoth := func(mode string, before func(), argv ...string) string {
		GinkgoHelper()
		if before != nil {
			before()
		}
		native := run(nil, argv...)
		Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
		if before != nil {
			before()
		}
		reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
		Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
		Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
		expectNoPanic(got)
		checkReport(loadReport(reportPath), argv, native.Status)
		return reportPath
	}

	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			It("make -C DIR with several recipes, and the report's process tree", func() {
				dir := GinkgoT().TempDir()
				Expect(os.WriteFile(filepath.Join(dir, "Makefile"), []byte(makefile), 0o644)).To(Succeed())
				clean := func() { Expect(os.RemoveAll(filepath.Join(dir, "out"))).To(Succeed()) }
				reportPath := runBoth(mode, clean, "/usr/bin/make", "-C", dir)
				final, err := os.ReadFile(filepath.Join(dir, "out", "final.txt"))
				Expect(err).NotTo(HaveOccurred())
				Expect(string(final)).To(Equal("ALPHA\nBETA\nDELTA\nGAMMA\n"))

				r := loadReport(reportPath)
				procs := loadProcesses(reportPath)
				checkProcessTree(r, procs, "/usr/bin/make")
				// make starts one child per recipe line at least (8 lines).
				Expect(len(procs)).To(BeNumerically(">=", 9), "processes: %+v", procs)
				for _, p := range procs[1:] {
					Expect(p.Exit).NotTo(BeNil(), "a recipe's exit is not recorded: %+v", p)
					Expect(*p.Exit).To(Equal(reportExit{}), "every recipe succeeded: %+v", p)
				}
			})

			It("python3 multiprocessing with a pool of 4", func() {
				script := filepath.Join(GinkgoT().TempDir(), "pool.py")
				Expect(os.WriteFile(script, []byte(
					"import multiprocessing as m\n"+
						"print(sorted(m.Pool(4).map(abs, range(-8, 8))))\n"), 0o644)).To(Succeed())
				reportPath := runBoth(mode, nil, "/usr/bin/python3", script)
				procs := loadProcesses(reportPath)
				checkProcessTree(loadReport(reportPath), procs, "/usr/bin/python3")
				Expect(len(procs)).To(BeNumerically(">=", 5), "the pool's 4 workers: %+v", procs)
			})

			It("forks while other threads run", func() {
				reportPath := runBoth(mode, nil, filepath.Join(guestDir, "forkthreads"))
				procs := loadProcesses(reportPath)
				checkProcessTree(loadReport(reportPath), procs, filepath.Join(guestDir, "forkthreads"))
				Expect(procs).To(HaveLen(5), "forkthreads forks 4 children: %+v", procs)
			})

			It("1 MiB each way through pipes between parent and child", func() {
				reportPath := runBoth(mode, nil, filepath.Join(guestDir, "forkpipe"))
				procs := loadProcesses(reportPath)
				checkProcessTree(loadReport(reportPath), procs, filepath.Join(guestDir, "forkpipe"))
				Expect(procs).To(HaveLen(2), "forkpipe forks once: %+v", procs)
			})

			// vfork copies nothing: the child runs in its parent's memory on a
			// thread with its own fd table and cwd, and its process (pid,
			// session, group) is the child host process it execs in.
			It("a vfork child's fds, cwd, umask, mask, dispositions, session and group are its own", func() {
				guest := filepath.Join(guestDir, "vforkstate")
				reportPath := runBoth(mode, nil, guest)
				got := string(run(nil, guest).Stdout)
				// What the child changed, the exec'd program sees; the
				// parent keeps its own.
				Expect(got).To(ContainSubstring("child: cwd=/ fds=0,1,2,9, blocked=USR2,TERM, USR1=ign HUP=dfl umask=077 core=4096"))
				Expect(strings.Count(got, "fds=0,1,2,3, blocked= USR1=dfl HUP=dfl umask=022 core=unchanged")).To(Equal(3), got)
				Expect(got).To(ContainSubstring("failed execve in the child: errno=ENOENT, then exit=3"))
				Expect(got).To(ContainSubstring("spawned: sid==pid yes, pgid==pid yes\nPOSIX_SPAWN_SETSID: exit=0"))
				Expect(got).To(ContainSubstring("spawned: sid==pid no, pgid==pid yes\nPOSIX_SPAWN_SETPGROUP: exit=0"))
				// Shared, not copied: the parent sees the clone(CLONE_VM)
				// child's counter move while the child runs.
				Expect(got).To(ContainSubstring("counts in our memory while it runs: yes, exit=0"))
				Expect(got).To(HaveSuffix("vfork child that faults: Segmentation fault\n"))

				procs := loadProcesses(reportPath)
				checkProcessTree(loadReport(reportPath), procs, guest)
				// 2 state checks, identity, failed exec, 2 spawns, the
				// counter, the faulting child.
				Expect(procs).To(HaveLen(9), "processes: %+v", procs)
				for _, p := range procs[1:] {
					Expect(p.Parent).To(Equal(procs[0].PID), "every child is the first process's: %+v", procs)
					Expect(p.Exit).NotTo(BeNil(), "a child's exit is not recorded: %+v", p)
				}
			})

			It("redis-server answers redis-benchmark and completes a BGSAVE", func() {
				redisSpec(mode)
			})
		})
	}
})

// redisSpec runs Debian's redis-server under vsysbed, drives it with the
// native redis-benchmark and redis-cli, has it fork for a BGSAVE, and shuts
// it down.
func redisSpec(mode string) {
	for _, tool := range []string{"/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/redis-benchmark"} {
		if !isExecutableFile(tool) {
			Skip(tool + " is not installed (apt-get install redis-server redis-tools)")
		}
	}
	port := freePort()
	dir := GinkgoT().TempDir()
	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	argv := []string{"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port,
		"--dir", dir, "--save", "", "--daemonize", "no", "--appendonly", "no"}

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	full := vsysbedArgv(reportFlags(mode, reportPath), argv...)
	server := startGroup(ctx, full)
	done := server.done
	serverOutput := func() string {
		return fmt.Sprintf("--- server stdout ---\n%s--- server stderr ---\n%s", clip(server.stdout.String()), clip(server.stderr.String()))
	}
	// Whatever fails below, the server must not outlive the spec.
	defer func() {
		select {
		case <-done:
		default:
			server.killGroup()
			<-done
		}
	}()

	cli := func(args ...string) string {
		GinkgoHelper()
		out := run(nil, append([]string{"/usr/bin/redis-cli", "-p", port}, args...)...)
		return strings.ReplaceAll(out.Stdout, "\r", "")
	}
	Eventually(func() string {
		select {
		case err := <-done:
			done <- err
			StopTrying(fmt.Sprintf("redis-server under vsysbed exited early (%v)\n%s", err, serverOutput())).Now()
		default:
		}
		return strings.TrimSpace(cli("ping"))
	}).WithTimeout(20*time.Second).WithPolling(200*time.Millisecond).Should(Equal("PONG"), "redis-server never answered\n%s", serverOutput())

	bench := run(nil, "/usr/bin/redis-benchmark", "-p", port, "-q", "-n", "20000", "-t", "set,get")
	Expect(bench.Status).To(Equal(0), "redis-benchmark:\n%s\n%s", bench, serverOutput())
	for _, cmd := range []string{"SET", "GET"} {
		Expect(bench.Stdout).To(MatchRegexp(`(?m)%s: [0-9.]+ requests per second`, cmd), "redis-benchmark:\n%s", bench)
	}

	Expect(cli("bgsave")).To(ContainSubstring("Background saving started"))
	Eventually(func() string {
		info := cli("info", "persistence")
		if strings.Contains(info, "rdb_bgsave_in_progress:0") && strings.Contains(info, "rdb_last_bgsave_status:err") {
			StopTrying(fmt.Sprintf("BGSAVE failed\n%s\n%s", info, serverOutput())).Now()
		}
		return info
	}).
		WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).
		Should(And(ContainSubstring("rdb_bgsave_in_progress:0"), ContainSubstring("rdb_last_bgsave_status:ok")),
			"BGSAVE did not finish\n%s", serverOutput())
	rdb, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
	Expect(err).NotTo(HaveOccurred(), "BGSAVE wrote no dump.rdb\n%s", serverOutput())
	Expect(string(rdb)).To(HavePrefix("REDIS"), "dump.rdb is no RDB file")

	cli("shutdown", "nosave")
	var waitErr error
	Eventually(done).WithTimeout(10*time.Second).Should(Receive(&waitErr), "vsysbed did not exit after SHUTDOWN\n%s", serverOutput())
	done <- waitErr // for the deferred cleanup
	status, ok := exitStatus(waitErr)
	Expect(ok).To(BeTrue(), "vsysbed: %v", waitErr)
	Expect(status).To(Equal(0), "vsysbed's status after SHUTDOWN NOSAVE\n%s", serverOutput())
	Expect(server.stderr.String()).NotTo(ContainSubstring("panic:"), serverOutput())

	r := loadReport(reportPath)
	checkReport(r, argv, 0)
	procs := loadProcesses(reportPath)
	checkProcessTree(r, procs, "/usr/bin/redis-server")
	Expect(len(procs)).To(BeNumerically(">=", 2), "the BGSAVE child is missing: %+v", procs)
	Expect(procs[1].Parent).To(Equal(procs[0].PID), "the BGSAVE child's parent: %+v", procs)
	Expect(procs[1].Exit).NotTo(BeNil(), "the BGSAVE child's exit: %+v", procs)
	Expect(*procs[1].Exit).To(Equal(reportExit{}), "the BGSAVE child's exit: %+v", procs)
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	port := l.Addr().(*net.TCPAddr).Port
	Expect(l.Close()).To(Succeed())
	return strconv.Itoa(port)
}
