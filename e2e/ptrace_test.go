package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// ptraceFlags are the flags of a ptrace-platform run that writes its JSON
// report to path.
func ptraceFlags(path string) []string {
	return []string{"--platform=ptrace", "--report", path}
}

// ptraceCase is a guest run on the ptrace platform and compared: its
// output with a native run (or, for guests that print whether they found
// the bypass, with an in-process run), its per-syscall counts with an
// in-process run when the guest is deterministic.
type ptraceCase struct {
	argv []string // "%name" is one of our guests
	// sameCounts: the guest makes the same syscalls on every run, so the
	// per-syscall (bypass, trap, vdso) counts must equal the in-process
	// platform's.
	sameCounts bool
	// volatile names syscalls whose counts depend on timing even then:
	// a shell's SIGCHLD handler runs once per SIGCHLD, and two children
	// that end close together are one SIGCHLD (rt_sigreturn).
	volatile []string
	// likeInProcess: the output depends on finding __kernel_vsyscall,
	// which only vsysbed's vDSO exports: compare with the in-process run.
	likeInProcess bool
	// note matches a line vsysbed itself adds to stderr; dropped before comparing.
	note string
}

func (c ptraceCase) resolve() []string {
	return compareCase{argv: c.argv}.resolve()
}

// countsByName maps each syscall of a report to its (bypass, trap, vdso).
func countsByName(r report) map[string]counts {
	out := map[string]counts{}
	for _, s := range r.Syscalls {
		out[s.Name] = s.counts
	}
	return out
}

func dropLines(s, prefix string) string {
	if prefix == "" {
		return s
	}
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, prefix) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

var ptraceEntries = []TableEntry{
	Entry("/bin/true", ptraceCase{argv: []string{"/bin/true"}, sameCounts: true}),
	Entry("busybox echo", ptraceCase{argv: []string{"busybox", "echo", "hello", "from", "busybox"}, sameCounts: true}),
	Entry("busybox ls /", ptraceCase{argv: []string{"busybox", "ls", "/"}}),
	Entry("busybox sh pipeline", ptraceCase{argv: []string{"busybox", "sh", "-c", "echo a | tr a b | cat"}, sameCounts: true, volatile: []string{"rt_sigreturn"}}),
	Entry("python3 -c", ptraceCase{argv: []string{"/usr/bin/python3", "-c", "import sys; print(6*7); sys.exit(3)"}}),
	Entry("exit42 guest", ptraceCase{argv: []string{"%exit42"}, sameCounts: true}),
	Entry("crash guest (SIGSEGV)", ptraceCase{argv: []string{"%crash"}, sameCounts: true, note: "vsysbed: guest killed by SIGSEGV"}),
	Entry("vecregs guest", ptraceCase{argv: []string{"%vecregs"}, sameCounts: true}),
	Entry("vsyscall_probe, dynamic glibc", ptraceCase{argv: []string{"%vsyscall_probe-glibc"}, sameCounts: true, likeInProcess: true}),
	Entry("vsyscall_probe, static glibc", ptraceCase{argv: []string{"%vsyscall_probe-glibc-static"}, sameCounts: true, likeInProcess: true}),
	Entry("vsyscall_probe, static-pie glibc", ptraceCase{argv: []string{"%vsyscall_probe-glibc-static-pie"}, sameCounts: true, likeInProcess: true}),
	Entry("vsyscall_probe, static musl", ptraceCase{argv: []string{"%vsyscall_probe-musl"}, sameCounts: true, likeInProcess: true}),
	Entry("vsyscall_probe, static-pie musl", ptraceCase{argv: []string{"%vsyscall_probe-musl-static-pie"}, sameCounts: true, likeInProcess: true}),
	Entry("thread guest", ptraceCase{argv: []string{"%thread"}}),
	Entry("threads, dynamic glibc", ptraceCase{argv: []string{"%threads-glibc"}}),
	Entry("threads, static glibc", ptraceCase{argv: []string{"%threads-glibc-static"}}),
	Entry("threads, musl", ptraceCase{argv: []string{"%threads-musl"}}),
	Entry("signals, glibc", ptraceCase{argv: []string{"%signals-glibc"}}),
	Entry("signals, musl", ptraceCase{argv: []string{"%signals-musl"}}),
	Entry("cancel, glibc", ptraceCase{argv: []string{"%cancel-glibc"}}),
	Entry("forker guest", ptraceCase{argv: []string{"%forker"}}),
	Entry("spawn guest", ptraceCase{argv: []string{"%spawn"}}),
	Entry("forkthreads guest", ptraceCase{argv: []string{"%forkthreads"}}),
	Entry("static Go program", ptraceCase{argv: []string{"%gostatic"}}),
}

var _ = Describe("--platform=ptrace", func() {
	DescribeTable("runs the guest natively under the tracer",
		func(c ptraceCase) {
			argv := c.resolve()
			dir := GinkgoT().TempDir()
			ptPath, ipPath := filepath.Join(dir, "ptrace.json"), filepath.Join(dir, "inprocess.json")

			got := runVsysbed(nil, ptraceFlags(ptPath), argv...)
			got.Stderr = dropLines(got.Stderr, c.note)
			var want result
			if c.likeInProcess || c.sameCounts {
				// Traps against ptrace stops: no site rewritten.
				want = runVsysbed(nil, []string{"--rewrite=off", "--report", ipPath}, argv...)
				want.Stderr = dropLines(want.Stderr, c.note)
			}
			if !c.likeInProcess {
				want = run(nil, argv...)
			}
			Expect(got.Stdout).To(Equal(want.Stdout), "stdout differs\nwant: %s\nptrace: %s", want, got)
			Expect(got.Stderr).To(Equal(want.Stderr), "stderr differs\nwant: %s\nptrace: %s", want, got)
			Expect(got.Status).To(Equal(want.Status), "exit status differs\nwant: %s\nptrace: %s", want, got)

			r := loadReport(ptPath)
			checkReport(r, argv, got.Status)
			Expect(r.TrapMode).To(Equal("ptrace"))
			if c.sameCounts {
				pt, ip := countsByName(r), countsByName(loadReport(ipPath))
				for _, name := range c.volatile {
					delete(pt, name)
					delete(ip, name)
				}
				Expect(pt).To(Equal(ip),
					"per-syscall counts (bypass, trap, vdso) differ from the in-process platform's")
			}
		},
		ptraceEntries,
	)

	Context("the guest corpus", func() {
		for _, name := range corpusNames {
			for _, libc := range corpusLibcs {
				It(name+"-"+libc.suffix+" passes", func() {
					path := corpusBinary(name, libc)
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					got := runVsysbed(nil, ptraceFlags(reportPath), path)
					expectCorpusPass(name, got)
					r := loadReport(reportPath)
					checkReport(r, []string{path}, 0)
					if libc.bypass {
						// Threads, signal returns, cancellation and fork
						// through __kernel_vsyscall, natively.
						expectAllBypassed(r)
					} else {
						expectSymbolisedTraps(r)
					}
				})
			}
		}
	})

	It("counts __kernel_vsyscall calls as bypass at the caller's return address", func() {
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		probe := filepath.Join(guestDir, "vsyscall_probe-musl")
		got := runVsysbed(nil, ptraceFlags(path), probe)
		Expect(got.Status).To(Equal(0), "%s", got)
		Expect(got.Stdout).To(ContainSubstring("bypass=yes"), "the guest did not find the injected vDSO")
		r := loadReport(path)
		Expect(r.Totals.Bypass).To(BeNumerically(">", 0))
		Expect(sitesAt(r, "bypass", "write", probe)).NotTo(BeEmpty(),
			"a bypassed write must be placed in the guest binary (return address), not the vDSO")
	})

	It("counts a Go program's vDSO clock_gettime as vdso, not as a trap", func() {
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, ptraceFlags(path), filepath.Join(guestDir, "gostatic"))
		Expect(got.Status).To(Equal(0), "%s", got)
		cg, ok := syscallByName(loadReport(path), "clock_gettime")
		Expect(ok).To(BeTrue(), "no clock_gettime in the report")
		Expect(cg.VDSO).To(BeNumerically(">", 0))
		Expect(cg.Trap).To(BeZero(), "clock_gettime through the vDSO counted as a trap")
	})

	It("exits 127 without a report for a missing program", func() {
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, ptraceFlags(path), "no-such-program-vsysbed")
		Expect(got.Status).To(Equal(127), "%s", got)
		Expect(got.Stderr).To(ContainSubstring("no-such-program-vsysbed"))
		_, err := os.Stat(path)
		Expect(os.IsNotExist(err)).To(BeTrue(), "a report for a program that never ran")
	})

	Context("with a guest blocked in nanosleep", func() {
		startTraced := func(reportPath string) (*blockedRun, int) {
			GinkgoHelper()
			b := startSleeperWith(ptraceFlags(reportPath))
			kids, err := childrenOf(b.cmd.Process.Pid)
			Expect(err).NotTo(HaveOccurred())
			Expect(kids).To(HaveLen(1), "the tracer should have one child, the guest")
			waitAsleep(b, kids[0])
			return b, kids[0]
		}

		DescribeTable("forwards a signal to the guest and reports its death",
			func(sig syscall.Signal) {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				b, _ := startTraced(path)
				Expect(b.cmd.Process.Signal(sig)).To(Succeed())
				got := b.wait(coverageSignal(sig) + " to vsysbed")
				Expect(got.Status).To(Equal(128+int(sig)), "%s", got)
				Expect(got.Stdout).To(Equal("ready\n"))
				r := loadReport(path)
				Expect(r.Complete).To(BeTrue())
				Expect(r.Exit.Signal).To(Equal(coverageSignal(sig)))
				expectCountsBeforeDeath(r)
			},
			Entry("SIGTERM", syscall.SIGTERM),
			Entry("SIGINT", syscall.SIGINT),
		)

		It("leaves no tracee behind when the tracer is killed", func() {
			b, guest := startTraced(filepath.Join(GinkgoT().TempDir(), "R.json"))
			Expect(b.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
			b.wait("SIGKILL to vsysbed")
			// PTRACE_O_EXITKILL: the kernel kills the guest with its tracer.
			Eventually(func() string {
				stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", guest))
				if err != nil {
					return "gone"
				}
				if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
					return "gone"
				}
				return string(stat)
			}, exitTimeout, 10*time.Millisecond).Should(Equal("gone"), "the guest outlived its tracer")
		})
	})
})
