package e2e

import (
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/coverage"
)

// diffRun runs `vsysbed diff-run FLAGS -- ARGV` (every platform unless
// FLAGS says otherwise).
func diffRun(flags []string, argv ...string) result {
	GinkgoHelper()
	full := append([]string{vsysbedBin, "diff-run"}, flags...)
	full = append(full, "--")
	return run(nil, append(full, argv...)...)
}

var _ = Describe("vsysbed diff-run", func() {
	const agree = "diff-run: no divergence across native, inprocess, ptrace"

	// What a corpus guest's runs may differ in, and why; every other
	// aspect is compared exactly (futex and sched_yield counts always
	// depend on timing: diffrun.DefaultTolerate).
	timingDependent := map[string][]string{
		// It prints its timings.
		"syscallbench": {"--ignore", "stderr"},
		// A detached thread may or may not have made its last calls (exit,
		// rt_sigprocmask) when main's exit_group ends the process.
		"threads": {"--ignore", "syscalls"},
		// An event loop: how often epoll_wait wakes, and how many reads
		// drain a socket, depends on when the peer's writes land.
		"sockets": {"--ignore", "syscalls"},
	}

	Context("finds no divergence", func() {
		for _, name := range corpusNames {
			for _, libc := range corpusLibcs {
				binary := name + "-" + libc.suffix
				It("in the corpus guest "+binary, func() {
					r := diffRun(timingDependent[name], corpusBinary(name, libc))
					Expect(r.Status).To(Equal(0), "%s", r)
					Expect(r.Stdout).To(ContainSubstring(agree), "%s", r)
				})
			}
		}

		// --rewrite=lazy against --rewrite=off (issue 15): rewriting call
		// sites changes nothing a corpus guest does, in either trap mode.
		for _, trap := range []string{"seccomp", "sud"} {
			for _, name := range corpusNames {
				for _, libc := range corpusLibcs {
					binary := name + "-" + libc.suffix
					It("with --rewrite=lazy against off, --trap "+trap+", in the corpus guest "+binary, func() {
						flags := append([]string{"--trap", trap, "--platforms", "native,inprocess,inprocess-lazy"}, timingDependent[name]...)
						r := diffRun(flags, corpusBinary(name, libc))
						Expect(r.Status).To(Equal(0), "%s", r)
						Expect(r.Stdout).To(ContainSubstring("diff-run: no divergence across native, inprocess, inprocess-lazy"), "%s", r)
						if strings.HasPrefix(libc.suffix, "glibc") {
							Expect(r.Stdout).To(MatchRegexp(`inprocess-lazy .* [1-9][0-9]* patched`), "%s", r)
						}
					})
				}
			}
		}

		for _, argv := range [][]string{
			{"/bin/true"},
			{"busybox", "echo", "hello", "world"},
			{"busybox", "sh", "-c", "echo a | tr a b | cat; (exit 3); echo $?"},
			{"ls", "-l", "/usr"},
			// Debian's python3 itself, not a version manager's shim script.
			{"/usr/bin/python3", "-c", "import os; print(sorted(os.listdir('/')))"},
		} {
			It("in "+strings.Join(argv, " "), func() {
				r := diffRun(nil, argv...)
				Expect(r.Status).To(Equal(0), "%s", r)
				Expect(r.Stdout).To(ContainSubstring(agree), "%s", r)
			})
		}

		It("in the exit status of a guest that exits 42", func() {
			r := diffRun(nil, filepath.Join(guestDir, "exit42"))
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(r.Stdout).To(ContainSubstring("exit code 42"))
		})

		It("in the syscalls kernelsim refuses: both platforms refuse them", func() {
			// glibc registers rseq at start-up; kernelsim refuses it
			// (ENOSYS) and the ptrace platform applies the same table, so
			// nothing differs, not even the error count.
			dir := GinkgoT().TempDir()
			r := diffRun([]string{"--reports", dir}, "/bin/true")
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(r.Stdout).NotTo(ContainSubstring("not a divergence"), "%s", r)
			for _, p := range []string{"inprocess", "ptrace"} {
				rep, err := coverage.Load(filepath.Join(dir, p+".json"))
				Expect(err).NotTo(HaveOccurred())
				rseq := syscallRow(rep, "rseq")
				Expect(rseq.Total).To(Equal(uint64(1)), p)
				Expect(rseq.Errors).To(Equal(uint64(1)), p)
			}
		})
	})

	It("between the platforms for a guest that tries to confine itself: kernelsim answers on both", func() {
		// prctl(PR_SET_SECCOMP) natively fails with EFAULT here (no
		// filter given); kernelsim refuses it with EINVAL before the
		// kernel sees it, on the ptrace platform too — a guest filter
		// there would decide before the tracer's and hide calls from it.
		script := `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.prctl(22, 2, 0, 0, 0)
print(r, os.strerror(ctypes.get_errno()), libc.prctl(21, 0, 0, 0, 0))`
		r := diffRun([]string{"--platforms", "inprocess,ptrace"}, "/usr/bin/python3", "-c", script)
		Expect(r.Status).To(Equal(0), "%s", r)
		Expect(r.Stdout).To(ContainSubstring("no divergence across inprocess, ptrace"), "%s", r)
		native := run(nil, "/usr/bin/python3", "-c", script)
		Expect(native.Stdout).To(Equal("-1 Bad address 0\n"), "natively: %s", native)
		got := runVsysbed(nil, []string{"--platform=ptrace", "--report", filepath.Join(GinkgoT().TempDir(), "R.json")}, "/usr/bin/python3", "-c", script)
		Expect(got.Stdout).To(Equal("-1 Invalid argument 0\n"), "%s", got)
	})

	Context("finds the divergence", func() {
		It("of a guest that prints whether it found __kernel_vsyscall", func() {
			// Natively there is no synthetic vDSO: the probe says bypass=no.
			r := diffRun(nil, filepath.Join(guestDir, "vsyscall_probe-musl"))
			Expect(r.Status).To(Equal(1), "%s", r)
			Expect(r.Stdout).To(ContainSubstring("DIVERGENCE: stdout differs between native and inprocess"))
			Expect(r.Stdout).To(ContainSubstring(`native:    "OK vsyscall_probe bypass=no\n"`), "%s", r)
		})

		It("of a guest whose syscall counts depend on the platform's speed", func() {
			// Same output everywhere; getppid for 30 ms: a count of its own
			// on each platform.
			dir := GinkgoT().TempDir()
			r := diffRun([]string{"--reports", dir}, filepath.Join(guestDir, "traced"), "spin")
			Expect(r.Status).To(Equal(1), "%s", r)
			Expect(r.Stdout).To(MatchRegexp(`DIVERGENCE: syscalls differs between inprocess and ptrace: getppid \(110\): inprocess [1-9][0-9]* call\(s\), 0 error\(s\), ptrace [1-9][0-9]* call\(s\), 0 error\(s\)`), "%s", r)
			// The kept reports say the same.
			in, err := coverage.Load(filepath.Join(dir, "inprocess.json"))
			Expect(err).NotTo(HaveOccurred())
			pt, err := coverage.Load(filepath.Join(dir, "ptrace.json"))
			Expect(err).NotTo(HaveOccurred())
			Expect(syscallCalls(in, "getppid")).NotTo(Equal(syscallCalls(pt, "getppid")))
		})

		It("of no guest that looks for its tracer: the ptrace platform's is hidden, as natively", func() {
			r := diffRun(nil, filepath.Join(guestDir, "traced"))
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(r.Stdout).To(ContainSubstring("no divergence across native, inprocess, ptrace"), "%s", r)
		})

		It("in the result class: an error return counts", func() {
			// The multiset compares errors too: a guest failing a call
			// natively must fail it on the platforms.
			r := diffRun([]string{"--platforms", "native,inprocess"}, "ls", "/nonexistent-diffrun")
			Expect(r.Status).To(Equal(0), "%s", r) // same failure everywhere
			Expect(r.Stdout).To(ContainSubstring("exit code 2"))
			Expect(r.Stdout).To(MatchRegexp(`inprocess exit code 2, .* [1-9][0-9]* errors\)`))
		})
	})

	It("refuses bad usage and a missing program like `run`", func() {
		for _, flags := range [][]string{
			{"--platforms", "native,bogus"},
			{"--platforms", "native"},
			{"--platforms", "native,native"},
			{"--ignore", "colour"},
		} {
			r := diffRun(flags, "/bin/true")
			Expect(r.Status).To(Equal(2), "%v: %s", flags, r)
			Expect(r.Stderr).To(MatchRegexp(`^vsysbed diff-run: [^\n]* \(see 'vsysbed diff-run --help'\)\n$`), "%v", flags)
		}
		r := diffRun(nil, "/nonexistent/prog")
		Expect(r.Status).To(Equal(127), "%s", r)
		Expect(strings.Count(r.Stderr, "\n")).To(Equal(1), "%s", r)
	})
})

func syscallRow(r *coverage.Report, name string) coverage.SyscallRow {
	for _, s := range r.Syscalls {
		if s.Name == name {
			return s
		}
	}
	return coverage.SyscallRow{Name: name}
}

func syscallCalls(r *coverage.Report, name string) uint64 { return syscallRow(r, name).Total }
