package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The time each call took (--timing, docs/report-schema.md "Time"): the
// bench guest's getpid through __kernel_vsyscall, as a raw syscall and
// through a wrapper, in both trap modes. What is checked is what holds on
// any machine: every timed kind has a positive total and mean, a trap
// costs more than a bypass, the sites' times add up to their syscall's,
// and "what to patch next" puts the trapped getpid loops first; never a
// figure.
var _ = Describe("time per call (--timing)", func() {
	const iterations = "3000"
	bench := func() string { return filepath.Join(guestDir, "bench") }
	load := func(path string) *coverage.Report {
		r, err := coverage.Load(path)
		Expect(err).NotTo(HaveOccurred())
		return r
	}
	// plausible is what a timed getpid row must show; the machine may be
	// loaded (a descheduling inside one loop raises its mean), so a run is
	// tried again, up to 5 times, before the comparison fails.
	plausible := func(row coverage.SyscallRow) bool {
		return row.MeanNs.Trap > row.MeanNs.Bypass
	}
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": times per syscall and site, trap above bypass, and what to patch next", func() {
			var r *coverage.Report
			var row coverage.SyscallRow
			for attempt := 0; attempt < 5; attempt++ {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				// About traps: each getpid call one (the default rewrites).
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=off", "--report", path}, bench(), iterations)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "%s", got)
				r = load(path)
				Expect(r.Timing).NotTo(BeNil())
				row = syscallRow(r, "getpid")
				Expect(row.TimeNs.Bypass).To(BeNumerically(">", 0))
				Expect(row.TimeNs.Trap).To(BeNumerically(">", 0))
				if plausible(row) {
					break
				}
			}
			Expect(r.Timing.TSCHz).To(BeNumerically(">", 100e6), "a TSC below 100 MHz")
			Expect(r.Timing.TSCSource).To(BeElementOf("cpuid", "measured"))
			Expect(row.Bypass).To(BeNumerically(">=", 3000))
			Expect(row.Trap).To(BeNumerically(">=", 6000))
			Expect(row.MeanNs.Bypass).To(Equal(row.TimeNs.Bypass / row.Bypass))
			Expect(row.MeanNs.Trap).To(BeNumerically(">", row.MeanNs.Bypass), "a trap must cost more than a bypass (5 runs): %+v", row.MeanNs)
			Expect(row.MeanNs.Trap).To(BeNumerically("<", 1e9), "a getpid trap of a second")
			Expect(row.TimeNs.Patched).To(BeZero(), "--rewrite=off: nothing patched, nothing timed as patched")
			Expect(r.Totals.TimeNs.Trap).To(BeNumerically(">=", row.TimeNs.Trap))

			// The sites' times add up to the syscall's (each converted on its
			// own: one ns of rounding a site).
			var sum, sites uint64
			for _, s := range r.Sites {
				if s.Syscall == "getpid" && s.Kind == coverage.KindTrap {
					Expect(s.TimeNs).To(BeNumerically(">", 0), "site %s", s.Symbol)
					Expect(s.MeanNs).To(Equal(s.TimeNs / s.Count))
					sum += s.TimeNs
					sites++
				}
				if s.Kind == coverage.KindVDSO {
					Expect(s.TimeNs).To(BeZero(), "a vDSO call is not timed")
				}
			}
			Expect(sum).To(BeNumerically("~", row.TimeNs.Trap, sites))

			// What to patch next: the raw loops (a helper inlined into two
			// functions) and the wrapper, getpid's trapped calls, first.
			Expect(len(r.PatchNext)).To(BeNumerically(">=", 2))
			var top []string
			for _, g := range r.PatchNext[:2] {
				Expect(g.SavingNs).To(BeNumerically(">", 0), "%+v", g)
				Expect(g.TimeNs).To(BeNumerically(">", 0), "%+v", g)
				Expect(g.Calls).To(BeNumerically(">=", 3000))
				top = append(top, g.Kind)
			}
			Expect(top).To(ContainElement(coverage.PatchWrappers))
			for i := 1; i < len(r.PatchNext); i++ {
				Expect(r.PatchNext[i].SavingNs).To(BeNumerically("<=", r.PatchNext[i-1].SavingNs))
			}
		})
	}

	It("with --rewrite=lazy: the patched calls are timed as patched", func() {
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, []string{"--rewrite=lazy", "--report", path}, bench(), iterations)
		Expect(got.Status).To(Equal(0), "%s", got)
		row := syscallRow(load(path), "getpid")
		Expect(row.Patched).To(BeNumerically(">=", 2999))
		Expect(row.TimeNs.Patched).To(BeNumerically(">", 0))
		Expect(row.MeanNs.Patched).To(Equal(row.TimeNs.Patched / row.Patched))
	})

	It("with --timing=off: the same counts, no time anywhere", func() {
		dir := GinkgoT().TempDir()
		on, off := filepath.Join(dir, "on.json"), filepath.Join(dir, "off.json")
		Expect(runVsysbed(nil, []string{"--report", on}, bench(), iterations).Status).To(Equal(0))
		got := runVsysbed(nil, []string{"--timing=off", "--report", off}, bench(), iterations)
		Expect(got.Status).To(Equal(0), "%s", got)
		b, err := os.ReadFile(off)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).NotTo(ContainSubstring(`"time_ns"`))
		Expect(string(b)).NotTo(ContainSubstring(`"mean_ns"`))
		Expect(string(b)).NotTo(ContainSubstring(`"timing"`))
		var raw map[string]json.RawMessage
		Expect(json.Unmarshal(b, &raw)).To(Succeed())
		Expect(raw).To(HaveKey("patch_next"), "the groups stand without times, by calls")
		ron, roff := load(on), load(off)
		Expect(syscallRow(roff, "getpid").Trap).To(Equal(syscallRow(ron, "getpid").Trap))
		Expect(syscallRow(roff, "getpid").Bypass).To(Equal(syscallRow(ron, "getpid").Bypass))
		Expect(syscallRow(roff, "getpid").Patched).To(Equal(syscallRow(ron, "getpid").Patched))
		for _, g := range roff.PatchNext {
			Expect(g.SavingNs).To(BeZero())
		}

		text := runVsysbed(nil, []string{"--timing=off", "--format", "text"}, bench(), iterations)
		Expect(text.Stderr).NotTo(ContainSubstring("time in calls"))
		Expect(text.Stderr).To(ContainSubstring("what to patch next"))
		// A fork child's host process is told too.
		fork := filepath.Join(dir, "fork.json")
		got = runVsysbed(nil, []string{"--timing=off", "--report", fork}, filepath.Join(guestDir, "forker"))
		Expect(got.Status).To(Equal(0), "%s", got)
		Expect(load(fork).Processes).To(HaveLen(2))
		b, err = os.ReadFile(fork)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).NotTo(ContainSubstring(`"time_ns"`))

		bad := runVsysbed(nil, []string{"--timing=sometimes"}, bench(), iterations)
		Expect(bad.Status).To(Equal(2))
		Expect(strings.Count(bad.Stderr, "--timing must be on or off")).To(Equal(1))
	})

	It("times the calls of a fork child's host process too, and none on --platform=ptrace", func() {
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, []string{"--report", path}, filepath.Join(guestDir, "forker"))
		Expect(got.Status).To(Equal(0), "%s", got)
		r := load(path)
		Expect(r.Processes).To(HaveLen(2))
		// Each process's sites are its own (its pid's): both have timed ones.
		Expect(r.Totals.TimeNs.Bypass + r.Totals.TimeNs.Trap).To(BeNumerically(">", 0))
		timed := 0
		for _, s := range r.Sites {
			if s.Kind != coverage.KindVDSO && s.Syscall != "exit_group" && s.Syscall != "exit" {
				Expect(s.TimeNs).To(BeNumerically(">", 0), "site %+v", s)
				timed++
			}
		}
		Expect(timed).To(BeNumerically(">", 2))

		got = runVsysbed(nil, []string{"--platform=ptrace", "--report", path}, bench(), "100")
		Expect(got.Status).To(Equal(0), "%s", got)
		r = load(path)
		Expect(r.Timing).To(BeNil(), "nothing is timed on the ptrace platform")
		Expect(r.Totals.TimeNs).To(BeZero())
	})

	It("vsysbed calibrate prints its table, and later reports record it", func() {
		cache := GinkgoT().TempDir()
		env := []string{"XDG_CACHE_HOME=" + cache}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "XDG_CACHE_HOME=") && !strings.HasPrefix(e, "VSYSBED_PROBE_CACHE=") {
				env = append(env, e)
			}
		}
		got := runEnv(env, nil, vsysbedBin, "calibrate", "--bench", bench(), "--iterations", "2000")
		Expect(got.Status).To(Equal(0), "%s", got)
		rows := map[string]float64{}
		for _, l := range strings.Split(got.Stdout, "\n") {
			f := strings.Fields(l)
			if len(f) < 3 || !strings.HasSuffix(f[len(f)-1], "x") {
				continue
			}
			v, err := strconv.ParseFloat(f[len(f)-2], 64)
			Expect(err).NotTo(HaveOccurred(), "line %q", l)
			rows[strings.Join(f[:len(f)-2], " ")] = v
		}
		for _, path := range []string{coverage.PathNative, coverage.PathBypassFast, coverage.PathBypassGo,
			coverage.PathTrap, coverage.PathTrapSUD, coverage.PathPatched, "ptrace stop",
			"FS switch, arch_prctl", "cgo call (Go to C)", "cgo callback (C to Go)"} {
			Expect(rows).To(HaveKey(path), "calibrate's table:\n%s", got.Stdout)
			Expect(rows[path]).To(BeNumerically(">", 0), "%s", path)
		}
		Expect(rows[coverage.PathTrap]).To(BeNumerically(">", rows[coverage.PathNative]), "a trap dearer than a native syscall")
		Expect(got.Stdout).To(ContainSubstring("cached for this machine"))

		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		run := runEnv(env, nil, vsysbedArgv([]string{"--report", path}, bench(), "100")...)
		Expect(run.Status).To(Equal(0), "%s", run)
		r := load(path)
		Expect(r.Timing).NotTo(BeNil())
		Expect(r.Timing.CostsFrom).NotTo(BeEmpty())
		ns, ok := r.Timing.Cost(coverage.PathTrap)
		Expect(ok).To(BeTrue(), "costs %+v", r.Timing.Costs)
		Expect(ns).To(BeNumerically("~", rows[coverage.PathTrap], 0.1))
	})
})
