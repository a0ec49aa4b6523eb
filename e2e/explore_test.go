package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vsysbed/vsysbed/explore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// vsysbed explore (docs/explore.md) on the needs guest, whose needs are
// known by construction: openat, read and write are required, getpid
// works faked but not stubbed, madvise works either way.
var _ = Describe("vsysbed explore", func() {
	It("finds exactly the needs the guest was built with, in every output", func() {
		dir := GinkgoT().TempDir()
		input := filepath.Join(dir, "input.txt")
		Expect(os.WriteFile(input, []byte("some text\n"), 0o644)).To(Succeed())
		jsonPath, csvPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "dyn.csv"), filepath.Join(dir, "r.html")
		got := run(nil, vsysbedBin, "explore", "-j", "2", "--timeout", "20s", "--json", jsonPath, "--csv", csvPath, "--html", htmlPath,
			"--", filepath.Join(guestDir, "needs"), input)
		Expect(got.Status).To(Equal(0), "%s", got)
		var res explore.Result
		b, err := os.ReadFile(jsonPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &res)).To(Succeed())
		verdict := map[string]explore.Verdict{}
		for _, v := range res.Syscalls {
			verdict[v.Name] = v
		}
		type sf struct{ stubbed, faked bool }
		for name, want := range map[string]sf{
			"openat": {false, false}, "read": {false, false}, "write": {false, false},
			"getpid": {false, true}, "madvise": {true, true},
		} {
			v, ok := verdict[name]
			Expect(ok).To(BeTrue(), "%s not among the used syscalls: %v", name, res.Syscalls)
			Expect(sf{v.Stubbed, v.Faked}).To(Equal(want), "%s: (works stubbed, works faked)", name)
			Expect(v.Required).To(Equal(!want.stubbed && !want.faked), name)
		}
		Expect(res.Required).To(ContainElements("openat", "read", "write"))
		Expect(res.Required).NotTo(ContainElements("getpid", "madvise"))
		Expect(res.Experiments).To(Equal(2 * len(res.Syscalls)))

		// One progress line per experiment, each with an ETA.
		progress := regexp.MustCompile(`(?m)^\[\d+/\d+\] \w+ (stubbed|faked): (works|fails|flaky \(\d+/\d+\)) \([0-9.]+s\), ETA \d+`)
		Expect(progress.FindAllString(got.Stderr, -1)).To(HaveLen(res.Experiments), "%s", got.Stderr)
		Expect(got.Stdout).To(MatchRegexp(`(?m)^getpid +1 +no +yes +no +no$`))
		Expect(got.Stdout).To(ContainSubstring("required: "))

		// Loupe's layout: every number, non-overlapping columns.
		csv, err := os.ReadFile(csvPath)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSuffix(string(csv), "\n"), "\n")
		Expect(lines[0]).To(Equal("# syscall, used, works faked, works stubbed, works both"))
		Expect(lines).To(HaveLen(1 + 470))
		Expect(lines[1+257]).To(Equal("257,Y,N,N,N"), "openat: required")
		Expect(lines[1+39]).To(Equal("39,Y,Y,N,N"), "getpid: faked only")
		Expect(lines[1+28]).To(Equal("28,Y,N,N,Y"), "madvise: both")
		Expect(lines[1+2]).To(Equal("2,N,N,N,N"), "open: unused")

		page, err := os.ReadFile(htmlPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(ContainSubstring("<svg"))
		Expect(string(page)).To(ContainSubstring("unikraft"))
	})

	It("with --test and --runs 2: the test's exit status decides, every run must work", func() {
		dir := GinkgoT().TempDir()
		input := filepath.Join(dir, "input.txt")
		Expect(os.WriteFile(input, []byte("x\n"), 0o644)).To(Succeed())
		jsonPath := filepath.Join(dir, "r.json")
		// Only that some output came: the guest's exit status is ignored,
		// so getpid stubbed (exit 4 before printing) fails, and a faked
		// write (which the guest's loop takes for an error) fails too.
		got := run(nil, vsysbedBin, "explore", "-j", "2", "--runs", "2", "--json", jsonPath, "--test", `grep -q "^read: x" "$1"`,
			"--", filepath.Join(guestDir, "needs"), input)
		Expect(got.Status).To(Equal(0), "%s", got)
		var res explore.Result
		b, err := os.ReadFile(jsonPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &res)).To(Succeed())
		for _, v := range res.Syscalls {
			switch v.Name {
			case "getpid":
				Expect([2]bool{v.Stubbed, v.Faked}).To(Equal([2]bool{false, true}))
				Expect([2]int{v.StubbedRuns, v.FakedRuns}).To(Equal([2]int{0, 2}), "runs that worked, of 2")
			case "openat", "write":
				Expect(v.Required).To(BeTrue(), v.Name)
			}
		}
	})
})

// Server mode: busybox's httpd (static, Debian's busybox-static) started
// as the guest, curl fetching a page as the test (busybox's own wget
// crashes on this host, natively too), --port as the readiness check.
var _ = Describe("vsysbed explore of a server", func() {
	It("finds what busybox httpd needs to serve a page", func() {
		if _, err := os.Stat("/bin/busybox"); err != nil {
			Skip("busybox is not installed")
		}
		if _, err := exec.LookPath("curl"); err != nil {
			Skip("curl is not installed")
		}
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from httpd\n"), 0o644)).To(Succeed())
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		jsonPath := filepath.Join(dir, "r.json")
		test := "curl -s -m 5 http://127.0.0.1:" + port + "/index.html | grep -q 'hello from httpd'"
		got := run(nil, vsysbedBin, "explore", "-j", "1", "--timeout", "10s", "--port", port, "--test", test, "--json", jsonPath,
			"--", "/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:"+port, "-h", dir)
		Expect(got.Status).To(Equal(0), "%s", got)
		var res explore.Result
		b, err := os.ReadFile(jsonPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(b, &res)).To(Succeed())
		// Without a listening socket no client gets the page.
		Expect(res.Required).To(ContainElements("socket", "bind", "listen"))
		Expect(res.Experiments).To(Equal(2 * len(res.Syscalls)))
	})
})
