package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Calls that must never hurt the host (issue 12): numbers outside the
// table, the i386 entry, no_new_privs, kill of a group or of everyone, and
// execve of a FIFO. Each behaves as natively, the host survives and
// reports, and nothing is left running.
var _ = Describe("hostile calls", func() {
	hostile := func() string { return filepath.Join(guestDir, "hostile") }
	// ownUser runs a command as a uid no one else uses, so that kill(-1)
	// natively reaches only the spec's own processes.
	ownUser := []string{"setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", "env", "TMPDIR=/tmp"}

	// same runs prefix+argv natively and prefix+vsysbed+argv under mode,
	// expects the same output and status, an intact report and no guest
	// process left; it returns the report.
	same := func(mode string, prefix []string, argv ...string) report {
		GinkgoHelper()
		native := run(nil, append(append([]string{}, prefix...), argv...)...)
		// Outside the suite's temporary directory, which only root may enter.
		dir, err := os.MkdirTemp("/tmp", "vsysbed-hostile-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		Expect(os.Chmod(dir, 0o777)).To(Succeed())
		reportPath := filepath.Join(dir, "R.json")
		got := run(nil, append(append([]string{}, prefix...), vsysbedArgv(reportFlags(mode, reportPath), argv...)...)...)
		expectNoPanic(got)
		Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
		Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
		r := loadReport(reportPath)
		checkReport(r, argv, native.Status)
		Expect(exec.Command("pgrep", "-f", strings.Join(argv, " ")).Run()).NotTo(Succeed(), "a guest process is still running")
		return r
	}
	row := func(r report, name string) syscallCounts {
		for _, s := range r.Syscalls {
			if s.Name == name {
				return s
			}
		}
		return syscallCounts{}
	}

	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			It("syscall(-1), x32 numbers and numbers past the table are ENOSYS, counted", func() {
				r := same(mode, nil, hostile(), "enosys")
				// Each number once raw, once through syscall(3).
				for _, name := range []string{"nr_4294967295", "nr_4294967294", "nr_1073741863", "nr_512", "nr_1000", "nr_2147483648"} {
					Expect(row(r, name).Trap).To(Equal(int64(2)), "%s in %+v", name, r.Syscalls)
				}
			})

			It("int $0x80 runs the i386 getpid, gettid, getppid, ENOSYS for the rest, counted as int80", func() {
				r := same(mode, nil, hostile(), "int80")
				for _, name := range []string{"i386_getpid", "i386_gettid", "i386_getppid", "i386_9999", "i386_4294967295"} {
					Expect(row(r, name).Int80).To(Equal(int64(1)), "%s in %+v", name, r.Syscalls)
				}
				Expect(r.Totals.Int80).To(Equal(int64(5)))
			})

			It("int $0x80 exit(7)", func() {
				r := same(mode, nil, hostile(), "int80exit")
				Expect(row(r, "i386_exit").Int80).To(Equal(int64(1)))
			})

			It("PR_SET_NO_NEW_PRIVS is the guest's own, kept by fork and exec", func() {
				same(mode, nil, hostile(), "nnp")
			})

			It("PR_SET_DUMPABLE 0 is the guest's own: fork still works for a normal user", func() {
				same(mode, ownUser, hostile(), "dumpable")
			})

			It("kill(0) signals the caller's group, the caller included", func() {
				same(mode, nil, hostile(), "kill0")
			})

			It("kill(-1) signals every other process of the user, never the caller", func() {
				same(mode, ownUser, hostile(), "killall")
			})

			It("sh -c 'sleep 8 & kill 0' ends at once, sleep with it", func() {
				start := time.Now()
				same(mode, []string{"setsid", "-w"}, "/bin/sh", "-c", "sleep 8 & kill 0")
				Expect(time.Since(start)).To(BeNumerically("<", 6*time.Second))
			})

			It("real-time signals queued from another process are all delivered (1,000 SIGRTMIN, each value once)", func() {
				argv := []string{hostile(), "rtqueue", "1000"}
				native := run(nil, argv...)
				Expect(native.Stdout).To(ContainSubstring("delivered 1000, sum 499500, in order 1\n"), "native run:\n%s", native)
				reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
				got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
				Expect(got.Stdout).To(ContainSubstring("delivered 1000, sum 499500, in order "), "vsysbed:\n%s", got)
				checkReport(loadReport(reportPath), argv, native.Status)
			})

			// Only a guest thread takes a real-time signal from the host
			// kernel's queue (tls/inherit.c, tls/gosigtab.c): one of Go's
			// threads could only queue it again, behind later ones.
			It("real-time signals queued from another process are delivered in order", func() {
				same(mode, nil, hostile(), "rtqueue", "1000")
			})

			It("blocked real-time signals come lowest number first, each number's in the order sent", func() {
				same(mode, nil, hostile(), "rtorder")
			})

			It("execve of a FIFO (program, #! interpreter, PT_INTERP) is EACCES at once", func() {
				dir := GinkgoT().TempDir()
				cc := exec.Command("cc", "-x", "c", "-", "-o", filepath.Join(dir, "interp-fifo"),
					"-Wl,--dynamic-linker="+filepath.Join(dir, "fifo"))
				cc.Stdin = strings.NewReader("int main(void) { return 0; }\n")
				out, err := cc.CombinedOutput()
				Expect(err).NotTo(HaveOccurred(), "%s", out)
				// A host that hangs in the open ignores every signal but
				// SIGKILL, and holds the output pipes run waits on.
				// (Only this spec's processes name its directory.)
				stop := time.AfterFunc(25*time.Second, func() {
					exec.Command("pkill", "-KILL", "-f", dir).Run()
				})
				defer stop.Stop()
				r := same(mode, nil, hostile(), "execfifo", dir)
				// Raw calls, rewritten after the first (--rewrite=lazy).
				execve := row(r, "execve")
				Expect(execve.Trap+execve.Patched).To(BeNumerically(">=", 3), "the three failed execve: %+v", execve)
				f := filepath.Join(dir, "f")
				same(mode, nil, "/bin/sh", "-c", "rm -f "+f+"; mkfifo "+f+" && chmod +x "+f+" && "+f+"; echo $?")
			})
		})
	}
})
