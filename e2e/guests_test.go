package e2e

import (
	"debug/elf"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The probe's checks that go through __kernel_vsyscall.
var bypassSyscalls = []string{"write", "getpid", "openat", "read", "close"}

// The probe's checks that go through its own inline `syscall`.
var trapSyscalls = []string{"getpid", "write"}

var _ = Describe("guest behaviour under vsysbed", func() {
	// A toolchain that quietly builds something else (Debian's musl-gcc
	// makes a dynamic PIE of -static-pie) would leave the static-pie
	// entries below testing a case we already have.
	DescribeTable("the static-pie probes are static PIEs",
		func(guest string) {
			f, err := elf.Open(filepath.Join(guestDir, guest))
			Expect(err).NotTo(HaveOccurred())
			defer f.Close()
			Expect(f.Type).To(Equal(elf.ET_DYN), "a PIE is ET_DYN")
			var kinds []elf.ProgType
			for _, p := range f.Progs {
				kinds = append(kinds, p.Type)
			}
			Expect(kinds).NotTo(ContainElement(elf.PT_INTERP), "a static PIE has no interpreter")
			Expect(kinds).To(ContainElement(elf.PT_DYNAMIC), "a static PIE relocates itself from its dynamic section")
		},
		Entry("musl", "vsyscall_probe-musl-static-pie"),
		Entry("glibc", "vsyscall_probe-glibc-static-pie"),
	)

	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			DescribeTable("vsyscall_probe finds and uses __kernel_vsyscall",
				func(guest string) {
					path := filepath.Join(guestDir, guest)
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					got := runVsysbed(nil, reportFlags(mode, reportPath), path, "--require-bypass")
					Expect(got.Status).To(Equal(0), "probe failed:\n%s", got)
					Expect(got.Stdout).To(ContainSubstring("OK vsyscall_probe bypass=yes\n"), "%s", got)

					r := loadReport(reportPath)
					checkReport(r, []string{path, "--require-bypass"}, 0)
					for _, name := range bypassSyscalls {
						Expect(sitesAt(r, "bypass", name, path)).NotTo(BeEmpty(),
							"no bypass site for %s in %s; sites: %+v", name, path, r.Sites)
						s, ok := syscallByName(r, name)
						Expect(ok).To(BeTrue(), "no %s in syscalls", name)
						Expect(s.Bypass).To(BeNumerically(">", 0), "%s bypass count", name)
					}
					for _, name := range trapSyscalls {
						Expect(sitesAt(r, "trap", name, path)).NotTo(BeEmpty(),
							"no trap site for %s in %s; sites: %+v", name, path, r.Sites)
					}
				},
				Entry("musl static", "vsyscall_probe-musl"),
				Entry("glibc static", "vsyscall_probe-glibc-static"),
				Entry("glibc dynamic", "vsyscall_probe-glibc"),
				Entry("musl static-pie", "vsyscall_probe-musl-static-pie"),
				Entry("glibc static-pie", "vsyscall_probe-glibc-static-pie"),
			)

			It("keeps the report of a guest killed by SIGSEGV", func() {
				path := filepath.Join(guestDir, "crash")
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), path)
				Expect(got.Status).To(Equal(128+11), "%s", got)
				Expect(got.Stdout).To(Equal("crash: about to dereference NULL\n"))
				expectNoPanic(got)
				r := loadReport(reportPath)
				Expect(r.Exit.Signal).To(Equal("SIGSEGV"))
				checkReport(r, []string{path}, got.Status)
			})

			It("returns exit_group's status and keeps stdout", func() {
				path := filepath.Join(guestDir, "exit42")
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), path)
				Expect(got.Status).To(Equal(42), "%s", got)
				Expect(got.Stdout).To(Equal("exit42: leaving with status 42\n"))
				checkReport(loadReport(reportPath), []string{path}, 42)
			})

		})
	}
})

func expectNoPanic(r result) {
	GinkgoHelper()
	Expect(r.Stderr).NotTo(ContainSubstring("goroutine "), "Go panic on stderr:\n%s", r)
	Expect(r.Stderr).NotTo(ContainSubstring("panic:"), "Go panic on stderr:\n%s", r)
}
