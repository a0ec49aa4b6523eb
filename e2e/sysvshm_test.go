package e2e

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// System V shared memory: the sysvshm guest pins shmat/shmdt/shmctl
// semantics (addresses chosen and given, SHM_RND, SHM_REMAP, SHM_RDONLY,
// shm_nattch through fork, mprotect, munmap, exec and shmdt, IPC_RMID, the
// errors) and prints only deterministic lines: native Linux is the oracle,
// line for line, on both trap modes and on the ptrace platform.
var _ = Describe("System V shared memory", func() {
	guest := func() string { return filepath.Join(guestDir, "sysvshm") }

	compareWithNative := func(flags []string, reportPath string) {
		GinkgoHelper()
		native := run(nil, guest())
		Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
		// The guest's own check that it ran to the end.
		Expect(native.Stdout).To(HaveSuffix("done\n"), "native:\n%s", native)
		got := runVsysbed(nil, flags, guest())
		Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
		Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
		expectNoPanic(got)
		r := loadReport(reportPath)
		checkReport(r, []string{guest()}, native.Status)
		procs := loadProcesses(reportPath)
		checkProcessTree(r, procs, guest())
		// fork, detach, exec, split, part, tail, removed.
		Expect(procs).To(HaveLen(8), "processes: %+v", procs)
	}

	for _, mode := range trapModes {
		It("shmget, shmat, fork, shmdt and IPC_RMID as natively, with --trap "+mode, func() {
			reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
			compareWithNative(reportFlags(mode, reportPath), reportPath)
			// glibc's calls are raw syscalls: counted as traps.
			byName := countsByName(loadReport(reportPath))
			for _, name := range []string{"shmget", "shmat", "shmdt", "shmctl"} {
				Expect(byName[name].Trap).To(BeNumerically(">", 0), "%s is not in the report: %+v", name, byName)
			}
		})
	}

	It("shmget, shmat, fork, shmdt and IPC_RMID as natively, on the ptrace platform", func() {
		reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
		compareWithNative(ptraceFlags(reportPath), reportPath)
	})
})
