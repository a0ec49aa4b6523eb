package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// RLIMIT_NPROC is the guest's own: a host process is Go's threads besides
// the guest's, and none of vsysbed's own tasks count toward the guest's
// limit (kernelsim/nproc.go). The nproc guest forks, then starts threads,
// until the kernel refuses; as an unprivileged user under a soft limit the
// counts are the native run's, and under a hard limit (which the host's
// runtimes must fit under too) the guest gets EAGAIN early but cleanly:
// no Go runtime dump, a complete report, the guest's own exit.
var _ = Describe("RLIMIT_NPROC", func() {
	var dir, guest, vs, user string
	BeforeEach(func() {
		if user = unprivileged(); user == "" {
			Skip("needs root and the user nobody to run as an unprivileged user")
		}
		if _, err := exec.LookPath("bash"); err != nil {
			Skip("needs bash (ulimit -u)")
		}
		dir = worldDir()
		guest, vs = worldCopy(dir, filepath.Join(guestDir, "nproc")), worldCopy(dir, vsysbedBin)
	})
	// limited is argv run as the unprivileged user under `ulimit ARG`, by
	// exec, so that the shell is no task of the user's any more.
	limited := func(limit string, argv ...string) []string {
		return asUser(user, dir, append([]string{"bash", "-c", "ulimit " + limit + " && exec \"$0\" \"$@\""}, argv...)...)
	}

	for _, mode := range trapModes {
		It("counts the guest's processes and threads as natively under a soft limit, with --trap "+mode, func() {
			native := run(nil, limited("-Su 40", guest)...)
			Expect(native.Status).To(Equal(0), "native:\n%s", native)
			Expect(native.Stdout).To(ContainSubstring("then Resource temporarily unavailable"), "native:\n%s", native)
			reportPath := filepath.Join(dir, "R.json")
			got := run(nil, limited("-Su 40", append(append([]string{vs, "run"}, reportFlags(mode, reportPath)...), "--", guest)...)...)
			expectNoPanic(got)
			Expect(got.Status).To(Equal(0), "native:\n%s\nvsysbed:\n%s", native, got)
			Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
			checkReport(loadReport(reportPath), []string{guest}, 0)
		})

		It("refuses a fork with EAGAIN, never a Go dump, under a hard limit, with --trap "+mode, func() {
			reportPath := filepath.Join(dir, "R.json")
			got := run(nil, limited("-u 60", append(append([]string{vs, "run"}, reportFlags(mode, reportPath)...), "--", guest)...)...)
			expectNoPanic(got)
			Expect(got.Status).To(Equal(0), "vsysbed:\n%s", got)
			lines := strings.Split(strings.TrimSpace(got.Stdout), "\n")
			Expect(lines).To(HaveLen(2), "vsysbed:\n%s", got)
			for _, l := range lines {
				Expect(l).To(HaveSuffix("then Resource temporarily unavailable"), "vsysbed:\n%s", got)
				Expect(l).NotTo(ContainSubstring(": 0,"), "nothing started at all:\n%s", got)
			}
			checkReport(loadReport(reportPath), []string{guest}, 0)
		})
	}
})
