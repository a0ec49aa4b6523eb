package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// --rewrite=lazy's short sites (kernelsim/rewriteshort.go; ARCHITECTURE.md,
// "Rewritten call sites"): the rewriteshort guest's sites are glibc's read
// byte for byte (both of its paths) and a `xor %edi,%edi; syscall`. Its
// output is the same as natively with rewriting on and off, every call
// after a site's first trap is patched, the interval timer's signals
// found the thread in a stub (the guest says so on stderr: the span's
// signal case happened), and sites rewritten while four threads run them
// count every call once.
var _ = Describe("rewritten short call sites (--rewrite)", func() {
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
	inStub := regexp.MustCompile(`rewriteshort: alarms in a stub (\d+),`)
	stubAlarms := func(stderr string) int {
		m := inStub.FindStringSubmatch(stderr)
		Expect(m).NotTo(BeNil(), "the guest's alarm line: %s", stderr)
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// The fewest calls of each site in one run (the handlers' calls come on
	// top): the two loops, the six loops under alarms and the fork child's
	// loop, by path.
	const loop = 20000
	least := map[string]uint64{"sh_read+0xb": 8 * loop, "sh_read+0x4a": 7 * loop, "sh_getpgid0": 15 * loop}

	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": the same output, each site trapping once, alarms in its stub", func() {
			guest := filepath.Join(guestDir, "rewriteshort")
			native := run(nil, guest)
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(ContainSubstring("read no SA_RESTART: 1 'y', interrupted with EINTR, alarms yes\n"))
			Expect(native.Stdout).To(HaveSuffix("fork child: 20000 calls ok\n"))
			Expect(stubAlarms(native.Stderr)).To(BeZero())
			for _, mode := range []string{"lazy", "off"} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=" + mode, "--report", path}, guest)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "--rewrite=%s: native:\n%s\nvsysbed:\n%s", mode, native, got)
				Expect(got.Status).To(Equal(0), "--rewrite=%s: %s", mode, got)
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				found := map[string]bool{}
				for _, fn := range []string{"sh_read", "sh_getpgid0"} {
					for _, s := range r.Sites {
						if !strings.HasPrefix(s.Symbol, fn+"+") {
							continue
						}
						key := s.Symbol
						if fn == "sh_getpgid0" {
							key = fn
						}
						found[key] = true
						k := sitesOf(r, fn)[s.Address.String()]
						if mode == "off" {
							Expect(k[coverage.KindPatched]).To(BeZero(), "%s: %v", s.Symbol, k)
							Expect(k[coverage.KindTrap]).To(BeNumerically(">=", least[key]), "%s: %v", s.Symbol, k)
							continue
						}
						// The fork child inherits the rewritten site: no
						// trap there.
						Expect(k[coverage.KindTrap]).To(Equal(uint64(1)), "%s: %v", s.Symbol, k)
						Expect(k[coverage.KindPatched]).To(BeNumerically(">=", least[key]-1), "%s: %v", s.Symbol, k)
					}
				}
				Expect(found).To(HaveLen(3), "--rewrite=%s: the three sites: %v", mode, found)
				for _, st := range r.TrapSites() {
					if strings.HasPrefix(st.Symbol, "sh_") && mode == "lazy" {
						Expect(st.RewrittenAfter).To(Equal(uint64(1)), "%+v", st)
						Expect(st.NotRewritten).To(BeEmpty(), "%+v", st)
					}
				}
				if mode == "lazy" {
					Expect(stubAlarms(got.Stderr)).To(BeNumerically(">", 0), "no alarm arrived in a stub: %s", got.Stderr)
				} else {
					Expect(stubAlarms(got.Stderr)).To(BeZero(), "--rewrite=off: %s", got.Stderr)
				}
			}
		})
	}

	// The static Go program (e2e/guests/gostatic): every syscall package
	// call goes through internal/runtime/syscall/linux.Syscall6, whose
	// `mov %rbx,%rdi; syscall` is a short site, and the runtime's futex
	// through `mov $202,%eax; syscall; mov %eax,N(%rsp); ret`: both are
	// patched after their first traps, the output as natively.
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": the Go runtime's Syscall6 and futex sites patched", func() {
			guest := filepath.Join(guestDir, "gostatic")
			native := run(nil, guest)
			Expect(native.Status).To(Equal(0), "native: %s", native)
			for _, mode := range []string{"lazy", "off"} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, []string{"--trap", trap, "--rewrite=" + mode, "--report", path}, guest)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "--rewrite=%s: %s", mode, got)
				Expect(got.Status).To(Equal(0), "--rewrite=%s: %s", mode, got)
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				for _, fn := range []string{"internal/runtime/syscall/linux.Syscall6", "runtime.futex.abi0"} {
					sites := sitesOf(r, fn)
					Expect(sites).NotTo(BeEmpty(), "--rewrite=%s: %s", mode, fn)
					var patched uint64
					for _, k := range sites {
						patched += k[coverage.KindPatched]
					}
					if mode == "off" {
						Expect(patched).To(BeZero(), "%s: %v", fn, sites)
					} else {
						Expect(patched).To(BeNumerically(">", 0), "%s: %v", fn, sites)
					}
				}
			}
		})
	}

	// `rewriteshort threads`: four threads call both sites from the start,
	// so each is rewritten while the others execute it.
	// VSYSBED_REWRITE_POKE_PAUSE=1 holds each step of the rewrite 10 ms:
	// the other threads run the int3 (redirected to the stub) or the
	// syscall (a trap) meanwhile.
	for _, trap := range []string{"seccomp", "sud"} {
		It("with --trap "+trap+": short sites rewritten while other threads run them, every call counted once", func() {
			guest := filepath.Join(guestDir, "rewriteshort")
			native := run(nil, guest, "threads")
			Expect(native.Status).To(Equal(0), "native: %s", native)
			Expect(native.Stdout).To(Equal("4 threads x 20000 calls of each site: 0 wrong, 0 unpaired\n"))
			for _, c := range []struct {
				mode  string
				pause bool
			}{{"lazy", true}, {"lazy", false}, {"off", false}} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				var env []string
				if c.pause {
					env = append(envWithout("VSYSBED_REWRITE_POKE_PAUSE"), "VSYSBED_REWRITE_POKE_PAUSE=1")
				}
				got := runEnv(env, nil, vsysbedArgv([]string{"--trap", trap, "--rewrite=" + c.mode, "--report", path}, guest, "threads")...)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "%+v: %s", c, got)
				Expect(got.Status).To(Equal(0), "%+v: %s", c, got)
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				for _, fn := range []string{"sh_read", "sh_getpgid0"} {
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
					for _, st := range r.TrapSites() {
						if strings.HasPrefix(st.Symbol, fn+"+") && c.mode == "lazy" {
							Expect(st.RewrittenAfter).To(BeNumerically(">=", 1), "%+v: %+v", c, st)
							Expect(st.NotRewritten).To(BeEmpty(), "%+v: %+v", c, st)
						}
					}
				}
			}
		})
	}
})
