package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The output conventions of `vsysbed run` (docs/report.md, "Where the
// report goes"), on every platform: the guest's own output is the native
// one, and the report is exactly where the flags say.
var _ = Describe("vsysbed run's output conventions", func() {
	argv := []string{"/bin/echo", "hello"}
	platforms := map[string][]string{
		"seccomp": {"--trap", "seccomp"},
		"sud":     {"--trap", "sud"},
		"ptrace":  {"--platform=ptrace"},
	}
	for name, pflags := range platforms {
		flags := func(more ...string) []string { return append(append([]string{}, pflags...), more...) }

		It("writes --report - to stdout after the guest's output ("+name+")", func() {
			native := run(nil, argv...)
			got := runVsysbed(nil, flags("--report", "-"), argv...)
			Expect(got.Status).To(Equal(0), "%s", got)
			Expect(got.Stderr).To(BeEmpty())
			Expect(got.Stdout).To(HavePrefix(native.Stdout))
			var r report
			Expect(json.Unmarshal([]byte(strings.TrimPrefix(got.Stdout, native.Stdout)), &r)).To(Succeed(), "%s", got)
			checkReport(r, argv, 0)
			Expect(reportValidator.Validate([]byte(strings.TrimPrefix(got.Stdout, native.Stdout)))).To(BeEmpty())
		})

		It("writes --format text --report F to F only, and -q prints nothing ("+name+")", func() {
			native := run(nil, argv...)
			path := filepath.Join(GinkgoT().TempDir(), "r.txt")
			got := runVsysbed(nil, flags("--format", "text", "--report", path), argv...)
			Expect(got).To(Equal(native))
			text, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(text)).To(ContainSubstring("%bypass"))

			Expect(runVsysbed(nil, flags("-q"), argv...)).To(Equal(native))
			json := runVsysbed(nil, flags("--format", "json"), argv...)
			Expect(json.Stdout).To(Equal(native.Stdout))
			Expect(json.Stderr).To(HavePrefix(`{`))
		})

		It("with -q says nothing of a guest a signal killed, which exits 128+N as natively ("+name+")", func() {
			kill := []string{"/bin/sh", "-c", "kill -TERM $$"}
			native := run(nil, kill...)
			Expect(native.Status).To(Equal(128 + 15))
			Expect(runVsysbed(nil, flags("-q"), kill...)).To(Equal(native))
			loud := runVsysbed(nil, flags("--report", "/dev/null"), kill...)
			Expect(loud.Stderr).To(ContainSubstring("guest killed by SIGTERM"))
		})

		It("exits 125 with one line when the report cannot be written ("+name+")", func() {
			path := filepath.Join(GinkgoT().TempDir(), "no-such-dir", "r.json")
			got := runVsysbed(nil, flags("--report", path), argv...)
			Expect(got.Status).To(Equal(125), "%s", got)
			Expect(got.Stdout).To(Equal("hello\n"))
			Expect(got.Stderr).To(MatchRegexp(`^vsysbed: writing the report: [^\n]*no-such-dir[^\n]*\n$`))
		})
	}

	It("records the version `vsysbed --version` prints in the report", func() {
		v := run(nil, vsysbedBin, "--version")
		Expect(v.Status).To(Equal(0))
		fields := strings.Fields(v.Stdout)
		Expect(fields).To(HaveLen(4), v.Stdout) // vsysbed VERSION (goX, os/arch)
		got := runVsysbed(nil, []string{"--report", "-"}, "/bin/true")
		var r struct {
			Version string `json:"vsysbed_version"`
		}
		Expect(json.Unmarshal([]byte(got.Stdout), &r)).To(Succeed(), "%s", got)
		Expect(r.Version).To(Equal(fields[1]))
	})
})
