package e2e

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// vecregsRounds is ROUNDS in e2e/guests/vecregs.c: each raw syscall it
// checks runs at least that often (once per register width the CPU has).
const vecregsRounds = 1000

var _ = Describe("register state across a trapped or patched syscall", func() {
	var path string
	var native result
	BeforeEach(func() {
		path = filepath.Join(guestDir, "vecregs")
		native = run(nil, path)
		Expect(native.Status).To(Equal(0), "vecregs fails natively, so the kernel breaks it, not vsysbed:\n%s", native)
		Expect(native.Stdout).To(HaveSuffix("\nOK vecregs\n"), "%s", native)
	})

	// getpid=kernel sends the trap into the Go kernel (a cgo callback on
	// the guest thread) instead of the trampoline's own syscall.
	routes := []struct {
		name  string
		flags []string
	}{{"the fast route", nil}, {"--route getpid=kernel", []string{"--route", "getpid=kernel"}}}
	// --rewrite=off: every call a trap; lazy (the default): a site of the
	// known patterns goes through its stub after the first trap.
	for _, mode := range trapModes {
		for _, route := range routes {
			for _, rewrite := range []string{"off", "lazy"} {
				It("keeps every vector, x87 and control register with --trap "+mode+", "+route.name+" and --rewrite="+rewrite, func() {
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					flags := append(reportFlags(mode, reportPath), route.flags...)
					got := runVsysbed(nil, append(flags, "--rewrite="+rewrite), path)
					Expect(got.Status).To(Equal(0), "vecregs failed under vsysbed:\n%s", got)
					Expect(got.Stdout).To(Equal(native.Stdout), "native: %s\nvsysbed: %s", native, got)
					Expect(got.Stderr).To(Equal(native.Stderr))

					r := loadReport(reportPath)
					checkReport(r, []string{path}, 0)
					// The checks prove something only if the raw syscalls
					// really trapped, or went through a rewritten site (and
					// clock_gettime took the vDSO).
					kinds := []string{"trap"}
					if rewrite == "lazy" {
						kinds = append(kinds, "patched")
					}
					for _, name := range []string{"getpid", "write"} {
						var n int64
						for _, kind := range kinds {
							for _, s := range sitesAt(r, kind, name, path) {
								n += s.Count
							}
						}
						Expect(n).To(BeNumerically(">=", vecregsRounds),
							"%v %s calls from vecregs; sites: %+v", kinds, name, r.Sites)
					}
					cg, ok := syscallByName(r, "clock_gettime")
					Expect(ok).To(BeTrue(), "no clock_gettime in syscalls")
					Expect(cg.VDSO).To(BeNumerically(">=", vecregsRounds), "clock_gettime through the vDSO")
				})
			}
		}
	}
})
