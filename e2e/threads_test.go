package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// reportThreads reads the number of guest threads a report counted.
func reportThreads(path string) int {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var r struct {
		Threads int `json:"threads"`
	}
	Expect(json.Unmarshal(data, &r)).To(Succeed())
	return r.Threads
}

var _ = Describe("guest threads", func() {
	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			It("runs a pthread program as it runs natively", func() {
				path := filepath.Join(guestDir, "thread")
				native := run(nil, path)
				Expect(native.Status).To(Equal(0), "native run:\n%s", native)
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), path)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(got.Stdout).To(Equal(native.Stdout))
				expectNoPanic(got)
				checkReport(loadReport(reportPath), []string{path}, 0)
				Expect(reportThreads(reportPath)).To(Equal(2), "main thread and worker each have a shard")
			})

			It("runs the guest's main thread as the host's main thread (tid == pid)", func() {
				argv := []string{"/usr/bin/python3", "-c", "import os, threading; print(threading.get_native_id() == os.getpid())"}
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(got.Stdout).To(Equal("True\n"))
			})

			It("runs python3's threading module", func() {
				script := `import threading
out = []
def work(i): out.append(sum(range(i * 1000)))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(out), sum(out))`
				argv := []string{"/usr/bin/python3", "-c", script}
				native := run(nil, argv...)
				Expect(native.Status).To(Equal(0), "native run:\n%s", native)
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(got.Stdout).To(Equal(native.Stdout))
				checkReport(loadReport(reportPath), argv, 0)
				Expect(reportThreads(reportPath)).To(Equal(9))
			})
		})
	}
})
