package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/coverage"
)

// auditUnavailable is why the eBPF audit cannot run here ("" when it can),
// asked once of the binary under test.
var auditUnavailable *string

func requireAudit() {
	GinkgoHelper()
	if os.Geteuid() != 0 {
		Skip("the eBPF audit needs root (CAP_BPF and CAP_PERFMON)")
	}
	if auditUnavailable == nil {
		r := runVsysbed(nil, []string{"--audit=ebpf", "--report", filepath.Join(GinkgoT().TempDir(), "R.json")}, "/bin/true")
		why := ""
		if r.Status == 125 && strings.Contains(r.Stderr, "not supported") {
			why = strings.TrimSpace(r.Stderr)
		}
		auditUnavailable = &why
	}
	if *auditUnavailable != "" {
		Skip("eBPF audit not supported here: " + *auditUnavailable)
	}
}

// auditRun runs `vsysbed run FLAGS --report R.json -- ARGV` and returns
// the result and the report, which must have an audit section.
func auditRun(flags []string, argv ...string) (result, *coverage.Report) {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), "R.json")
	r := runVsysbed(nil, append(flags, "--report", path), argv...)
	rep, err := coverage.Load(path)
	Expect(err).NotTo(HaveOccurred(), "%s", r)
	Expect(rep.Audit).NotTo(BeNil(), "no audit section\n%s", r)
	return r, rep
}

func auditCounts(a *coverage.AuditSection, name string) coverage.AuditSyscall {
	for _, s := range a.Syscalls {
		if s.Name == name {
			return s
		}
	}
	return coverage.AuditSyscall{Name: name}
}

var _ = Describe("the eBPF audit (--audit=ebpf)", func() {
	probe := func() string { return filepath.Join(guestDir, "vsyscall_probe-musl") }

	Context("in-process", func() {
		for _, mode := range trapModes {
			It("finds no escape in the probe guest under --trap "+mode, func() {
				requireAudit()
				r, rep := auditRun([]string{"--trap", mode, "--audit=ebpf"}, probe())
				Expect(r.Status).To(Equal(0), "%s", r)
				Expect(r.Stdout).To(ContainSubstring("bypass=yes"))
				a := rep.Audit
				Expect(a.Platform).To(Equal(coverage.AuditInProcess))
				Expect(a.Escapes).To(BeZero(), "escaped sites: %+v", a.Sites)
				Expect(a.Sites).To(BeEmpty())
				Expect(a.Processes).To(BeNumerically(">=", 1))
				// The probe's writes ran, from host code: the fast path.
				Expect(auditCounts(a, "write").Host).To(BeNumerically(">=", 2))
				Expect(a.Reconciled).To(BeTrue(), "mismatches: %+v", a.Mismatches)
			})
		}

		It("finds no escape in python3 -c 'print(1)'", func() {
			requireAudit()
			r, rep := auditRun([]string{"--audit=ebpf"}, "/usr/bin/python3", "-c", "print(1)")
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(r.Stdout).To(Equal("1\n"))
			Expect(rep.Audit.Escapes).To(BeZero(), "escaped sites: %+v", rep.Audit.Sites)
		})

		// The whole corpus, every libc build: the proof that nothing escapes.
		for _, name := range corpusNames {
			for _, libc := range corpusLibcs {
				It("finds no escape in the corpus guest "+name+"-"+libc.suffix, func() {
					requireAudit()
					r, rep := auditRun([]string{"--audit=ebpf"}, corpusBinary(name, libc))
					expectCorpusPass(name, r)
					Expect(rep.Audit.Escapes).To(BeZero(), "escaped sites: %+v", rep.Audit.Sites)
					Expect(rep.Audit.Reconciled).To(BeTrue(), "mismatches: %+v", rep.Audit.Mismatches)
				})
			}
		}

		It("tracks forked host processes and finds no escape in them", func() {
			requireAudit()
			r, rep := auditRun([]string{"--audit=ebpf"}, filepath.Join(guestDir, "forker"))
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(rep.Audit.Escapes).To(BeZero(), "escaped sites: %+v", rep.Audit.Sites)
			Expect(rep.Audit.Processes).To(BeNumerically(">=", 1))
		})
	})

	It("counts the escapes of a deliberately weakened filter (make weakfilter)", func() {
		requireAudit()
		// The same shell, first under the real build: nothing escapes.
		script := `echo $$; grep PPid /proc/self/status`
		_, good := auditRun([]string{"--audit=ebpf"}, "busybox", "sh", "-c", script)
		Expect(good.Audit.Escapes).To(BeZero(), "escaped sites: %+v", good.Audit.Sites)

		path := filepath.Join(GinkgoT().TempDir(), "W.json")
		r := run(nil, weakFilterBin, "run", "--audit=ebpf", "--report", path, "--", "busybox", "sh", "-c", script)
		Expect(r.Status).To(Equal(0), "%s", r)
		weak, err := coverage.Load(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(weak.Audit).NotTo(BeNil())
		// busybox's getpid ($$) and getppid (at start-up) ran on the real
		// kernel from busybox's own code: escapes, with their sites.
		Expect(auditCounts(weak.Audit, "getpid").Guest).To(BeNumerically(">=", 1))
		Expect(auditCounts(weak.Audit, "getppid").Guest).To(BeNumerically(">=", 1))
		Expect(weak.Audit.Escapes).To(Equal(auditCounts(weak.Audit, "getpid").Guest+auditCounts(weak.Audit, "getppid").Guest),
			"only the weakened syscalls escape: %+v", weak.Audit.Sites)
		bb, err := filepath.EvalSymlinks("/bin/busybox")
		Expect(err).NotTo(HaveOccurred())
		objects := map[string]bool{}
		for _, s := range weak.Audit.Sites {
			objects[s.Object] = true
		}
		Expect(objects).To(HaveKey(bb), "escape sites: %+v", weak.Audit.Sites)
		// The guest's results stay right: its pid is the host process's.
		Expect(strings.Fields(r.Stdout)).To(HaveLen(3), "%s", r)
	})

	Context("--platform=native", func() {
		It("reports /bin/true's syscalls from the kernel's view alone", func() {
			requireAudit()
			r, rep := auditRun([]string{"--platform=native", "--audit=ebpf"}, "/bin/true")
			Expect(r.Status).To(Equal(0), "%s", r)
			a := rep.Audit
			Expect(a.Platform).To(Equal(coverage.AuditNative))
			Expect(auditCounts(a, "exit_group").Guest).To(Equal(uint64(1)))
			Expect(a.Sites).NotTo(BeEmpty())
			Expect(rep.Syscalls).To(BeEmpty(), "natively vsysbed counts nothing itself")
			Expect(rep.Exit.Code).To(Equal(0))
		})

		It("counts the probe's raw syscalls as escapes that the in-process platform traps", func() {
			requireAudit()
			bin, err := filepath.EvalSymlinks(probe())
			Expect(err).NotTo(HaveOccurred())
			r, native := auditRun([]string{"--platform=native", "--audit=ebpf"}, probe())
			Expect(r.Status).To(Equal(0), "%s", r)
			Expect(r.Stdout).To(ContainSubstring("bypass=no"), "natively there is no __kernel_vsyscall")
			a := native.Audit
			for _, name := range []string{"write", "getpid", "exit_group"} {
				Expect(auditCounts(a, name).Guest).To(BeNumerically(">", 0), "%s", name)
			}
			Expect(a.Escapes).To(BeNumerically(">", 0))
			inProbe := 0
			for _, s := range a.Sites {
				if s.Object == bin {
					inProbe++
				}
			}
			Expect(inProbe).To(BeNumerically(">", 0), "no site in %s: %+v", bin, a.Sites)

			// The same binary in-process: every one of those is trapped.
			_, inproc := auditRun([]string{"--audit=ebpf"}, probe())
			Expect(inproc.Audit.Escapes).To(BeZero(), "escaped sites: %+v", inproc.Audit.Sites)
		})

		It("mirrors the program's exit status and death", func() {
			requireAudit()
			r, rep := auditRun([]string{"--platform=native", "--audit=ebpf"}, filepath.Join(guestDir, "exit42"))
			Expect(r.Status).To(Equal(42))
			Expect(rep.Exit.Code).To(Equal(42))
			r, rep = auditRun([]string{"--platform=native", "--audit=ebpf"}, filepath.Join(guestDir, "crash"))
			Expect(r.Status).To(Equal(139), "%s", r)
			Expect(rep.Exit.Signal).To(Equal("SIGSEGV"))
		})

		It("answers a missing program like a shell", func() {
			requireAudit()
			r := runVsysbed(nil, []string{"--platform=native", "--audit=ebpf"}, "/nonexistent/prog")
			Expect(r.Status).To(Equal(127))
			Expect(strings.Count(r.Stderr, "\n")).To(Equal(1), "%s", r)
		})
	})

	It("refuses bad values of --audit and --platform", func() {
		for _, flags := range [][]string{
			{"--audit=bogus"},
			{"--platform=bogus", "--audit=ebpf"},
			{"--platform=native"}, // natively only the audit sees anything
		} {
			r := runVsysbed(nil, flags, "/bin/true")
			Expect(r.Status).To(Equal(2), "%v: %s", flags, r)
			Expect(r.Stderr).To(MatchRegexp(`^vsysbed run: --[^\n]* \(see 'vsysbed run --help'\)\n$`), "%v", flags)
		}
	})

	It("fails with one line and status 125 without privileges, before the guest runs", func() {
		if os.Geteuid() != 0 {
			r := runVsysbed(nil, []string{"--audit=ebpf"}, "/bin/echo", "guest ran")
			Expect(r.Status).To(Equal(125), "%s", r)
			Expect(r.Stdout).To(BeEmpty())
			Expect(strings.Count(r.Stderr, "\n")).To(Equal(1), "%s", r)
			return
		}
		// As root: drop to nobody for the run.
		cmd := exec.Command(vsysbedBin, "run", "--audit=ebpf", "--", "/bin/echo", "guest ran")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
		cmd.Env = []string{"TMPDIR=/tmp", "PATH=/usr/bin:/bin"} // the suite's TMPDIR is root's
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			Skip(fmt.Sprintf("cannot run vsysbed as nobody: %v (status 0 means it did not refuse)", err))
		}
		stderr := string(ee.Stderr)
		if ee.ExitCode() == 126 || strings.Contains(stderr, "permission denied") {
			Skip("vsysbed is not executable by nobody here: " + stderr)
		}
		Expect(ee.ExitCode()).To(Equal(125), "%s", stderr)
		Expect(string(out)).To(BeEmpty(), "the guest must not run")
		Expect(strings.Count(stderr, "\n")).To(Equal(1), "%s", stderr)
		Expect(stderr).To(ContainSubstring("--audit=ebpf"))
	})
})
