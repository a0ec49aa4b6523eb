package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls"
)

// Every guest thread has a control block, a shard file of tls.Size bytes
// mapped shared. A thread that exits hands its block to the process's next
// new thread, counts and all, so a process that starts a thread per task
// keeps as many shards as it had threads alive at once, and the report
// still has every call.

var runDirLine = regexp.MustCompile(`vsysbed: run directory (\S+)`)

// runDirOf is the run directory `vsysbed run --keep-rundir` announced on
// stderr; the spec removes it at its end.
func runDirOf(stderr string) string {
	GinkgoHelper()
	m := runDirLine.FindStringSubmatch(stderr)
	Expect(m).NotTo(BeNil(), "--keep-rundir printed no run directory:\n%s", clip(stderr))
	DeferCleanup(os.RemoveAll, m[1])
	return m[1]
}

// shardFiles counts the shard files in run directory dir and their bytes.
func shardFiles(dir string) (files int, size int64) {
	GinkgoHelper()
	paths, err := filepath.Glob(filepath.Join(dir, rundir.ShardPattern))
	Expect(err).NotTo(HaveOccurred())
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue // a host process may be creating or its dir going
		}
		size += st.Size()
	}
	return len(paths), size
}

// calls is a syscall's count in the report, all entry kinds.
func calls(r report, name string) int64 {
	for _, s := range r.Syscalls {
		if s.Name == name {
			return s.Bypass + s.Trap + s.VDSO + s.Int80 + s.Patched
		}
	}
	return 0
}

// straceCalls is strace -f -c's count of syscall name for a native run of
// argv: the kernel's own view, the oracle of the report's count.
func straceCalls(name string, argv ...string) int64 {
	GinkgoHelper()
	if !isExecutableFile("/usr/bin/strace") {
		Fail("/usr/bin/strace is not installed (apt-get install strace)")
	}
	out := filepath.Join(GinkgoT().TempDir(), "strace.txt")
	r := run(nil, append([]string{"/usr/bin/strace", "-f", "-c", "-e", "trace=" + name, "-o", out}, argv...)...)
	Expect(r.Status).To(Equal(0), "strace:\n%s", r)
	data, err := os.ReadFile(out)
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		// % time, seconds, usecs/call, calls, [errors,] syscall
		if len(f) >= 5 && f[len(f)-1] == name {
			n, err := strconv.ParseInt(f[3], 10, 64)
			Expect(err).NotTo(HaveOccurred(), "strace line %q", line)
			return n
		}
	}
	Fail(fmt.Sprintf("strace counted no %s:\n%s", name, data))
	return 0
}

// manyThreadsSpec runs manythreads WIDTH natively and under `vsysbed run
// FLAGS --keep-rundir`, compares them, holds the report's counts to
// strace's and the run directory to the live threads' shards plus slack.
// leaderExits: main leaves with pthread_exit at once and a driver thread
// does the work (one thread more, alive with main for a moment).
func manyThreadsSpec(flags []string, guest string, width, slack int, leaderExits bool) {
	GinkgoHelper()
	argv := []string{filepath.Join(guestDir, guest), strconv.Itoa(width)}
	threads, live := 2001, width+1
	if leaderExits {
		argv = append(argv, "2000", "leader-exits")
		threads, live = 2002, width+2
	}
	native := run(nil, argv...)
	Expect(native.Status).To(Equal(0), "native run:\n%s", native)
	want := straceCalls("getppid", argv...)
	Expect(want).To(Equal(int64(3*2000+1)), "the guest's own arithmetic")

	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	flags = append(flags, "--report", reportPath, "--keep-rundir")
	got := runVsysbed(nil, flags, argv...)
	Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
	Expect(got.Stdout).To(Equal(native.Stdout))
	expectNoPanic(got)
	r := loadReport(reportPath)
	checkReport(r, argv, 0)
	Expect(calls(r, "getppid")).To(Equal(want), "getppid: the report against strace -f -c")
	Expect(calls(r, "exit")).To(Equal(int64(threads-1)), "one exit(2) per thread but the last")
	Expect(reportThreads(reportPath)).To(Equal(threads), "every thread counted, though shards are shared")

	// The exited threads' blocks serve the next round.
	files, size := shardFiles(runDirOf(got.Stderr))
	Expect(files).To(BeNumerically("<=", live+slack), "shard files for at most %d live threads", live)
	Expect(size).To(BeNumerically("<=", int64(live+slack)*tls.Size))
}

var _ = Describe("shards of exited threads", func() {
	guests := []string{"manythreads-glibc", "manythreads-musl"}
	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			for _, guest := range guests {
				for _, width := range []int{1, 8} {
					It(fmt.Sprintf("%s: 2,000 threads, %d at a time, leave a bounded run directory and every count", guest, width), func() {
						manyThreadsSpec([]string{"--trap", mode}, guest, width, 2, false)
					})
				}
				It(guest+": the leader's block serves later threads once it pthread_exit()s", func() {
					manyThreadsSpec([]string{"--trap", mode}, guest, 1, 2, true)
				})
			}

			It("python3 -m http.server, 2,000 requests from a native client: shards stay bounded while it runs", func() {
				httpServerSpec(mode)
			})

			It("python3 subprocess.run 100 times: the vfork children's blocks are reused in the parent", func() {
				const python = "/usr/bin/python3"
				if !isExecutableFile(python) {
					Skip(python + " is not installed")
				}
				// _posixsubprocess spawns with vfork: each child runs on a
				// thread of the parent until its exec, with a block of
				// the parent's.
				argv := []string{python, "-c", `import subprocess
n = sum(subprocess.run(["/bin/true"]).returncode == 0 for _ in range(100))
print(n, "children ran")`}
				native := run(nil, argv...)
				Expect(native.Status).To(Equal(0), "native run:\n%s", native)
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, append(reportFlags(mode, reportPath), "--keep-rundir"), argv...)
				Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
				Expect(got.Stdout).To(Equal(native.Stdout))
				expectNoPanic(got)
				checkReport(loadReport(reportPath), argv, 0)
				procs := loadProcesses(reportPath)
				Expect(procs).To(HaveLen(101), "python and its 100 children")

				// Each child host process has its own block; the parent
				// keeps its main thread's and one a vfork child at a time
				// uses (plus slack), not one per child.
				paths, err := filepath.Glob(filepath.Join(runDirOf(got.Stderr), rundir.ShardPattern))
				Expect(err).NotTo(HaveOccurred())
				parents := 0
				for _, p := range paths {
					sd, err := rundir.ReadShard(p)
					Expect(err).NotTo(HaveOccurred())
					if int(sd.Pid) == procs[0].PID {
						parents++
					}
				}
				Expect(parents).To(BeNumerically("<=", 4), "the parent's shards")
				Expect(len(paths)).To(BeNumerically("<=", 100+4), "shard files")
			})

			It("a SIGKILL of the host process at any moment leaves every count in the shards once", func() {
				for _, delay := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 1700 * time.Millisecond} {
					killedManyThreads(mode, delay)
				}
			})
		})
	}

	Context("with --platform=ptrace", func() {
		for _, guest := range guests {
			for _, width := range []int{1, 8} {
				// The tracer learns of a thread's end from wait, often
				// after the joiner's next thread made its first call:
				// a little more slack than in-process.
				It(fmt.Sprintf("%s: 2,000 threads, %d at a time, leave a bounded run directory and every count", guest, width), func() {
					manyThreadsSpec([]string{"--platform=ptrace"}, guest, width, 4, false)
				})
			}
		}
	})
})

// killedManyThreads starts manythreads (20,000 threads, one at a time:
// about 10 s under vsysbed here, 1.7 s natively) and SIGKILLs its host
// process after delay, while blocks are being handed from thread to
// thread. Whatever the moment, the report the supervisor builds from the
// shards has 3 getppid per exited thread, 0 to 3 of the thread in flight
// and main's one: a block counted twice, or a count lost in a reset,
// breaks that.
func killedManyThreads(mode string, delay time.Duration) {
	GinkgoHelper()
	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	argv := vsysbedArgv([]string{"--trap", mode, "--report", reportPath, "--keep-rundir"},
		filepath.Join(guestDir, "manythreads-glibc"), "1", "20000")
	b := newBlockedRun(argv, "")
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	b.start()
	Eventually(func() ([]int, error) { return childrenOf(b.cmd.Process.Pid) }).
		WithTimeout(readyTimeout).Should(HaveLen(1), "no host process\n%s", b.result())
	host := hostOf(b)
	time.Sleep(delay)
	Expect(syscall.Kill(host, syscall.SIGKILL)).To(Succeed())
	got := b.wait("SIGKILL of the host process")
	Expect(got.Status).To(Equal(128+9), "killed after %s: the guest must still have been running\n%s", delay, got)
	expectNoPanic(got)

	r := loadReport(reportPath)
	Expect(r.Complete).To(BeFalse())
	Expect(r.Host.Signal).To(Equal("SIGKILL"))
	getppid, exits := calls(r, "getppid"), calls(r, "exit")
	Expect(exits).To(BeNumerically(">", 0), "killed after %s: no thread had exited yet", delay)
	Expect(getppid-1-3*exits).To(And(BeNumerically(">=", 0), BeNumerically("<=", 3)),
		"killed after %s: %d getppid for %d exited threads", delay, getppid, exits)
	threads := int64(reportThreads(reportPath))
	Expect(threads-1-exits).To(And(BeNumerically(">=", 0), BeNumerically("<=", 1)),
		"killed after %s: %d threads for %d exits", delay, threads, exits)
	files, _ := shardFiles(runDirOf(got.Stderr))
	Expect(files).To(BeNumerically("<=", 4))
}

// httpServerSpec runs Debian's python3 http.server (ThreadingHTTPServer:
// one thread per request) natively and under vsysbed, sends each 2,000
// sequential requests from this (native) process, ends each with SIGINT
// and compares them; under vsysbed it watches the run directory and the
// host process's mappings stay bounded while it serves.
func httpServerSpec(mode string) {
	const python = "/usr/bin/python3"
	if !isExecutableFile(python) {
		Skip(python + " is not installed")
	}
	const requests = 2000
	// ThreadingHTTPServer: main + the request threads still finishing
	// (natively at most 2 at once with a sequential client); a shard per
	// request would be 2,000.
	const maxShards = 10
	dir := GinkgoT().TempDir()
	body := "hello from the shard spec\n"
	Expect(os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644)).To(Succeed())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	type served struct {
		argv     []string // the server's command line
		res      result
		requests int // every request the server answered, probes included
		rundir   string
		maxFiles int
		maxMaps  int
	}
	serve := func(argv []string, underVsysbed bool) served {
		GinkgoHelper()
		port := freePort()
		var s served
		s.argv = []string{python, "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, port}
		argv = append(argv, s.argv...)
		ctx, cancel := context.WithTimeout(context.Background(), 2*runTimeout)
		defer cancel()
		g := startGroup(ctx, argv)
		cmd, done := g.cmd, g.done
		defer func() {
			select {
			case err := <-done:
				done <- err
			default:
				g.killGroup()
				<-done
			}
		}()
		output := func() string {
			return fmt.Sprintf("--- stdout ---\n%s--- stderr ---\n%s", clip(g.stdout.String()), clip(g.stderr.String()))
		}
		get := func() error {
			resp, err := client.Get("http://127.0.0.1:" + port + "/")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			s.requests++
			if resp.StatusCode != 200 || string(b) != body {
				return fmt.Errorf("status %d, body %q", resp.StatusCode, b)
			}
			return nil
		}
		Eventually(func() error {
			select {
			case err := <-done:
				done <- err
				StopTrying(fmt.Sprintf("the server exited early (%v)\n%s", err, output())).Now()
			default:
			}
			return get()
		}).WithTimeout(20*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "the server never answered\n%s", output())

		// The host process: the supervisor's child.
		hostPID := 0
		if underVsysbed {
			s.rundir = runDirOf(g.stderr.String())
			children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
			Expect(err).NotTo(HaveOccurred())
			hostPID, err = strconv.Atoi(strings.Fields(string(children))[0])
			Expect(err).NotTo(HaveOccurred(), "children of vsysbed: %q", children)
		}
		for i := 0; i < requests; i++ {
			Expect(get()).To(Succeed(), "request %d\n%s", i, output())
			if underVsysbed && i%50 == 0 {
				files, _ := shardFiles(s.rundir)
				s.maxFiles = max(s.maxFiles, files)
				maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", hostPID))
				Expect(err).NotTo(HaveOccurred())
				s.maxMaps = max(s.maxMaps, strings.Count(string(maps), "/shard-"))
			}
		}
		Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		var err error
		Eventually(done).WithTimeout(20*time.Second).Should(Receive(&err), "no exit after SIGINT\n%s", output())
		done <- err
		status, ok := exitStatus(err)
		Expect(ok).To(BeTrue(), "%v", err)
		s.res = result{Stdout: g.stdout.String(), Stderr: g.stderr.String(), Status: status}
		return s
	}

	native := serve(nil, false)
	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	got := serve(vsysbedArgv(append(reportFlags(mode, reportPath), "--keep-rundir")), true)
	// The banner names the port, which differs: compare the rest.
	port := regexp.MustCompile(`\b\d{4,5}\b`)
	Expect(got.res.Status).To(Equal(native.res.Status), "native:\n%s\nvsysbed:\n%s", native.res, got.res)
	Expect(port.ReplaceAllString(got.res.Stdout, "PORT")).To(Equal(port.ReplaceAllString(native.res.Stdout, "PORT")))
	expectNoPanic(got.res)

	Expect(got.maxFiles).To(BeNumerically("<=", maxShards), "shard files while serving %d requests", requests)
	Expect(got.maxMaps).To(BeNumerically("<=", maxShards), "shard mappings in the host process while serving")
	files, size := shardFiles(got.rundir)
	Expect(files).To(BeNumerically("<=", maxShards), "shard files at the end")
	Expect(size).To(BeNumerically("<=", int64(maxShards)*tls.Size))

	r := loadReport(reportPath)
	checkReport(r, got.argv, native.res.Status)
	// One connection accepted, one thread started per request.
	Expect(calls(r, "accept4")).To(Equal(int64(got.requests)), "accept4 per request")
	Expect(reportThreads(reportPath)).To(Equal(got.requests+1), "a thread per request and main")
}
