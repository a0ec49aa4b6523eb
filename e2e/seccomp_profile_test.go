package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/coverage"
)

// The suite's own binary doubles as the launcher that runs a guest
// natively under a seccomp filter: started with these variables set, it
// builds the filter from the report before any test code runs, installs
// it and execs its arguments. A seccomp filter survives execve, so the
// guest runs under it from its first instruction.
const (
	seccompReportEnv = "VSYSBED_E2E_SECCOMP_REPORT" // report to build the policy from
	seccompDropEnv   = "VSYSBED_E2E_SECCOMP_DROP"   // comma-separated syscalls to leave out
)

// Exit statuses of the launcher itself, apart from any the guest returns.
const (
	launcherSetupFailed = 125 // the policy could not be built or loaded
	launcherExecFailed  = 126 // execve of the guest failed under the filter
)

func init() {
	report := os.Getenv(seccompReportEnv)
	if report == "" {
		return
	}
	os.Exit(launchUnderSeccomp(report, os.Getenv(seccompDropEnv), os.Args[1:]))
}

// launchUnderSeccomp replaces the process with argv under the policy
// made from the report; it returns only on failure.
func launchUnderSeccomp(reportPath, drop string, argv []string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "seccomp launcher: "+format+"\n", args...)
		return code
	}
	if len(argv) == 0 {
		return fail(launcherSetupFailed, "no program given")
	}
	r, err := coverage.Load(reportPath)
	if err != nil {
		return fail(launcherSetupFailed, "%v", err)
	}
	policy, al := coverage.SeccompPolicy(r)
	if len(al.Unnamed) > 0 {
		return fail(launcherSetupFailed, "report has syscalls without a name: %v", al.Unnamed)
	}
	if drop != "" {
		for _, name := range strings.Split(drop, ",") {
			names := policy.Syscalls[0].Names
			i := slices.Index(names, name)
			if i < 0 {
				return fail(launcherSetupFailed, "%s is not in the policy %v", name, names)
			}
			policy.Syscalls[0].Names = slices.Delete(names, i, i+1)
		}
	}
	// The launcher's own needs between loading the filter and execve: the
	// Go runtime may wake or park a thread (futex) on the way out of the
	// seccomp syscall, or yield. They are not the guest's, and the negative
	// cases never drop them.
	for _, own := range []string{"futex", "sched_yield", "nanosleep", "rt_sigprocmask"} {
		if !slices.Contains(policy.Syscalls[0].Names, own) {
			policy.Syscalls[0].Names = append(policy.Syscalls[0].Names, own)
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fail(launcherSetupFailed, "%v", err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, seccompReportEnv+"=") && !strings.HasPrefix(e, seccompDropEnv+"=") {
			env = append(env, e)
		}
	}
	// Everything is prepared before the filter goes in: from then on this
	// thread may only make the guest's syscalls. No TSYNC flag, so the Go
	// runtime's other threads stay unfiltered; execve ends them anyway.
	runtime.LockOSThread()
	filter := seccomp.Filter{NoNewPrivs: true, Policy: *policy}
	if err := seccomp.LoadFilter(filter); err != nil {
		return fail(launcherSetupFailed, "%v", err)
	}
	err = syscall.Exec(path, argv, env)
	return fail(launcherExecFailed, "exec %s: %v", path, err)
}

// runUnderSeccomp runs argv natively under the policy made from the
// report at reportPath, minus the syscalls in drop.
func runUnderSeccomp(reportPath string, drop []string, argv ...string) result {
	GinkgoHelper()
	self, err := os.Executable()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.Unsetenv, seccompReportEnv)
	DeferCleanup(os.Unsetenv, seccompDropEnv)
	Expect(os.Setenv(seccompReportEnv, reportPath)).To(Succeed())
	Expect(os.Setenv(seccompDropEnv, strings.Join(drop, ","))).To(Succeed())
	return run(nil, append([]string{self}, argv...)...)
}

var _ = Describe("seccomp profile from a report", func() {
	DescribeTable("lets the guest run natively with only the syscalls it used",
		func(guest func() []string, needed string) {
			argv := guest()
			reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
			under := runVsysbed(nil, reportFlags("seccomp", reportPath), argv...)
			Expect(under.Status).To(Equal(0), "guest failed under vsysbed:\n%s", under)
			r, err := coverage.Load(reportPath)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Complete).To(BeTrue(), "report incomplete: %s", r.IncompleteReason)
			policy, al := coverage.SeccompPolicy(r)
			Expect(al.Unnamed).To(BeEmpty())
			Expect(policy.Syscalls[0].Names).To(ContainElements("execve", needed))

			native := run(nil, argv...)
			Expect(native.Status).To(Equal(0), "guest failed natively:\n%s", native)

			filtered := runUnderSeccomp(reportPath, nil, argv...)
			Expect(filtered).To(Equal(native), "guest under the generated filter vs native")

			without := runUnderSeccomp(reportPath, []string{needed}, argv...)
			Expect(without.Status).NotTo(BeElementOf(0, launcherSetupFailed, launcherExecFailed),
				"guest must fail without %s, and by itself, not in the launcher:\n%s", needed, without)
			Expect(without.Stdout).NotTo(Equal(native.Stdout), "guest output without %s", needed)
		},
		Entry("ls / without write", func() []string { return []string{"/bin/ls", "/"} }, "write"),
		Entry("musl probe without write", func() []string {
			return []string{filepath.Join(guestDir, "vsyscall_probe-musl")}
		}, "write"),
		Entry("glibc probe without openat", func() []string {
			return []string{filepath.Join(guestDir, "vsyscall_probe-glibc")}
		}, "openat"),
	)
})
