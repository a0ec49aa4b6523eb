package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// badInput is a PROGRAM vsysbed must refuse before running anything.
type badInput struct {
	program string // "@name" = fixture, else used as is
	status  []int  // accepted exit statuses
	// mention is a case-insensitive pattern the one error line must
	// match, so the user learns what was wrong, not just that it was.
	mention string
}

var _ = Describe("vsysbed run refuses bad programs", func() {
	// Both platforms make the same checks (the loader's) before running
	// anything.
	for _, platform := range []string{"inprocess", "ptrace"} {
		DescribeTable("with one clear line on stderr, --platform="+platform,
			func(b badInput) {
				program := b.program
				if strings.HasPrefix(program, "@") {
					program = fixture(program[1:])
				}
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, []string{"--platform", platform, "--report", reportPath}, program)

				expectNoPanic(got)
				Expect(got.Status).To(BeElementOf(b.status), "%s", got)
				Expect(got.Stdout).To(BeEmpty())
				lines := strings.Split(strings.TrimSuffix(got.Stderr, "\n"), "\n")
				Expect(lines).To(HaveLen(1), "want exactly one line on stderr:\n%s", got)
				Expect(lines[0]).To(HavePrefix("vsysbed:"))
				Expect(lines[0]).To(ContainSubstring(filepath.Base(program)), "the line should name the program")
				Expect(lines[0]).To(MatchRegexp(`(?i)`+b.mention), "the line should say what is wrong")
			},
			Entry("missing program", badInput{"no-such-program-vsysbed-e2e", []int{127},
				`not found|no such file`}),
			Entry("a directory", badInput{"/", []int{126},
				`directory`}),
			Entry("no execute permission", badInput{"@" + noExec, []int{126},
				`permission|not executable`}),
			Entry("+x text without #!", badInput{"@" + textExec, []int{126},
				`exec format|not an? ELF|not an? executable|no ELF header|format`}),
			Entry("32-bit ELF", badInput{"@" + elf32, []int{126},
				`32-bit|ELFCLASS32|class`}),
			Entry("aarch64 ELF", badInput{"@" + elfAArch64, []int{126},
				`aarch64|arm64|EM_AARCH64|machine|architecture`}),
			Entry("truncated ELF", badInput{"@" + elfTrunc, []int{126},
				`truncated|corrupt|short|invalid|malformed|unexpected EOF|format`}),
			// Linux gives ENOENT for a missing interpreter and shells say 127;
			// the CLI contract does not pin it, so 126 is accepted too.
			Entry("missing ELF interpreter", badInput{"@" + elfNoInterp, []int{126, 127},
				`interpreter|/nonexistent/ld\.so|no such file|not found`}),
		)
	}
})

var _ = Describe("vsysbed vdso --dump", func() {
	It("writes an image readelf accepts, exporting __kernel_vsyscall@LINUX_2.6", func() {
		image := filepath.Join(GinkgoT().TempDir(), "vdso.so")
		got := run(nil, vsysbedBin, "vdso", "--dump", image)
		Expect(got.Status).To(Equal(0), "%s", got)
		expectNoPanic(got)

		out, err := exec.Command("readelf", "-aW", image).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "readelf -aW failed:\n%s", out)
		text := string(out)
		Expect(text).NotTo(MatchRegexp(`(?m)^readelf: (Error|Warning)`), "readelf complained:\n%s", clip(text))
		Expect(text).To(ContainSubstring("DYN (Shared object file)"))
		Expect(text).To(ContainSubstring("linux-vdso.so.1"))
		// musl looks symbols up through DT_HASH only; glibc uses DT_GNU_HASH.
		Expect(text).To(ContainSubstring("(HASH)"))
		Expect(text).To(ContainSubstring("(GNU_HASH)"))
		Expect(text).To(ContainSubstring("(VERSYM)"))
		Expect(text).To(ContainSubstring("(VERDEF)"))
		Expect(text).To(MatchRegexp(`__kernel_vsyscall@@?LINUX_2\.6`))
		Expect(text).To(MatchRegexp(`__vdso_clock_gettime@@?LINUX_2\.6`))
	})
})
