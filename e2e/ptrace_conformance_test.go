package e2e

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// sameAsNativePtrace runs argv natively and on the ptrace platform and
// expects the same output and status (as sameAsNative for a trap mode).
func sameAsNativePtrace(argv ...string) result {
	GinkgoHelper()
	native := runEnv(nil, nil, argv...)
	Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
	reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
	got := runEnv(nil, nil, vsysbedArgv(ptraceFlags(reportPath), argv...)...)
	expectNoPanic(got)
	Expect(got).To(Equal(native), "native:\n%s\nptrace:\n%s", native, got)
	checkReport(loadReport(reportPath), argv, native.Status)
	return got
}

// The conformance guests whose behaviour the ptrace platform once made
// differently from Linux's: a traced process is woken by signals a native
// one never sees, its tracer shows in its status, and its ptrace stops
// show in its state.
var _ = Describe("--platform=ptrace conformance", func() {
	// A traced process gets even its ignored signals queued (the tracer
	// may want them), and they wake its blocking calls.
	It("an ignored or default-ignored signal interrupts no call, not even one Linux never restarts", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "sigwait"))
		Expect(got.Stdout).To(ContainSubstring("epoll_wait(300ms) with a child exiting: 0 after the timeout=yes\n"))
	})

	It("epoll_pwait and epoll_pwait2 keep their mask for the whole call (a child's SIGCHLD meanwhile)", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "pwait"))
		Expect(got.Stdout).To(ContainSubstring("epoll_pwait(300ms) blocking SIGUSR1 sent meanwhile: 0 handled"))
	})

	// The tracer's own marks — TracerPid, its seccomp filter and the
	// no_new_privs that needed — are not the guest's: every spelling of
	// status and stat shows what a native run's does.
	It("/proc/PID/status and stat show no tracer, no filter and the guest's own no_new_privs, in every spelling", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "procself"))
		Expect(got.Stdout).To(ContainSubstring("start TracerPid:\t0\n"))
		Expect(got.Stdout).To(ContainSubstring("grandchild NoNewPrivs:\t1\n"))
	})

	// A tracee spends its syscalls and its first instructions after fork
	// in ptrace stops ("t"); natively it is running, or asleep in the call.
	It("a just-forked child is R, a child in FUTEX_WAIT is S", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "semantics"))
		Expect(got.Stdout).To(ContainSubstring("fork children R before they block: 20 of 20\n"))
	})

	It("a fast POSIX timer's blocked signal: one pending signal with its overrun", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "fasttimer"))
		Expect(got.Stdout).To(ContainSubstring("OK fasttimer\n"))
	})

	// A traced thread's group stop is a ptrace stop, which SIGCONT does
	// not end: the tracer holds every thread there until it comes.
	It("SIGSTOP and SIGTSTP stop every thread of a process, in user code or in a call, until SIGCONT", func() {
		got := sameAsNativePtrace(filepath.Join(guestDir, "stopcont"))
		Expect(got.Stdout).To(ContainSubstring("SIGSTOP: waitpid stopped=1, all threads T=1, no progress while stopped=1\n"))
	})
})
