package e2e

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/bed/bedmatch"
	"github.com/vsysbed/vsysbed/coverage"
)

// The corpus (e2e/guests/corpus, built by `make corpus` into build/corpus):
// every guest prints "OK <name>" and exits 0, or names its failed step on
// stderr and exits non-zero.
var corpusNames = []string{
	"hello", "fileio", "threads", "cancel", "forkexec", "signals", "sockets", "syscallbench",
}

// corpusLibc is one way of building a corpus guest: the binary is
// <name>-<suffix>.
type corpusLibc struct {
	suffix string
	// bypass: built with build/musl/bin/vsysbed-cc, whose musl calls
	// __kernel_vsyscall for every syscall, so under vsysbed nothing traps.
	bypass bool
}

var corpusLibcs = []corpusLibc{
	{suffix: "glibc"},
	{suffix: "glibc-static"},
	{suffix: "musl"}, // Debian's musl-gcc -static: stock musl, raw syscalls
	{suffix: "vsysbed", bypass: true},
	{suffix: "vsysbed-dynamic", bypass: true},
}

// corpusKnownBroken lists runs that fail today because of vsysbed itself,
// keyed by "<binary> <trap mode>"; each is skipped with the reason so the
// entry flips back on by deleting one line once the kernel side is fixed.
var corpusKnownBroken = map[string]string{}

// corpusDir is where `make corpus` puts the binaries.
func corpusDir() string {
	root, err := filepath.Abs("..")
	Expect(err).NotTo(HaveOccurred())
	return envOr("VSYSBED_CORPUS", filepath.Join(root, "build", "corpus"))
}

// corpusBinary returns the absolute path of one corpus build, failing the
// spec with the make target to run when it is missing.
func corpusBinary(name string, libc corpusLibc) string {
	GinkgoHelper()
	path := filepath.Join(corpusDir(), name+"-"+libc.suffix)
	if !isExecutableFile(path) {
		Fail(fmt.Sprintf("missing %s: run `make corpus` first (it builds the bypass musl too)", path))
	}
	return path
}

// expectCorpusPass checks the guest's own verdict.
func expectCorpusPass(name string, r result) {
	GinkgoHelper()
	Expect(r.Status).To(Equal(0), "%s", r)
	Expect(r.Stdout).To(HaveSuffix("OK "+name+"\n"), "%s", r)
	Expect(r.Stderr).NotTo(ContainSubstring("FAIL "+name), "%s", r)
}

var _ = Describe("the guest corpus", func() {
	Context("natively", func() {
		for _, name := range corpusNames {
			for _, libc := range corpusLibcs {
				It(fmt.Sprintf("%s-%s passes", name, libc.suffix), func() {
					expectCorpusPass(name, run(nil, corpusBinary(name, libc)))
				})
			}
		}
	})

	for _, mode := range trapModes {
		Context("under vsysbed with --trap "+mode, func() {
			for _, name := range corpusNames {
				for _, libc := range corpusLibcs {
					binary := name + "-" + libc.suffix
					It(binary+" passes and reports "+map[bool]string{true: "every syscall bypassed", false: "its traps with symbolised sites"}[libc.bypass], func() {
						if why, broken := corpusKnownBroken[binary+" "+mode]; broken {
							Skip(why)
						}
						path := corpusBinary(name, libc)
						reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
						got := runVsysbed(nil, reportFlags(mode, reportPath), path)
						expectCorpusPass(name, got)
						expectNoPanic(got)
						r := loadReport(reportPath)
						checkReport(r, []string{path}, 0)
						if libc.bypass {
							expectAllBypassed(r)
							// The same gate through the public matchers users write.
							full, err := coverage.Load(reportPath)
							Expect(err).NotTo(HaveOccurred())
							Expect(full).To(bedmatch.BeFullyBypassed())
						} else {
							expectSymbolisedTraps(r)
						}
					})
				}
			}
		})
	}

	It("vsysbed-cc links static by default and dynamic against its own loader with -dynamic", func() {
		static := corpusBinary("hello", corpusLibc{suffix: "vsysbed"})
		dynamic := corpusBinary("hello", corpusLibc{suffix: "vsysbed-dynamic"})
		Expect(interpreter(static)).To(BeEmpty(), "a static executable has no PT_INTERP")
		Expect(interpreter(dynamic)).To(HaveSuffix("/build/musl/lib/ld-musl-x86_64.so.1"),
			"the bypass musl's own loader, never the system's stock one")
	})
})

// expectAllBypassed: with the bypass musl, not one syscall traps — start-up,
// the assembly stubs, signal returns and thread exits included.
func expectAllBypassed(r report) {
	GinkgoHelper()
	var traps []string
	for _, s := range r.Sites {
		if s.Kind == "trap" {
			traps = append(traps, fmt.Sprintf("%s at %s+%s <%s> x%d", s.Syscall, s.Object, s.Offset, s.Symbol, s.Count))
		}
	}
	Expect(traps).To(BeEmpty(), "trapped sites in a bypass-musl guest")
	Expect(r.Totals.Trap).To(BeZero(), "trapped syscalls in a bypass-musl guest")
	Expect(r.Totals.Patched).To(BeZero(), "rewritten sites in a bypass-musl guest (nothing trapped)")
	Expect(r.Totals.Bypass).To(BeNumerically(">", 0), "no bypassed syscalls at all")
}

// expectSymbolisedTraps: a stock libc traps, and each trap site names the
// function it is in, as does each site rewritten after its first trap.
func expectSymbolisedTraps(r report) {
	GinkgoHelper()
	Expect(r.Totals.Trap).To(BeNumerically(">", 0), "a stock libc executes raw syscalls")
	Expect(r.Totals.Bypass).To(BeZero(), "a stock libc never calls __kernel_vsyscall")
	n := 0
	for _, s := range r.Sites {
		if s.Kind != "trap" && s.Kind != "patched" {
			continue
		}
		if s.Kind == "trap" {
			n++
		}
		Expect(s.Symbol).NotTo(BeEmpty(), "%s site without a symbol: %+v", s.Kind, s)
		Expect(strings.HasPrefix(s.Symbol, "0x")).To(BeFalse(), "%s site symbol is an address: %+v", s.Kind, s)
	}
	Expect(n).To(BeNumerically(">", 0), "no trap sites")
}

// interpreter returns the PT_INTERP path of an ELF file ("" when it has none).
func interpreter(path string) string {
	GinkgoHelper()
	f, err := elf.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			_, err := p.ReadAt(b, 0)
			Expect(err).NotTo(HaveOccurred())
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}
