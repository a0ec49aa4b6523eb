package e2e

import (
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// compareCase is a program run natively and under vsysbed. In argv, "@name"
// stands for a fixture file and "%name" for one of our guests: both paths
// are known only once the suite has started, after the spec tree is built.
type compareCase struct {
	argv  []string
	stdin *string
	// volatile: the output reflects host state that other processes may
	// change between the two runs (directory timestamps). The vsysbed run
	// must then equal the native run before or a native run after it.
	volatile bool
	// normalize, when set, is applied to both stdouts before comparing.
	normalize func(string) string
	// vsysbedNote matches a line vsysbed itself may add to stderr (with
	// run-specific addresses, so it cannot be compared); it is dropped
	// from the vsysbed run's stderr before comparing.
	vsysbedNote *regexp.Regexp
	// status, when set, is the exit status the native run must have: it
	// pins what the fixture does, so a comparison of two broken runs
	// cannot pass.
	status *int
}

// procLinks matches the link count of /proc in `ls -la /`: it is the
// number of entries in /proc, one per live process, and vsysbed itself
// is a process more than the native run has.
var procLinks = regexp.MustCompile(`(?m)^(d\S+\s+)\d+(\s.*\sproc)$`)

// ls pads the link-count column to its widest entry, so a /proc count
// that gains a digit shifts every line: runs of spaces are collapsed too.
var spaces = regexp.MustCompile(` +`)

// tmpEntry matches /tmp's line: its link count, size and time change
// whenever any process on the machine (go test's other packages, running
// at the same time) creates or removes a directory there.
var tmpEntry = regexp.MustCompile(`(?m)^(d\S+\s+)\d+(\s+\S+\s+\S+\s+)\d+\s+.*(\stmp)$`)

func maskProcLinks(s string) string {
	s = procLinks.ReplaceAllString(s, "${1}N${2}")
	s = tmpEntry.ReplaceAllString(s, "${1}N${2}N T${3}")
	return spaces.ReplaceAllString(s, " ")
}

func (c compareCase) resolve() []string {
	out := make([]string, len(c.argv))
	for i, a := range c.argv {
		switch {
		case strings.HasPrefix(a, "@"):
			a = fixture(a[1:])
		case strings.HasPrefix(a, "%"):
			a = filepath.Join(guestDir, a[1:])
		}
		out[i] = a
	}
	return out
}

func (c compareCase) clean(r result) result {
	if c.normalize != nil {
		r.Stdout = c.normalize(r.Stdout)
	}
	return r
}

const pyListRoot = `import json,hashlib,os; print(json.dumps(sorted(os.listdir("/"))))`

var compareEntries = []TableEntry{
	Entry("/bin/true", compareCase{argv: []string{"/bin/true"}}),
	Entry("/bin/false", compareCase{argv: []string{"/bin/false"}}),
	Entry("echo hello world", compareCase{argv: []string{"echo", "hello", "world"}}),
	Entry("cat FILE", compareCase{argv: []string{"cat", "@" + textFile}}),
	Entry("ls -la /", compareCase{argv: []string{"ls", "-la", "/"}, volatile: true, normalize: maskProcLinks}),
	Entry("sha256sum FILE", compareCase{argv: []string{"sha256sum", "@" + textFile}}),
	Entry("sort < stdin", compareCase{argv: []string{"sort"}, stdin: str(sortInput)}),
	Entry("wc < stdin", compareCase{argv: []string{"wc"}, stdin: str(sortInput)}),
	Entry("busybox echo", compareCase{argv: []string{"busybox", "echo", "hello", "from", "busybox"}}),
	Entry("busybox ls /", compareCase{argv: []string{"busybox", "ls", "/"}}),
	Entry("busybox sha256sum FILE", compareCase{argv: []string{"busybox", "sha256sum", "@" + textFile}}),
	Entry("python3 lists /", compareCase{argv: []string{"/usr/bin/python3", "-c", pyListRoot}}),
	Entry("python3 exits 3", compareCase{argv: []string{"/usr/bin/python3", "-c", "import sys; sys.exit(3)"}}),
	Entry("#!/usr/bin/python3 script", compareCase{argv: []string{"@" + pyScript, "one", "two"}}),
	Entry("#!/bin/cat script", compareCase{argv: []string{"@" + catScript}}),
	Entry("#!/bin/sh script of builtins (exit 4)", compareCase{argv: []string{"@" + shScript, "one", "two words"},
		status: intp(4)}),
	Entry("echo abc | cat", compareCase{argv: []string{"cat"}, stdin: str("abc\n")}),
	Entry("exit42 guest (exit_group(42))", compareCase{argv: []string{"%exit42"}}),
	Entry("crash guest (SIGSEGV)", compareCase{argv: []string{"%crash"},
		vsysbedNote: regexp.MustCompile(`(?m)^vsysbed: guest killed by SIGSEGV.*\n`)}),
}

var _ = Describe("vsysbed run matches native", func() {
	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			DescribeTable("program",
				func(c compareCase) {
					argv := c.resolve()
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					native := c.clean(run(c.stdin, argv...))
					if c.status != nil {
						Expect(native.Status).To(Equal(*c.status), "native run of the fixture: %s", native)
					}
					got := c.clean(runVsysbed(c.stdin, reportFlags(mode, reportPath), argv...))
					if c.vsysbedNote != nil {
						got.Stderr = c.vsysbedNote.ReplaceAllString(got.Stderr, "")
					}

					want := native
					if c.volatile && got != native {
						// Host state moved under us; a second native run tells.
						if again := c.clean(run(c.stdin, argv...)); got == again {
							want = again
						}
					}
					Expect(got.Stdout).To(Equal(want.Stdout), "stdout differs\nnative: %s\nvsysbed: %s", want, got)
					Expect(got.Stderr).To(Equal(want.Stderr), "stderr differs\nnative: %s\nvsysbed: %s", want, got)
					Expect(got.Status).To(Equal(want.Status), "exit status differs\nnative: %s\nvsysbed: %s", want, got)

					r := loadReport(reportPath)
					checkReport(r, argv, got.Status)
					Expect(r.TrapMode).To(Equal(mode), "report's trap mode")
				},
				compareEntries,
			)
		})
	}
})
