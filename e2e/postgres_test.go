package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Debian's PostgreSQL 15 under vsysbed: initdb, pg_ctl start, pgbench -i and
// a 10-second pgbench, each the way it runs natively — as the postgres user
// (the server refuses root), with System V shared memory (its interlock
// segment), a shared anonymous mapping forked into every backend, POSIX
// shared memory for parallel queries, signals between its processes.
// The native run of the same steps is the oracle.
const pgBin = "/usr/lib/postgresql/15/bin"

// pgSide runs the steps one way: natively, or under vsysbed in a trap mode.
type pgSide struct {
	mode    string // "" natively
	dir     string // writable by postgres: the cluster, the socket, TMPDIR, reports
	port    string
	vsysbed string // a copy in dir: postgres may not reach the build directory
	n       int    // reports written so far
}

func (s *pgSide) data() string { return filepath.Join(s.dir, "data") }

// argv is the command line of one step run as postgres, under vsysbed when
// the side has a mode (with a report of its own, whose path it returns).
func (s *pgSide) argv(prog string, args ...string) ([]string, string) {
	argv := append([]string{filepath.Join(pgBin, prog)}, args...)
	report := ""
	if s.mode != "" {
		s.n++
		report = filepath.Join(s.dir, fmt.Sprintf("R%d.json", s.n))
		argv = vsysbedArgv(reportFlags(s.mode, report), argv...)
		argv[0] = s.vsysbed
	}
	return asUser("postgres", s.dir, argv...), report
}

// step runs one step to its end and checks its report.
func (s *pgSide) step(prog string, args ...string) result {
	GinkgoHelper()
	argv, report := s.argv(prog, args...)
	got := run(nil, argv...)
	if report != "" {
		expectNoPanic(got)
		checkReport(loadReport(report), append([]string{filepath.Join(pgBin, prog)}, args...), got.Status)
	}
	return got
}

// psql asks the server natively (the tool is not under test).
func (s *pgSide) psql(query string) result {
	GinkgoHelper()
	return run(nil, asUser("postgres", s.dir, filepath.Join(pgBin, "psql"), "-X", "-h", s.data(), "-p", s.port, "-Atc", query, "postgres")...)
}

// start runs pg_ctl start. Natively it returns once the server is up;
// under vsysbed the run lasts as long as the processes it started (the
// supervisor waits for its whole tree), so it runs in the background until
// pg_ctl has said "server started", and wait collects its end after stop.
func (s *pgSide) start() (first result, wait func() result) {
	GinkgoHelper()
	opts := fmt.Sprintf("-k %s -p %s -c listen_addresses=''", s.data(), s.port)
	args := []string{"-D", s.data(), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"}
	if s.mode == "" {
		r := s.step("pg_ctl", args...)
		return r, func() result { return r }
	}
	argv, report := s.argv("pg_ctl", args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	g := startGroup(ctx, argv)
	cmd, done, stdout, stderr := g.cmd, g.done, &g.stdout, &g.stderr
	var res *result
	collect := func(err error) result {
		if res == nil {
			status, ok := exitStatus(err)
			Expect(ok).To(BeTrue(), "pg_ctl start under vsysbed: %v", err)
			res = &result{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}
		}
		return *res
	}
	DeferCleanup(func() {
		// Whatever failed, nothing may be left running: the server first
		// (it left pg_ctl's process group: setsid), then vsysbed.
		s.kill()
		select {
		case err := <-done:
			collect(err)
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		cancel()
	})
	// pg_ctl's own output says when the server is up (or it gave up).
	Eventually(func() string {
		select {
		case err := <-done:
			done <- err
			r := collect(err)
			StopTrying(fmt.Sprintf("pg_ctl start under vsysbed ended early:\n%s\n%s", r, s.log())).Now()
		default:
		}
		return stdout.String()
	}).WithTimeout(90*time.Second).WithPolling(100*time.Millisecond).
		Should(Or(ContainSubstring("server started"), ContainSubstring("could not start server")), "pg_ctl start under vsysbed\n%s", s.log())
	wait = func() result {
		GinkgoHelper()
		var err error
		Eventually(done).WithTimeout(60*time.Second).Should(Receive(&err), "vsysbed did not end with the server\n%s", s.log())
		done <- err
		r := collect(err)
		expectNoPanic(r)
		checkReport(loadReport(report), append([]string{filepath.Join(pgBin, "pg_ctl")}, args...), r.Status)
		return r
	}
	return result{Stdout: stdout.String()}, wait
}

// kill stops a server still running from the side's cluster: pg_ctl's
// immediate shutdown, then SIGKILL for the postmaster it names.
func (s *pgSide) kill() {
	pidFile := filepath.Join(s.data(), "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		return
	}
	exec.Command("/usr/sbin/runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"),
		"-D", s.data(), "-m", "immediate", "-w", "-t", "20", "stop").Run()
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (s *pgSide) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return "--- server.log ---\n" + clip(string(b))
}

// pgSteps are the outputs of one side, normalised where they depend on
// the directory, the port, timing or the machine's speed.
type pgSteps struct {
	Initdb, Start, Init, Bench, Count, Parallel, Stop, Started result
}

var (
	pgDots    = regexp.MustCompile(`\.{2,}`)
	pgNumbers = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)
)

func (s *pgSide) normalise(r result) result {
	out := strings.ReplaceAll(r.Stdout, s.dir, "DIR")
	out = strings.ReplaceAll(out, s.port, "PORT")
	// pg_ctl prints a dot per second it waited.
	out = pgDots.ReplaceAllString(out, "...")
	return result{Stdout: out, Status: r.Status}
}

func (s *pgSide) runAll() pgSteps {
	GinkgoHelper()
	var st pgSteps
	st.Initdb = s.normalise(s.step("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres"))
	Expect(st.Initdb.Status).To(Equal(0), "initdb (%s):\n%s", s.what(), st.Initdb)
	var wait func() result
	st.Start, wait = s.start()
	st.Start = s.normalise(st.Start)
	Expect(st.Start.Stdout).To(ContainSubstring("server started"), "pg_ctl start (%s)\n%s", s.what(), s.log())

	st.Init = s.normalise(s.step("pgbench", "-h", s.data(), "-p", s.port, "-i", "-s", "1", "postgres"))
	Expect(st.Init.Status).To(Equal(0), "pgbench -i (%s):\n%s\n%s", s.what(), st.Init, s.log())
	bench := s.step("pgbench", "-h", s.data(), "-p", s.port, "-T", "10", "-c", "4", "-j", "2", "postgres")
	Expect(bench.Status).To(Equal(0), "pgbench (%s):\n%s\n%s", s.what(), bench, s.log())
	Expect(bench.Stdout).To(MatchRegexp(`number of transactions actually processed: [1-9][0-9]*`), "pgbench (%s) did nothing:\n%s", s.what(), bench)
	Expect(bench.Stdout).To(ContainSubstring("number of failed transactions: 0 (0.000%)"), "pgbench (%s):\n%s", s.what(), bench)
	// Counts and rates depend on the machine: only the shape compares.
	st.Bench = s.normalise(bench)
	st.Bench.Stdout = pgNumbers.ReplaceAllString(st.Bench.Stdout, "N")

	st.Count = s.psql("select count(*) from pgbench_accounts")
	st.Count.Stderr = ""
	// A parallel query: the postmaster forks workers that attach the
	// query's dynamic shared memory (POSIX shm, /dev/shm) and the main
	// segment.
	plan := s.psql("set max_parallel_workers_per_gather = 2; set parallel_setup_cost = 0; set parallel_tuple_cost = 0; " +
		"set min_parallel_table_scan_size = 0; set min_parallel_index_scan_size = 0; " +
		"explain (analyze, costs off, timing off, summary off) select count(*) from pgbench_accounts")
	st.Parallel = result{Status: plan.Status}
	for _, line := range strings.Split(plan.Stdout, "\n") {
		if strings.Contains(line, "Workers") || strings.Contains(line, "Gather") {
			st.Parallel.Stdout += strings.TrimSpace(line) + "\n"
		}
	}
	st.Stop = s.normalise(s.step("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"))
	Expect(st.Stop.Status).To(Equal(0), "pg_ctl stop (%s):\n%s\n%s", s.what(), st.Stop, s.log())
	st.Started = s.normalise(wait())
	return st
}

func (s *pgSide) what() string {
	if s.mode == "" {
		return "natively"
	}
	return "under vsysbed, --trap " + s.mode
}

var _ = Describe("PostgreSQL 15", func() {
	newSide := func(mode string) *pgSide {
		GinkgoHelper()
		if os.Geteuid() != 0 {
			Skip("needs root: the server runs as the postgres user (runuser)")
		}
		if _, err := user.Lookup("postgres"); err != nil {
			Skip("no postgres user (apt-get install postgresql)")
		}
		for _, prog := range []string{"initdb", "pg_ctl", "pgbench", "psql", "postgres"} {
			if !isExecutableFile(filepath.Join(pgBin, prog)) {
				Skip(filepath.Join(pgBin, prog) + " is not installed (apt-get install postgresql)")
			}
		}
		s := &pgSide{mode: mode, dir: worldDir(), port: freePort()}
		if mode != "" {
			s.vsysbed = worldCopy(s.dir, vsysbedBin)
		}
		DeferCleanup(s.kill)
		return s
	}

	for _, mode := range trapModes {
		It("initdb, pg_ctl start, pgbench -i and a 10-second pgbench as natively, with --trap "+mode, func() {
			native := newSide("").runAll()
			Expect(native.Count).To(Equal(result{Stdout: "100000\n"}), "native psql")
			Expect(native.Parallel.Stdout).To(ContainSubstring("Workers Launched: 2"), "native parallel query")
			// Both sides' steps: statuses, and outputs up to paths, ports,
			// pg_ctl's waiting dots and pgbench's numbers.
			got := newSide(mode).runAll()
			Expect(got).To(Equal(native))
		})
	}
})
