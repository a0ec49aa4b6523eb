package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"
)

// threadGuest is one of the threads-and-signals guests (e2e/guests:
// threads.c, threads1000.c, cancel.c, signals.c, sigevthread.c, gostatic/) with what its
// run must show.
type threadGuest struct {
	name string // in guestDir
	args []string
	// ok is the last line of a good run.
	ok string
	// threads is the number of guest threads the report must count; 0
	// means "more than one" (the Go runtime's count is its own business).
	threads int
}

// threadGuests: each C guest in its three builds, and the Go guest.
var threadGuests = func() []threadGuest {
	var out []threadGuest
	for _, libc := range []string{"glibc", "glibc-static", "musl"} {
		out = append(out,
			// 16 workers + the detached thread + the cancelled reader + main.
			threadGuest{name: "threads-" + libc, ok: "OK threads", threads: 16 + 3},
			threadGuest{name: "threads1000-" + libc, ok: "OK threads1000", threads: 1000 + 1},
			threadGuest{name: "cancel-" + libc, ok: "OK cancel", threads: 3 + 1},
			threadGuest{name: "signals-" + libc, ok: "OK signals", threads: 4 + 1},
			// The libc's notification threads: how many depends on timing.
			threadGuest{name: "sigevthread-" + libc, ok: "OK sigevthread"},
		)
	}
	out = append(out,
		threadGuest{name: "threads-musl", args: []string{"64"}, ok: "OK threads", threads: 64 + 3},
		threadGuest{name: "threads-glibc", args: []string{"64"}, ok: "OK threads", threads: 64 + 3},
		threadGuest{name: "gostatic", ok: "OK gostatic"},
	)
	return out
}()

func (g threadGuest) argv() []string {
	return append([]string{filepath.Join(guestDir, g.name)}, g.args...)
}

func (g threadGuest) String() string {
	if len(g.args) == 0 {
		return g.name
	}
	return fmt.Sprintf("%s %v", g.name, g.args)
}

// requireGuest fails the spec with the fix when a guest was never built.
func requireGuest(name string) {
	GinkgoHelper()
	if p := filepath.Join(guestDir, name); !isExecutableFile(p) {
		Fail(fmt.Sprintf("missing %s: run `make guests` first", p))
	}
}

var _ = Describe("threads and signals", func() {
	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			for _, g := range threadGuests {
				It("runs "+g.String()+" as it runs natively", func() {
					requireGuest(g.name)
					argv := g.argv()
					native := run(nil, argv...)
					Expect(native.Status).To(Equal(0), "native run:\n%s", native)
					Expect(native.Stdout).To(HaveSuffix(g.ok+"\n"), "native run:\n%s", native)

					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
					expectNoPanic(got)
					Expect(got.Status).To(Equal(native.Status), "%s", got)
					Expect(got.Stdout).To(Equal(native.Stdout), "%s", got)

					checkReport(loadReport(reportPath), argv, 0)
					if g.threads > 0 {
						Expect(reportThreads(reportPath)).To(Equal(g.threads), "guest threads in the report")
					} else {
						Expect(reportThreads(reportPath)).To(BeNumerically(">", 1), "guest threads in the report")
					}
				})
			}

			It("runs python3 with threads and a signal.alarm handler", func() {
				// The handler runs on the main thread while it is blocked in
				// Event.wait (a futex) and other threads wait too: the alarm
				// must interrupt the wait and the handler must see the frame.
				script := `import signal, threading
done = threading.Event()
hits = []
def on_alarm(signum, frame):
    hits.append(signum)
    done.set()
signal.signal(signal.SIGALRM, on_alarm)
workers = [threading.Thread(target=done.wait) for _ in range(4)]
[w.start() for w in workers]
signal.alarm(1)
print("woken", done.wait(20))
[w.join() for w in workers]
print("hits", hits == [signal.SIGALRM], "alarm left", signal.alarm(0))`
				argv := []string{"/usr/bin/python3", "-c", script}
				native := run(nil, argv...)
				Expect(native.Status).To(Equal(0), "native run:\n%s", native)
				Expect(native.Stdout).To(Equal("woken True\nhits True alarm left 0\n"))
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(got.Stdout).To(Equal(native.Stdout), "%s", got)
				checkReport(loadReport(reportPath), argv, 0)
			})

			DescribeTable("stops `sleep 30` when vsysbed gets a signal from outside",
				func(sig syscall.Signal) {
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					b := startBlocked(vsysbedArgv(reportFlags(mode, reportPath), "sleep", "30"), nil)
					waitAsleep(b, waitHost(b))
					sent := time.Now()
					Expect(b.cmd.Process.Signal(sig)).To(Succeed())
					got := b.wait(coverageSignal(sig) + " to vsysbed")
					Expect(time.Since(sent)).To(BeNumerically("<", 5*time.Second), "exit took too long")
					Expect(got.Status).To(Equal(128+int(sig)), "%s", got)
					expectNoPanic(got)
					r := loadReport(reportPath)
					Expect(r.Schema).To(Equal(reportSchema))
				},
				Entry("SIGINT", syscall.SIGINT),
				Entry("SIGTERM", syscall.SIGTERM),
			)
		})
	}

	It("stops `sleep 30` on Ctrl-C in a terminal, as natively", func() {
		for _, argv := range [][]string{
			{"sleep", "30"},
			vsysbedArgv(nil, "sleep", "30"),
		} {
			term := openPTY()
			b := startBlocked(argv, term)
			// Only once the sleep blocks is ^C certain to reach a guest
			// that already runs (and not vsysbed's start-up).
			if argv[0] == "sleep" {
				waitAsleep(b, b.cmd.Process.Pid)
			} else {
				waitAsleep(b, waitHost(b))
			}
			sent := time.Now()
			_, err := term.master.Write([]byte{0x03}) // VINTR
			Expect(err).NotTo(HaveOccurred())
			got := b.wait("^C on the terminal")
			Expect(time.Since(sent)).To(BeNumerically("<", 5*time.Second), "exit took too long")
			Expect(got.Status).To(Equal(130), "%q: %s", argv, got)
			expectNoPanic(got)
		}
	})

	It("keeps the Go runtime's CPU profiler working while guest threads run", func() {
		requireGuest("gostatic")
		goTool := findGoTool()
		profile := filepath.Join(GinkgoT().TempDir(), "cpu.pprof")
		got := runVsysbed(nil, []string{"--cpuprofile", profile}, filepath.Join(guestDir, "gostatic"))
		expectNoPanic(got)
		Expect(got.Status).To(Equal(0), "%s", got)
		Expect(got.Stdout).To(HaveSuffix("OK gostatic\n"))

		data, err := os.ReadFile(profile)
		Expect(err).NotTo(HaveOccurred(), "no profile written")
		zr, err := gzip.NewReader(bytes.NewReader(data))
		Expect(err).NotTo(HaveOccurred(), "a pprof profile is a gzip stream")
		raw, err := io.ReadAll(zr)
		Expect(err).NotTo(HaveOccurred())
		Expect(len(raw)).To(BeNumerically(">", 100), "profile too small to hold samples")

		top := run(nil, goTool, "tool", "pprof", "-top", profile)
		Expect(top.Status).To(Equal(0), "go tool pprof -top:\n%s", top)
		Expect(profileSamples(top.Stdout+top.Stderr)).To(BeNumerically(">", 0),
			"the profile holds no samples:\n%s", top)
	})
})

// totalSamples is pprof -top's header line "Duration: 1.2s, Total samples
// = 340ms (28.3%)"; the samples are given as CPU time.
var totalSamples = regexp.MustCompile(`Total samples = ([0-9.]+)(ns|us|µs|ms|s|min|hrs)\b`)

// profileSamples is the CPU time pprof -top says the profile sampled; 0
// when the header line is missing (pprof omits it for an empty profile).
func profileSamples(top string) time.Duration {
	m := totalSamples.FindStringSubmatch(top)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	unit := map[string]time.Duration{
		"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
		"ms": time.Millisecond, "s": time.Second, "min": time.Minute, "hrs": time.Hour,
	}[m[2]]
	return time.Duration(v * float64(unit))
}

// findGoTool is the go command: on PATH, or in the tarball's place.
func findGoTool() string {
	GinkgoHelper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := "/usr/local/go/bin/go"; isExecutableFile(p) {
		return p
	}
	Skip("the go tool is not installed: cannot read the profile")
	return ""
}

// pty is a pseudo-terminal pair; the slave becomes the controlling
// terminal of the program started on it.
type pty struct {
	master *os.File
	slave  *os.File
}

// openPTY opens a pseudo-terminal whose master is drained in the
// background (the line discipline echoes ^C, which must not fill it).
func openPTY() *pty {
	GinkgoHelper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(master.Close)
	fd := int(master.Fd())
	Expect(unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)).To(Succeed(), "unlockpt")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	Expect(err).NotTo(HaveOccurred(), "ptsname")
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(slave.Close)
	go io.Copy(io.Discard, master)
	return &pty{master: master, slave: slave}
}

// waitHost waits until the supervisor of b has started its host process
// and returns its pid.
func waitHost(b *blockedRun) int {
	GinkgoHelper()
	deadline := time.Now().Add(readyTimeout)
	for {
		kids, err := childrenOf(b.cmd.Process.Pid)
		Expect(err).NotTo(HaveOccurred())
		if len(kids) == 1 {
			// Known by its executable, vsysbed's: its command line soon
			// shows the guest's (hostOf).
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", kids[0]))
			if want, werr := filepath.EvalSymlinks(vsysbedBin); err == nil && werr == nil && exe == want {
				return kids[0]
			}
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kids[0])); err == nil &&
				bytes.Contains(cmdline, []byte("\x00__host\x00")) {
				return kids[0]
			}
		}
		select {
		case <-b.exited:
			Fail(fmt.Sprintf("vsysbed ended before its host process was seen\n%s", b.result()))
		default:
		}
		if time.Now().After(deadline) {
			Fail(fmt.Sprintf("no host process under vsysbed within %s\n%s", readyTimeout, b.result()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startBlocked starts argv in the background — on term as its controlling
// terminal and in a session of its own when term is set — and returns at
// once; the processes are gone when the spec ends.
func startBlocked(argv []string, term *pty) *blockedRun {
	GinkgoHelper()
	b := newBlockedRun(argv, "")
	if term != nil {
		b.cmd.Stdin, b.cmd.Stdout, b.cmd.Stderr = term.slave, term.slave, term.slave
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	}
	b.start()
	return b
}
