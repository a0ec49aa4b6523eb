package e2e

import (
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The host process must hold no fd the guest could see or get in the way
// of: the guest's first open() returns what it returns natively, and
// /proc/self/fd lists no fd of the host's (they sit at 1000 and up). Go's
// netpoller, a cgroup file the runtime kept open and a package that opened
// fds at init have each broken this once.
var _ = Describe("the host's own fds", func() {
	for _, mode := range trapModes {
		It("stay out of the guest's view with --trap "+mode, func() {
			firstOpen := []string{"/usr/bin/python3", "-c", `import os; print(os.open("/dev/null", os.O_RDONLY))`}
			native := run(nil, firstOpen...)
			Expect(native.Status).To(Equal(0), "%s", native)
			reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
			got := runVsysbed(nil, reportFlags(mode, reportPath), firstOpen...)
			Expect(got.Status).To(Equal(0), "%s", got)
			Expect(got.Stdout).To(Equal(native.Stdout), "the guest's first open()")

			listing := runVsysbed(nil, reportFlags(mode, reportPath), "ls", "/proc/self/fd")
			Expect(listing.Status).To(Equal(0), "%s", listing)
			for _, name := range strings.Fields(listing.Stdout) {
				fd, err := strconv.Atoi(name)
				Expect(err).NotTo(HaveOccurred())
				Expect(fd).To(BeNumerically("<", 1000), "a host fd is visible:\n%s", listing.Stdout)
			}
		})
	}
})
