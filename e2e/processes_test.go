package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Guests that start processes: fork, vfork/posix_spawn, execve, wait, pipes
// between them. Each runs natively and under vsysbed; output and status
// must match, and the report must stay consistent.
var _ = Describe("guest processes", func() {
	cases := []struct {
		name string
		argv func() []string
	}{
		{"fork + waitpid", func() []string { return []string{filepath.Join(guestDir, "forker")} }},
		{"posix_spawn, system, popen", func() []string { return []string{filepath.Join(guestDir, "spawn")} }},
		{"a busybox pipeline and a subshell", func() []string {
			return []string{"busybox", "sh", "-c", "echo a | tr a b | cat; (exit 3); echo $?"}
		}},
		{"sh: kill a background job, wait for it", func() []string {
			return []string{"/bin/sh", "-c", "sleep 5 & kill $!; wait $!; echo $?"}
		}},
		{"python3 subprocess", func() []string {
			return []string{"/usr/bin/python3", "-c", `import subprocess; print(subprocess.run(["ls","/"],capture_output=True).stdout)`}
		}},
		{"sh exec chain", func() []string {
			return []string{"/bin/sh", "-c", "exec /usr/bin/env echo exec'd"}
		}},
		// A stack limit changes where the kernel puts a new process's
		// mmaps; forked host processes must still land in the code ranges
		// the trap filter allows (inprocess.ForkedHostPersonality).
		{"forks after ulimit -s unlimited", func() []string {
			return []string{"busybox", "sh", "-c", "ulimit -s unlimited; /bin/true; echo $?; ulimit -s 65536; (exit 4); echo $?"}
		}},
		// The guest's RLIMIT_NOFILE, AS, DATA and FSIZE are its own
		// (kernelsim/rlimit.go): the host process keeps its fds above 1000
		// and its Go runtime must go on starting in forks.
		{"forks after ulimit -n 64 and -v, limits inherited and private", func() []string {
			return []string{"busybox", "sh", "-c", "ulimit -n 64; ulimit -n; /bin/true; echo $?; ulimit -Sn 32; (ulimit -n 16; ulimit -n); ulimit -n; " +
				"ulimit -v 200000; ulimit -d 200000; ulimit -f 10; /bin/true; echo $?; ulimit -v; ulimit -f"}
		}},
		{"python3: setrlimit, a spawned child's own limit, a refused raise", func() []string {
			return []string{"/usr/bin/python3", "-c", `import resource as r, subprocess
r.setrlimit(r.RLIMIT_NOFILE, (50, 100))
print(subprocess.run(["/bin/sh", "-c", "ulimit -n; ulimit -Sn 20; ulimit -n"], capture_output=True, text=True).stdout.split())
print(r.getrlimit(r.RLIMIT_NOFILE), r.prlimit(0, r.RLIMIT_NOFILE))
try:
    r.setrlimit(r.RLIMIT_NOFILE, (200, 100))
except ValueError as e:
    print("refused:", e)`}
		}},
	}
	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			for _, c := range cases {
				It(c.name, func() {
					argv := c.argv()
					native := run(nil, argv...)
					reportPath := filepath.Join(GinkgoT().TempDir(), "R.json")
					got := runVsysbed(nil, reportFlags(mode, reportPath), argv...)
					// The run's own errors (a fork's lost child, say) are only in the report.
					var errs []any
					if data, err := os.ReadFile(reportPath); err == nil {
						var r report
						if json.Unmarshal(data, &r) == nil {
							errs = r.Errors
						}
					}
					Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s\nthe report's errors: %v", native, got, errs)
					Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
					expectNoPanic(got)
					checkReport(loadReport(reportPath), argv, native.Status)
				})
			}
		})
	}
})
