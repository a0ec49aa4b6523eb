package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("whole runs of built guests: not with -short (make check runs them)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "vsysbed end-to-end")
}

// Paths every spec uses; set once in BeforeSuite.
var (
	vsysbedBin string // the vsysbed binary under test
	// weakFilterBin is a deliberately broken build (`make weakfilter`)
	// whose trap filter lets guest getpid/getppid escape.
	weakFilterBin string
	guestDir      string // our C guests (e2e/guests, built by `make guests`)
	fixtureDir    string // files the specs read: inputs, scripts, broken ELFs
)

// trapModes are the two ways vsysbed catches a raw `syscall`; every
// native-vs-vsysbed comparison runs under both.
var trapModes = []string{"seccomp", "sud"}

// requiredGuests are the binaries `make guests` puts in build/guests.
var requiredGuests = []string{
	"vsyscall_probe-musl", "vsyscall_probe-glibc-static", "vsyscall_probe-glibc",
	"vsyscall_probe-musl-static-pie", "vsyscall_probe-glibc-static-pie",
	"vecregs", "sleeper", "bench", "crash", "exit42", "thread", "forker", "spawn",
	"threads-glibc", "threads-glibc-static", "threads-musl", "threads1000-glibc",
	"manythreads-glibc", "manythreads-musl",
	"cancel-glibc", "signals-glibc", "signals-musl", "gostatic", "traced", "vforkstate",
	"forkthread", "goexec", "hostfds", "waitany", "sigwait", "procself", "pwait", "sigfd", "manysig", "sigroute", "sigexit", "killfault", "semantics", "fasttimer", "chldorder", "nproc", "stopcont", "jobctl", "restart", "inherit",
	"sysvshm", "sharedanon", "hostile", "procview", "segtail", "argmax", "rewrite", "rewritemt", "rewriteshort",
	"inject", "needs",
}

var _ = BeforeSuite(func() {
	// go test runs the suite with the package directory as cwd.
	root, err := filepath.Abs("..")
	Expect(err).NotTo(HaveOccurred())

	vsysbedBin = envOr("VSYSBED_BIN", filepath.Join(root, "build", "vsysbed"))
	guestDir = envOr("VSYSBED_GUESTS", filepath.Join(root, "build", "guests"))

	weakFilterBin = envOr("VSYSBED_WEAKFILTER_BIN", filepath.Join(root, "build", "vsysbed-weakfilter"))

	var missing []string
	for _, b := range []string{vsysbedBin, weakFilterBin} {
		if !isExecutableFile(b) {
			missing = append(missing, b)
		}
	}
	for _, g := range requiredGuests {
		if p := filepath.Join(guestDir, g); !isExecutableFile(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		Fail(fmt.Sprintf("missing %v: run `make build weakfilter guests` in %s first", missing, root))
	}

	top, err := os.MkdirTemp("", "vsysbed-e2e-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, top)
	// Everything the suite, vsysbed and the guests create in a temporary
	// directory goes below top, so /tmp itself (its link count and mtime,
	// which `ls -la /` prints) stays the same across a native run and a
	// vsysbed run.
	tmp := filepath.Join(top, "tmp")
	fixtureDir = filepath.Join(top, "fixtures")
	for _, d := range []string{tmp, fixtureDir} {
		Expect(os.Mkdir(d, 0o755)).To(Succeed())
	}
	DeferCleanup(os.Setenv, "TMPDIR", os.Getenv("TMPDIR"))
	Expect(os.Setenv("TMPDIR", tmp)).To(Succeed())
	Expect(writeFixtures(fixtureDir)).To(Succeed())
	setUpReportValidation(root, tmp)
})

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func isExecutableFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
