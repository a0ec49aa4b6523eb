package e2e

import (
	"path/filepath"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// --rewrite=lazy (ARCHITECTURE.md, "Rewritten call sites"): the rewrite
// guest's sites are the one pattern vsysbed rewrites. Its output is the
// same as natively with rewriting on and off (the red zone and the vector
// registers kept, signals whose handlers clobber the vector registers
// with and without SA_RESTART over rewritten calls, a blocking read
// restarted or interrupted, a site rewritten while a second thread
// lives, a fork child running the inherited rewritten
// code, an execve whose new image traps again), and the report says how
// each call entered: the first from a site a trap, the rest patched.
var _ = Describe("rewritten call sites (--rewrite)", func() {
	// Calls of rz_getpid in the guest: the first process (11 loops) and
	// its fork child (1) share the site's address; the image execve loads
	// is another, with a loop of its own.
	const loop = 20000
	sitesOf := func(r *coverage.Report, symbol string) map[string]map[string]uint64 {
		out := map[string]map[string]uint64{}
		for _, s := range r.Sites {
			if strings.HasPrefix(s.Symbol, symbol+"+") {
				if out[s.Address.String()] == nil {
					out[s.Address.String()] = map[string]uint64{}
				}
				out[s.Address.String()][s.Kind] += s.Count
			}
		}
		return out
	}
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": the same output, the first call from a site a trap and the rest patched", func() {
			guest := filepath.Join(guestDir, "rewrite")
			native := run(nil, guest)
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(ContainSubstring("fork child: 20000 calls ok\n"))
			Expect(native.Stdout).To(ContainSubstring("read no SA_RESTART: 1 'y', interrupted with EINTR, alarms yes\n"))
			Expect(native.Stdout).To(HaveSuffix("after exec: 20000 calls ok\n"))
			for _, mode := range []string{"lazy", "off"} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=" + mode, "--report", path}, guest)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "--rewrite=%s: native:\n%s\nvsysbed:\n%s", mode, native, got)
				Expect(got.Status).To(Equal(0), "--rewrite=%s: %s", mode, got)
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				sites := sitesOf(r, "rz_getpid")
				Expect(sites).To(HaveLen(2), "--rewrite=%s: rz_getpid's sites: %v", mode, sites)
				var counts [][2]uint64
				for _, k := range sites {
					counts = append(counts, [2]uint64{k[coverage.KindTrap], k[coverage.KindPatched]})
				}
				reads := sitesOf(r, "site_read")
				Expect(reads).To(HaveLen(1))
				row := syscallRow(r, "getpid")
				if mode == "off" {
					Expect(counts).To(ConsistOf([2]uint64{12 * loop, 0}, [2]uint64{loop, 0}), "--rewrite=off: every call a trap")
					Expect(r.Totals.Patched).To(BeZero())
					for _, k := range reads {
						Expect(k[coverage.KindPatched]).To(BeZero())
					}
					for _, k := range sitesOf(r, "mt_getpid") {
						Expect(k[coverage.KindTrap]).To(Equal(uint64(200)))
					}
					continue
				}
				// The first process's site traps once (its fork child
				// inherits the rewritten code: no trap there), the exec'd
				// image's once.
				Expect(counts).To(ConsistOf([2]uint64{1, 12*loop - 1}, [2]uint64{1, loop - 1}), "--rewrite=lazy: (trap, patched) at each site")
				for _, st := range r.TrapSites() {
					if strings.HasPrefix(st.Symbol, "rz_getpid+") {
						Expect(st.RewrittenAfter).To(Equal(uint64(1)), "rz_getpid: rewritten at its first trap: %+v", st)
					}
				}
				for _, k := range reads {
					Expect(k[coverage.KindTrap]).To(Equal(uint64(1)), "site_read: trapped once, then patched: %v", k)
					Expect(k[coverage.KindPatched]).To(BeNumerically(">=", 15))
				}
				// Rewritten while a second thread lives: at its first trap,
				// or a later power-of-two one if that thread was rewriting
				// a site of its own then.
				mt := sitesOf(r, "mt_getpid")
				Expect(mt).To(HaveLen(1))
				for _, k := range mt {
					Expect(k[coverage.KindTrap]+k[coverage.KindPatched]).To(Equal(uint64(200)), "mt_getpid: %v", k)
					Expect(k[coverage.KindTrap]).To(BeNumerically("<=", 64),
						"mt_getpid: 100 calls with two threads then 100 with one: %v", k)
				}
				Expect(row.Patched).To(BeNumerically(">=", 13*loop-2))
				Expect(r.Totals.Patched).To(BeNumerically(">=", row.Patched))
			}
		})
	}

	// `rewrite threads`: a fork child, then its parent, each starts a
	// second thread at once and calls mt_getpid 100 times while it lives
	// (100 more after). Every host process registers for the SYNC_CORE
	// membarrier before it has threads (tls/synccore.c): registered later,
	// in the background from the first rewrite, the registration took
	// 10-25 ms, and the child's site trapped 128 times before it was
	// rewritten.
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": a site called with two threads right after start is rewritten at its first trap, in a fork child too", func() {
			guest := filepath.Join(guestDir, "rewrite")
			native := run(nil, guest, "threads")
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(Equal(strings.Repeat("two threads: 200 calls ok\n", 2)))
			path := filepath.Join(GinkgoT().TempDir(), "R.json")
			got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=lazy", "--report", path}, guest, "threads")
			expectNoPanic(got)
			Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
			Expect(got.Status).To(Equal(0), "%s", got)
			r, err := coverage.Load(path)
			Expect(err).NotTo(HaveOccurred())
			mt := sitesOf(r, "mt_getpid")
			Expect(mt).To(HaveLen(1), "mt_getpid's sites: %v", mt)
			for _, k := range mt {
				Expect(k).To(Equal(map[string]uint64{coverage.KindTrap: 2, coverage.KindPatched: 398}),
					"mt_getpid in two processes: one trap each, then patched")
			}
			for _, st := range r.TrapSites() {
				if strings.HasPrefix(st.Symbol, "mt_getpid+") {
					Expect(st.RewrittenAfter).To(Equal(uint64(1)), "%+v", st)
				}
			}
		})
	}

	// The rewritemt guest's three sites (of each pattern) are hammered by
	// four threads while they are rewritten. VSYSBED_REWRITE_POKE_PAUSE=1
	// holds each step of the rewrite 10 ms, so the other threads run the
	// int3 (without the SIGTRAP redirect they die by it).
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": sites rewritten while other threads run them, every call counted once", func() {
			guest := filepath.Join(guestDir, "rewritemt")
			native := run(nil, guest)
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(Equal("4 threads x 20000 calls of each site: 0 wrong\n"))
			for _, c := range []struct {
				mode  string
				pause bool
			}{{"lazy", true}, {"lazy", false}, {"off", false}} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				var env []string
				if c.pause {
					env = append(envWithout("VSYSBED_REWRITE_POKE_PAUSE"), "VSYSBED_REWRITE_POKE_PAUSE=1")
				}
				got := runEnv(env, nil, vsysbedArgv([]string{"--trap", trap, "--rewrite=" + c.mode, "--report", path}, guest)...)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "%+v: %s", c, got)
				Expect(got.Status).To(Equal(0), "%+v: %s", c, got)
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				unknown := 0
				for _, st := range r.TrapSites() {
					if c.mode == "off" {
						Expect(st.RewrittenAfter).To(BeZero(), "%+v", st)
						Expect(st.NotRewritten).To(BeEmpty(), "%+v", st)
					} else if st.NotRewritten == "pattern unknown" {
						unknown++
					}
				}
				if c.mode == "lazy" {
					Expect(unknown).To(BeNumerically(">", 0), "glibc's start-up has sites of no known pattern")
				}
				for _, fn := range []string{"mt_getpid", "in_getppid", "di_getpgid"} {
					for _, st := range r.TrapSites() {
						if strings.HasPrefix(st.Symbol, fn+"+") && c.mode == "lazy" {
							Expect(st.RewrittenAfter).To(BeNumerically(">=", 1), "%+v: %+v", c, st)
							Expect(st.NotRewritten).To(BeEmpty(), "%+v: %+v", c, st)
						}
					}
					sites := sitesOf(r, fn)
					Expect(sites).To(HaveLen(1), "%+v: %s's sites: %v", c, fn, sites)
					for _, k := range sites {
						Expect(k[coverage.KindTrap]+k[coverage.KindPatched]).To(Equal(uint64(80000)), "%+v: %s: %v", c, fn, k)
						if c.mode == "off" {
							Expect(k[coverage.KindPatched]).To(BeZero(), "%s: %v", fn, k)
						} else {
							Expect(k[coverage.KindTrap]).To(BeNumerically(">=", 1), "%+v: %s: %v", c, fn, k)
							Expect(k[coverage.KindPatched]).To(BeNumerically(">=", 60000), "%+v: %s: %v", c, fn, k)
						}
					}
				}
			}
		})
	}

	It("is refused as a value other than off and lazy, and ignored with --platform=ptrace", func() {
		got := runVsysbed(nil, []string{"--rewrite=eager"}, filepath.Join(guestDir, "exit42"))
		Expect(got.Status).To(Equal(2), "%s", got)
		Expect(got.Stderr).To(ContainSubstring("--rewrite must be off or lazy"))
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got = runVsysbed(nil, []string{"--platform=ptrace", "--rewrite=lazy", "--report", path}, filepath.Join(guestDir, "exit42"))
		Expect(got.Status).To(Equal(42), "%s", got)
		Expect(got.Stderr).To(ContainSubstring("--rewrite=lazy is ignored with --platform=ptrace"))
	})
})
