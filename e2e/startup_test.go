package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/probecache"
	"github.com/vsysbed/vsysbed/internal/symcache"
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

// The report's symbolisation (function and line per site) is cached per
// object by build-id under $XDG_CACHE_HOME/vsysbed (internal/symcache):
// the next report naming sites in the same libc never parses it again.
var _ = Describe("start-up: the symbol cache", func() {
	var cache string
	BeforeEach(func() {
		cache = GinkgoT().TempDir()
	})

	// symbolRunFlags runs `vsysbed run FLAGS` of argv with
	// XDG_CACHE_HOME=cache (and extra env) and returns its complete
	// report's sites.
	symbolRunFlags := func(flags, extra []string, argv ...string) []coverage.Site {
		GinkgoHelper()
		env := []string{"XDG_CACHE_HOME=" + cache}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "XDG_CACHE_HOME=") && !strings.HasPrefix(e, symcache.EnvVar+"=") {
				env = append(env, e)
			}
		}
		env = append(env, extra...)
		reportPath := filepath.Join(GinkgoT().TempDir(), "report.json")
		got := runEnv(env, nil, vsysbedArgv(append(flags, "--report", reportPath), argv...)...)
		Expect(got.Status).To(Equal(0), "%s", got)
		checkReport(loadReport(reportPath), argv, 0)
		data, err := os.ReadFile(reportPath)
		Expect(err).NotTo(HaveOccurred())
		var r coverage.Report
		Expect(json.Unmarshal(data, &r)).To(Succeed())
		return r.Sites
	}
	// symbolRun is symbolRunFlags with --trap seccomp.
	symbolRun := func(extra []string, argv ...string) []coverage.Site {
		GinkgoHelper()
		return symbolRunFlags([]string{"--trap", "seccomp"}, extra, argv...)
	}
	entries := func() []string {
		GinkgoHelper()
		m, err := filepath.Glob(filepath.Join(cache, "vsysbed", "symbols-*"))
		Expect(err).NotTo(HaveOccurred())
		return m
	}
	// where is what symbolisation says of each site, by object and
	// offset, without its address and times: the ptrace platform's guest
	// runs with address randomisation, and times differ from run to run.
	where := func(sites []coverage.Site) []string {
		var out []string
		for _, s := range sites {
			out = append(out, fmt.Sprintf("%s+%#x %s %s: %s %s %s:%d (%d)",
				s.Object, uint64(s.Offset), s.Kind, s.Syscall, s.BuildID, s.Symbol, s.File, s.Line, s.Count))
		}
		sort.Strings(out)
		return out
	}
	named := func(sites []coverage.Site) int {
		n := 0
		for _, s := range sites {
			if s.Function != "" {
				n++
			}
		}
		return n
	}

	It("names the sites from the cache as it named them from the objects", func() {
		first := symbolRun(nil, "/bin/true")
		Expect(named(first)).To(BeNumerically(">", 0), "no site named: %+v", first)
		files := entries()
		Expect(files).NotTo(BeEmpty(), "no symbols- file after a run")
		Expect(where(symbolRun(nil, "/bin/true"))).To(Equal(where(first)))
		Expect(entries()).To(Equal(files))
		// Another program's sites in the same objects are added, not a new file per run.
		Expect(symbolRun(nil, "/bin/sh", "-c", "echo x >/dev/null; exit 0")).NotTo(BeEmpty())
		Expect(where(symbolRun(nil, "/bin/true"))).To(Equal(where(first)))
		off := symbolRun([]string{symcache.EnvVar + "=off"}, "/bin/true")
		Expect(where(off)).To(Equal(where(first)), "the cache changed the report")
	})

	for _, flags := range [][]string{{"--trap", "sud"}, {"--platform=ptrace"}} {
		It("names the sites from the cache as without it, "+strings.Join(flags, " "), func() {
			off := symbolRunFlags(flags, []string{symcache.EnvVar + "=off"}, "/bin/sh", "-c", "exit 0")
			Expect(entries()).To(BeEmpty())
			Expect(named(off)).To(BeNumerically(">", 0), "no site named: %+v", off)
			Expect(where(symbolRunFlags(flags, nil, "/bin/sh", "-c", "exit 0"))).To(Equal(where(off)), "parsed, stored")
			Expect(entries()).NotTo(BeEmpty())
			Expect(where(symbolRunFlags(flags, nil, "/bin/sh", "-c", "exit 0"))).To(Equal(where(off)), "from the cache")
		})
	}

	It("ignores and rewrites a corrupt file, and writes none when off", func() {
		first := symbolRun(nil, "/bin/true")
		files := entries()
		Expect(files).NotTo(BeEmpty())
		good := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			good[f] = string(b)
			Expect(os.WriteFile(f, []byte(strings.Replace(string(b), "\"", "'", 2)), 0o644)).To(Succeed())
		}
		Expect(where(symbolRun(nil, "/bin/true"))).To(Equal(where(first)))
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal(good[f]), "%s not rewritten", f)
		}

		other := GinkgoT().TempDir()
		cache = other
		Expect(where(symbolRun([]string{symcache.EnvVar + "=off"}, "/bin/true"))).To(Equal(where(first)))
		Expect(entries()).To(BeEmpty(), "files written with the cache off")
	})
})

// A run's own clean-up of stale run directories reads the registry its
// user's runs keep in the cache directory (tracer.GCRegistered), not all
// of $TMPDIR: an entry lives while its run directory does.
var _ = Describe("start-up: the run directory registry", func() {
	It("registers a run while it runs and forgets it when its directory goes; a killed run's is removed by the next", func() {
		tmp, cache := GinkgoT().TempDir(), GinkgoT().TempDir()
		GinkgoT().Setenv("XDG_CACHE_HOME", cache) // startTree's environment is ours
		reg := filepath.Join(cache, "vsysbed", "runs")
		registered := func() []string {
			GinkgoHelper()
			ents, err := os.ReadDir(reg)
			Expect(err).NotTo(HaveOccurred(), "registry %s", reg)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			return names
		}
		env := append(os.Environ(), "TMPDIR="+tmp)
		reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
		r := runEnv(env, nil, vsysbedArgv([]string{"--report", reportPath}, "/bin/true")...)
		Expect(r.Status).To(Equal(0), "%s", r)
		left, err := os.ReadDir(tmp)
		Expect(err).NotTo(HaveOccurred())
		Expect(left).To(BeEmpty(), "a run leaves nothing in TMPDIR")
		Expect(registered()).To(BeEmpty())

		t := startTree(tmp, vsysbedArgv(nil, "sleep", "30"), "")
		pids := waitTree(t, 2)
		Expect(registered()).To(HaveLen(1))
		Expect(runDirs(tmp)).To(HaveLen(1))
		entry, err := os.ReadFile(filepath.Join(reg, registered()[0]))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(entry)).To(Equal(runDirs(tmp)[0]+"\n"), "the entry names the run directory")
		Expect(t.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		t.wait("SIGKILL of vsysbed")
		expectNoneLeft(pids)
		Expect(registered()).To(HaveLen(1), "a killed supervisor cannot forget its run")

		r = runEnv(env, nil, vsysbedArgv([]string{"--report", reportPath}, "/bin/true")...)
		Expect(r.Status).To(Equal(0), "%s", r)
		Expect(runDirs(tmp)).To(BeEmpty(), "the next run removes the killed run's directory")
		Expect(registered()).To(BeEmpty())
	})
})
