package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tracing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// --rewrite with -e trace= and --inject (issue 15): a traced or injected
// number takes the kernel route, and a call from a site rewritten after
// its first trap goes there all the same. The bench guest's getpid
// wrapper is the function pattern (rewritten at its first trap), its
// inline raw syscall a short site (rewritten too since the short-site
// patterns), its __kernel_vsyscall loop a bypass. Each run is compared
// with the same run under --rewrite=off: the same calls traced, the same
// calls injected, the rewritten sites' calls said to be patched.
var _ = Describe("--rewrite=lazy with -e trace= and --inject", func() {
	const iterations = "100"
	bench := func() string { return filepath.Join(guestDir, "bench") }

	// siteCounts: the report's getpid calls by (site, kind), and the
	// injected ones among them.
	type siteKind struct{ site, kind string }
	siteCounts := func(r *coverage.Report) (calls, injected map[siteKind]uint64) {
		calls, injected = map[siteKind]uint64{}, map[siteKind]uint64{}
		for _, s := range r.Sites {
			if s.Syscall == "getpid" {
				k := siteKind{s.Address.String(), s.Kind}
				calls[k] += s.Count
				injected[k] += s.Injected
			}
		}
		return calls, injected
	}
	// traced: the trace's getpid records by (site, kind), and their
	// results (the guest's pid).
	traced := func(path string) (map[siteKind]uint64, map[int64]uint64) {
		f, err := os.Open(path)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		bySite, results := map[siteKind]uint64{}, map[int64]uint64{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec tracing.Record
			Expect(json.Unmarshal(sc.Bytes(), &rec)).To(Succeed(), "%s", sc.Text())
			if rec.Syscall != "getpid" {
				continue
			}
			bySite[siteKind{rec.Site, rec.Kind}]++
			Expect(rec.Result).NotTo(BeNil(), "%s", sc.Text())
			results[*rec.Result]++
		}
		Expect(sc.Err()).NotTo(HaveOccurred())
		return bySite, results
	}
	// byAddress folds (site, kind) counts into per-site totals.
	byAddress := func(m map[siteKind]uint64) map[string]uint64 {
		out := map[string]uint64{}
		for k, n := range m {
			out[k.site] += n
		}
		return out
	}
	// patchedSites: the sites the report counts patched calls at.
	patchedSites := func(calls map[siteKind]uint64) []string {
		var out []string
		for k, n := range calls {
			if k.kind == coverage.KindPatched && n > 0 {
				out = append(out, k.site)
			}
		}
		return out
	}

	It("is the default: the same report as --rewrite=lazy, --help says so, and ptrace says nothing of it unless asked", func() {
		dir := GinkgoT().TempDir()
		calls := map[string]map[siteKind]uint64{}
		for _, flags := range [][]string{nil, {"--rewrite=lazy"}, {"--rewrite=off"}} {
			name := strings.Join(flags, "")
			rp := filepath.Join(dir, "R"+name+".json")
			got := runVsysbed(nil, append([]string{"--report", rp}, flags...), bench(), iterations)
			Expect(got.Status).To(Equal(0), "%v: %s", flags, got)
			r, err := coverage.Load(rp)
			Expect(err).NotTo(HaveOccurred())
			calls[name], _ = siteCounts(r)
		}
		Expect(calls[""]).To(Equal(calls["--rewrite=lazy"]), "the default against --rewrite=lazy")
		Expect(calls[""]).NotTo(Equal(calls["--rewrite=off"]), "the default against --rewrite=off")
		Expect(patchedSites(calls[""])).NotTo(BeEmpty())

		help := run(nil, vsysbedBin, "run", "--help")
		Expect(help.Stdout).To(MatchRegexp(`(?m)^  -rewrite lazy\n(.*\n)*?.*\(default "lazy"\)$`), "%s", help)

		exit42 := filepath.Join(guestDir, "exit42")
		for _, flags := range [][]string{nil, {"--rewrite=off"}} {
			got := runVsysbed(nil, append([]string{"--platform=ptrace", "--report", filepath.Join(dir, "P.json")}, flags...), exit42)
			Expect(got.Status).To(Equal(42), "%v: %s", flags, got)
			Expect(got.Stderr).NotTo(ContainSubstring("--rewrite"), "%v: %s", flags, got)
		}
	})

	for _, trap := range trapModes {
		It("with --trap "+trap+": -e trace=getpid traces every call of a rewritten site, said to be patched, as --rewrite=off traces it", func() {
			dir := GinkgoT().TempDir()
			type side struct {
				calls  map[siteKind]uint64
				trace  map[siteKind]uint64
				result map[int64]uint64
			}
			runs := map[string]side{}
			for _, mode := range []string{"off", "lazy"} {
				rp, tp := filepath.Join(dir, mode+".json"), filepath.Join(dir, mode+".jsonl")
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=" + mode, "--report", rp,
					"-e", "trace=getpid", "--trace-format", "jsonl", "-o", tp}, bench(), iterations)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "--rewrite=%s: %s", mode, got)
				r, err := coverage.Load(rp)
				Expect(err).NotTo(HaveOccurred())
				var s side
				s.calls, _ = siteCounts(r)
				s.trace, s.result = traced(tp)
				// Every call the report counts is traced, at its site and
				// with its kind.
				Expect(s.trace).To(Equal(s.calls), "--rewrite=%s: trace records against the report's sites", mode)
				runs[mode] = s
			}
			off, lazy := runs["off"], runs["lazy"]
			Expect(patchedSites(off.calls)).To(BeEmpty())
			Expect(patchedSites(lazy.calls)).NotTo(BeEmpty(), "the wrapper's site (at least) rewritten: %v", lazy.calls)
			for _, site := range patchedSites(lazy.calls) {
				Expect(lazy.trace[siteKind{site, coverage.KindPatched}]).To(BeNumerically(">=", 100),
					"the rewritten site's calls traced as patched: %v", lazy.trace)
			}
			Expect(byAddress(lazy.trace)).To(Equal(byAddress(off.trace)), "the same calls traced, site by site")
			// Each run's getpid calls all return its pid: one value, as
			// many times in both.
			var n [2]uint64
			for i, s := range []side{off, lazy} {
				Expect(s.result).To(HaveLen(1), "getpid's results %v", s.result)
				for pid, calls := range s.result {
					Expect(pid).To(BeNumerically(">", 0))
					n[i] = calls
				}
			}
			Expect(n[1]).To(Equal(n[0]), "getpid calls traced with --rewrite=lazy and off")
		})

		It("with --trap "+trap+": --inject getpid:error=EPERM changes every call of a rewritten site, counted there, as with --rewrite=off", func() {
			dir := GinkgoT().TempDir()
			type side struct{ calls, injected map[siteKind]uint64 }
			runs := map[string]side{}
			for _, mode := range []string{"off", "lazy"} {
				rp := filepath.Join(dir, mode+".json")
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=" + mode, "--report", rp,
					"--inject", "getpid:error=EPERM"}, bench(), iterations)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "--rewrite=%s: %s", mode, got)
				r, err := coverage.Load(rp)
				Expect(err).NotTo(HaveOccurred())
				var s side
				s.calls, s.injected = siteCounts(r)
				// Every call changed, and counted where it was made.
				Expect(s.injected).To(Equal(s.calls), "--rewrite=%s: injected calls against the report's sites", mode)
				row := syscallRow(r, "getpid")
				Expect(row.Injected).To(Equal(row.Total), "--rewrite=%s: %+v", mode, row)
				Expect(row.Errors).To(Equal(row.Total), "--rewrite=%s: every getpid failed: %+v", mode, row)
				runs[mode] = s
			}
			off, lazy := runs["off"], runs["lazy"]
			Expect(patchedSites(off.calls)).To(BeEmpty())
			Expect(patchedSites(lazy.calls)).NotTo(BeEmpty(), "the wrapper's site (at least) rewritten: %v", lazy.calls)
			for _, site := range patchedSites(lazy.calls) {
				Expect(lazy.injected[siteKind{site, coverage.KindPatched}]).To(BeNumerically(">=", 100),
					"the rewritten site's calls injected: %v", lazy.injected)
			}
			Expect(byAddress(lazy.injected)).To(Equal(byAddress(off.injected)), "the same calls injected, site by site")
		})
	}
})
