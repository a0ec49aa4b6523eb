package e2e

import (
	"os"
	"os/user"
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

	// compareWithNative runs the guest natively and under vsysbed with
	// flags(report path), as the suite's user or, when as is not "", as
	// that user, both times (SHM_LOCK's answer depends on who asks).
	compareWithNative := func(flags func(string) []string, as string) report {
		GinkgoHelper()
		dir := worldDir()
		reportPath := filepath.Join(dir, "R.json")
		g, vs := guest(), vsysbedBin
		nativeArgv := []string{g}
		if as != "" {
			g, vs = worldCopy(dir, g), worldCopy(dir, vsysbedBin)
			nativeArgv = asUser(as, dir, g)
		}
		native := run(nil, nativeArgv...)
		Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
		// The guest's own check that it ran to the end.
		Expect(native.Stdout).To(HaveSuffix("done\n"), "native:\n%s", native)
		argv := append(append([]string{vs, "run"}, flags(reportPath)...), "--", g)
		if as != "" {
			argv = asUser(as, dir, argv...)
		}
		got := run(nil, argv...)
		Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
		Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
		expectNoPanic(got)
		r := loadReport(reportPath)
		checkReport(r, []string{g}, native.Status)
		procs := loadProcesses(reportPath)
		checkProcessTree(r, procs, g)
		// read-only, fork, detach, exec, posix_spawn, split, part, tail,
		// removed.
		Expect(procs).To(HaveLen(10), "processes: %+v", procs)
		return r
	}

	for _, mode := range trapModes {
		mode := mode
		flags := func(path string) []string { return reportFlags(mode, path) }
		It("shmget, shmat, fork, shmdt and IPC_RMID as natively, with --trap "+mode, func() {
			r := compareWithNative(flags, "")
			// glibc's calls are raw syscalls: counted as traps.
			byName := countsByName(r)
			for _, name := range []string{"shmget", "shmat", "shmdt", "shmctl"} {
				Expect(byName[name].Trap).To(BeNumerically(">", 0), "%s is not in the report: %+v", name, byName)
			}
		})
		// Without CAP_SYS_ADMIN the fork child has no map_files to fall
		// back on: its attachments are its own shmat's alone.
		It("shmget, shmat, fork, shmdt and IPC_RMID as natively, as an unprivileged user, with --trap "+mode, func() {
			u := unprivileged()
			if u == "" {
				Skip("needs root and the user nobody to run as an unprivileged user")
			}
			compareWithNative(flags, u)
		})
	}

	It("shmget, shmat, fork, shmdt and IPC_RMID as natively, on the ptrace platform", func() {
		compareWithNative(ptraceFlags, "")
	})
})

// unprivileged is a user the suite can run programs as (the suite runs as
// root in CI): "" when it cannot.
func unprivileged() string {
	if os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("nobody"); err != nil {
		return ""
	}
	return "nobody"
}

// asUser is argv run as user with TMPDIR set (runuser keeps the rest of
// the environment).
func asUser(user, tmpdir string, argv ...string) []string {
	return append([]string{"/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "TMPDIR=" + tmpdir}, argv...)
}

// worldDir is a fresh directory anyone may write in, removed after the
// spec (in /tmp: the suite's own temporary directories are root's alone).
func worldDir() string {
	GinkgoHelper()
	dir, err := os.MkdirTemp("/tmp", "vsysbed-e2e-world-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	Expect(os.Chmod(dir, 0o777)).To(Succeed())
	return dir
}

// worldCopy copies the executable at path into dir (a worldDir) for a user
// who may not reach the original: a checkout under /root, say. vsysbed
// re-executes itself through /proc/self/exe, so its copy runs as well.
func worldCopy(dir, path string) string {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	to := filepath.Join(dir, filepath.Base(path))
	Expect(os.WriteFile(to, b, 0o755)).To(Succeed())
	return to
}

// Shared mappings — anonymous, of a memfd, of an unlinked file — must stay
// shared with fork children, which are other host processes: without
// CAP_SYS_ADMIN they cannot reopen the objects through
// /proc/self/map_files, so the unprivileged run is the one that tells.
var _ = Describe("shared mappings across fork", func() {
	guest := func() string { return filepath.Join(guestDir, "sharedanon") }
	for _, mode := range trapModes {
		for _, who := range []string{"the suite's user", "an unprivileged user"} {
			It("is shared with children and grandchildren as natively, as "+who+", with --trap "+mode, func() {
				native := run(nil, guest())
				Expect(native.Status).To(Equal(0), "the native run failed:\n%s", native)
				Expect(native.Stdout).To(HaveSuffix("done\n"), "native:\n%s", native)
				dir := worldDir()
				reportPath := filepath.Join(dir, "R.json")
				argv := vsysbedArgv(reportFlags(mode, reportPath), guest())
				if who == "an unprivileged user" {
					u := unprivileged()
					if u == "" {
						Skip("needs root and the user nobody to run as an unprivileged user")
					}
					argv[0], argv[len(argv)-1] = worldCopy(dir, vsysbedBin), worldCopy(dir, guest())
					argv = asUser(u, dir, argv...)
				}
				got := run(nil, argv...)
				Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
				Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
				expectNoPanic(got)
				r := loadReport(reportPath)
				checkReport(r, []string{guest()}, 0)
				// 8 families of a child and a grandchild.
				Expect(loadProcesses(reportPath)).To(HaveLen(17))
			})
		}
	}
})
