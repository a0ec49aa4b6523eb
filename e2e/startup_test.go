package e2e

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/probecache"
	"github.com/vsysbed/vsysbed/rundir"
)

// The code-range probe (a re-exec of vsysbed that tells where forked host
// processes keep their code) runs once per vsysbed binary and system: its
// answer is cached under $XDG_CACHE_HOME/vsysbed (internal/probecache).
// Each run's event log says whether its probe ran ("probed") or the cache
// answered ("cached"), and `run -v` prints it in the timing line.
var _ = Describe("start-up: the probe cache", func() {
	var cache string
	BeforeEach(func() {
		cache = GinkgoT().TempDir()
	})

	// startupRun runs `vsysbed run -v --keep-rundir` of argv with
	// XDG_CACHE_HOME=cache (and extra env), checks its report is complete
	// and returns the probe's note from the event log.
	startupRun := func(extra []string, argv ...string) string {
		GinkgoHelper()
		env := []string{"XDG_CACHE_HOME=" + cache}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "XDG_CACHE_HOME=") && !strings.HasPrefix(e, probecache.EnvVar+"=") {
				env = append(env, e)
			}
		}
		env = append(env, extra...)
		reportPath := filepath.Join(GinkgoT().TempDir(), "report.json")
		got := runEnv(env, nil, vsysbedArgv([]string{"-v", "--keep-rundir", "--trap", "seccomp", "--report", reportPath}, argv...)...)
		Expect(got.Status).To(Equal(0), "%s", got)
		checkReport(loadReport(reportPath), argv, 0)
		dir := runDirOf(got.Stderr)
		events, err := rundir.ReadEvents(filepath.Join(dir, rundir.EventsFile))
		Expect(err).NotTo(HaveOccurred())
		var notes []string
		seen := map[string]bool{}
		for _, e := range events {
			if e.Ev == coverage.EvPhase {
				seen[e.Phase] = true
				if e.Phase == rundir.PhaseProbed {
					notes = append(notes, e.Note)
				}
			}
		}
		for _, p := range []string{rundir.PhaseExec, rundir.PhaseMain, rundir.PhaseSpawn, rundir.PhaseHost, rundir.PhaseProbe,
			rundir.PhaseVDSO, rundir.PhaseLoad, rundir.PhaseGuest, rundir.PhaseReaped, rundir.PhaseBuilt, rundir.PhaseReport} {
			Expect(seen).To(HaveKey(p), "no %q phase in the event log", p)
		}
		// Only the first host process probes: forked ones inherit the filter.
		Expect(notes).To(HaveLen(1), "probe records: %v", notes)
		Expect(got.Stderr).To(MatchRegexp(`vsysbed: timing: .*probe [0-9.]+ms \(` + notes[0] + `\).*, total [0-9.]+ms`))
		return notes[0]
	}
	entries := func() []string {
		GinkgoHelper()
		m, err := filepath.Glob(filepath.Join(cache, "vsysbed", "probe-*"))
		Expect(err).NotTo(HaveOccurred())
		return m
	}

	It("probes on the first run only, and forks work with the cached ranges", func() {
		Expect(startupRun(nil, "/bin/true")).To(Equal("probed"))
		Expect(entries()).To(HaveLen(1))
		Expect(startupRun(nil, "/bin/true")).To(Equal("cached"))
		// A forked host process's code must lie inside the cached ranges, or
		// its first syscall dies by SIGSYS.
		Expect(startupRun(nil, "/bin/sh", "-c", "/bin/true; /bin/true | /bin/cat; exit 0")).To(Equal("cached"))
		Expect(entries()).To(HaveLen(1))
	})

	It("probes again after a corrupt cache file, and with the cache off", func() {
		Expect(startupRun(nil, "/bin/true")).To(Equal("probed"))
		files := entries()
		Expect(files).To(HaveLen(1))
		good, err := os.ReadFile(files[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(files[0], []byte(strings.Replace(string(good), "range ", "range 1", 1)), 0o644)).To(Succeed())
		Expect(startupRun(nil, "/bin/sh", "-c", "/bin/true; exit 0")).To(Equal("probed"))
		again, err := os.ReadFile(files[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(again)).To(Equal(string(good)), "the probe's answer replaces the corrupt file")
		Expect(startupRun([]string{probecache.EnvVar + "=off"}, "/bin/true")).To(Equal("probed"))
		Expect(startupRun(nil, "/bin/true")).To(Equal("cached"))
	})
})
