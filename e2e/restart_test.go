package e2e

import (
	"path/filepath"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A call the kernel restarts — after an SA_RESTART handler, across a stop
// and its SIGCONT, past a signal the guest ignores — is one call of the
// guest's, with the one result it saw (docs/report-schema.md, syscall
// row). The restart guest makes each such call once, each with a syscall
// of its own, so its row is exact on every platform.
var _ = Describe("the report counts a restarted call once, with the result the guest saw", func() {
	want := []struct {
		name          string
		calls, errors uint64
		what          string
	}{
		{"readv", 1, 0, "a raw syscall restarted after 3 SA_RESTART handlers"},
		{"recvfrom", 1, 0, "a __kernel_vsyscall call restarted after 3 SA_RESTART handlers"},
		{"recvmmsg", 1, 0, "a raw syscall whose 3 SA_RESTART handlers each raise a second one, run before the re-issue"},
		{"recvmsg", 1, 0, "a call blocked across SIGSTOP and SIGCONT"},
		{"nanosleep", 1, 0, "a sleep across SIGSTOP and SIGCONT (restart_syscall)"},
		{"restart_syscall", 0, 0, "the kernel's own re-issue of that sleep"},
		{"pause", 1, 1, "pause across a stop, ended by a handler: its EINTR"},
		{"epoll_wait", 1, 0, "an epoll_wait woken by 3 signals the guest ignores"},
	}
	for _, flags := range [][]string{{"--trap", "seccomp"}, {"--trap", "sud"}, {"--platform=ptrace"}} {
		It("with "+strings.Join(flags, " "), func() {
			guest := filepath.Join(guestDir, "restart")
			native := run(nil, guest)
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(ContainSubstring("readv, 3 SA_RESTART handlers meanwhile: 1 handled=3\n"))
			Expect(native.Stdout).To(ContainSubstring("meanwhile: 1 handled=3 nested=3\n"))
			path := filepath.Join(GinkgoT().TempDir(), "R.json")
			got := runVsysbed(nil, append(append([]string{}, flags...), "--report", path), guest)
			expectNoPanic(got)
			Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
			Expect(got.Status).To(Equal(0), "%s", got)
			r, err := coverage.Load(path)
			Expect(err).NotTo(HaveOccurred())
			for _, w := range want {
				row := syscallRow(r, w.name)
				Expect([]uint64{row.Total, row.Errors}).To(Equal([]uint64{w.calls, w.errors}),
					"%s: %s (calls, errors)", w.name, w.what)
			}
		})
	}
})
