package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The auxv entry and bit that tell user space it may run wrfsbase.
const (
	atNull         = 0
	atHWCap2       = 26
	hwcap2FSGSBase = 1 << 1
)

// noFSGSBaseSkip is why the wrfsbase spec cannot run on a machine.
const noFSGSBaseSkip = "this CPU/kernel has no FSGSBASE (AT_HWCAP2 bit 1 clear)"

// hwcap2 returns AT_HWCAP2 from an x86-64 auxv (pairs of little-endian
// 64-bit words, ended by AT_NULL); a missing entry reads as 0, as the
// kernel means it.
func hwcap2(auxv []byte) (uint64, error) {
	for i := 0; ; i += 16 {
		if i+16 > len(auxv) {
			return 0, fmt.Errorf("auxv of %d bytes has no AT_NULL entry", len(auxv))
		}
		key := binary.LittleEndian.Uint64(auxv[i:])
		val := binary.LittleEndian.Uint64(auxv[i+8:])
		switch key {
		case atNull:
			return 0, nil
		case atHWCap2:
			return val, nil
		}
	}
}

// envWithout is the suite's environment without the variable name.
func envWithout(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// The host switches between its own FS base and the guest's on every call
// into the Go kernel; --route getpid=kernel makes the probe's getpid calls
// such calls, on both of its paths.
var _ = Describe("FS base switching on entry to the Go kernel", func() {
	probeFS := func(env []string, mode string) {
		GinkgoHelper()
		path := filepath.Join(guestDir, "vsyscall_probe-glibc")
		reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
		flags := append(reportFlags(mode, reportPath), "--route", "getpid=kernel")
		got := runEnv(env, nil, vsysbedArgv(flags, path, "--require-bypass")...)
		Expect(got.Status).To(Equal(0), "probe failed:\n%s", got)
		Expect(got.Stdout).To(HaveSuffix("OK vsyscall_probe bypass=yes\n"), "%s", got)
		expectNoPanic(got)
		checkReport(loadReport(reportPath), []string{path, "--require-bypass"}, 0)
	}

	for _, mode := range trapModes {
		It("works through arch_prctl with VSYSBED_NO_FSGSBASE=1, --trap "+mode, func() {
			probeFS(append(envWithout("VSYSBED_NO_FSGSBASE"), "VSYSBED_NO_FSGSBASE=1"), mode)
		})

		It("works through wrfsbase where the CPU and kernel allow it, --trap "+mode, func() {
			auxv, err := os.ReadFile("/proc/self/auxv")
			Expect(err).NotTo(HaveOccurred())
			caps, err := hwcap2(auxv)
			Expect(err).NotTo(HaveOccurred())
			if caps&hwcap2FSGSBase == 0 {
				Skip(noFSGSBaseSkip)
			}
			probeFS(envWithout("VSYSBED_NO_FSGSBASE"), mode)
		})
	}
})
