package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// What a program gets from its execve — the caller's fds that are not
// close-on-exec at their numbers, its ignored signals, its blocked mask —
// it must get through vsysbed too: nohup, `trap ''` and make's jobserver
// depend on it. Each spec sets the state up in bash, then runs the same
// program natively and under vsysbed from it.

// callerSetup gives the shell fds 7 and 9 and four ignored signals
// (SIGHUP, SIGINT, SIGPIPE, SIGTERM), one of them real-time (40).
const callerSetup = `exec 9</etc/hostname 7>/dev/null; trap '' HUP INT PIPE TERM 40; `

// blockAndExec execs its arguments with SIGHUP, SIGUSR1, SIGTERM, SIGCHLD
// and two real-time signals blocked: bash cannot block a signal for the
// programs it starts.
const blockAndExec = `import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [1, 10, 15, 17, 34, 64])
os.execv(sys.argv[1], sys.argv[1:])`

// shellWords quotes argv for bash -c.
func shellWords(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

var _ = Describe("what the guest inherits from vsysbed's caller", func() {
	// inheritBoth runs argv from a shell that ran setup, natively and as
	// `vsysbed run FLAGS -- argv`, and expects the same output and status.
	inheritBoth := func(setup string, flags []string, argv ...string) result {
		GinkgoHelper()
		native := run(nil, "/bin/bash", "-c", setup+shellWords(argv...))
		Expect(native.Status).To(Equal(0), "native:\n%s", native)
		got := run(nil, "/bin/bash", "-c", setup+shellWords(vsysbedArgv(flags, argv...)...))
		Expect(got.Status).To(Equal(native.Status), "native:\n%s\nvsysbed:\n%s", native, got)
		Expect(got.Stdout).To(Equal(native.Stdout), "native:\n%s\nvsysbed:\n%s", native, got)
		expectNoPanic(got)
		return native
	}

	guestState := func(flags []string, setup string, args ...string) {
		GinkgoHelper()
		argv := append([]string{"/usr/bin/python3", "-c", blockAndExec, filepath.Join(guestDir, "inherit")}, args...)
		native := inheritBoth(setup, flags, argv...)
		// The comparison means something only if the state is there.
		Expect(native.Stdout).To(ContainSubstring("main fd 9 -> /etc/hostname"))
		Expect(native.Stdout).To(ContainSubstring("main fd 7 -> /dev/null"))
		// 25: python3, the wrapper, ignores SIGXFSZ itself. The test's
		// own caller may add more (make leaves glibc's 32 ignored in its
		// recipes): the fixture's signals must be there, among others.
		expectSignals(native.Stdout, "main ignored:", 1, 2, 13, 15, 25, 40)
		expectSignals(native.Stdout, "main blocked:", 1, 10, 15, 17, 34, 64)
	}

	// A slice, not a map: every Ginkgo process must build the same tree.
	var platforms [][]string
	for _, mode := range trapModes {
		platforms = append(platforms, []string{"--trap", mode})
	}
	platforms = append(platforms, []string{"--platform", "ptrace"}, []string{"--platform", "native", "--audit", "ebpf"})
	for _, p := range platforms {
		flags := append(p, "--report", os.DevNull)
		Context("with "+strings.Join(p, " "), func() {
			if p[len(p)-1] == "ebpf" {
				BeforeEach(requireAudit)
			}
			It("fds at their numbers, ignored signals and the mask", func() {
				guestState(flags, callerSetup)
			})
			It("the same after a fork, an execve and a posix_spawn", func() {
				guestState(flags, callerSetup, "fork")
				guestState(flags, callerSetup, "exec")
				guestState(flags, callerSetup, "spawn")
			})
			It("stdin or stderr closed stay closed", func() {
				guestState(flags, callerSetup+"exec 0<&-; ")
				guestState(flags, callerSetup+"exec 2>&-; ")
			})
		})
	}

	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			flags := []string{"--trap", mode, "--report", os.DevNull}

			// nohup ignores SIGHUP and execs vsysbed: the guest must
			// survive a SIGHUP as the program does natively. Inside the
			// guest, nohup's own sigaction must survive its execve.
			It("nohup, outside and inside", func() {
				selfHup := []string{"/bin/sh", "-c", `kill -HUP $$; echo survived`}
				native := run(nil, append([]string{"/usr/bin/nohup"}, selfHup...)...)
				Expect(native).To(Equal(result{Stdout: "survived\n", Status: 0}))
				outside := run(nil, append([]string{"/usr/bin/nohup"}, vsysbedArgv(flags, selfHup...)...)...)
				Expect(outside).To(Equal(native), "nohup vsysbed run -- sh")
				inside := runVsysbed(nil, flags, append([]string{"/usr/bin/nohup"}, selfHup...)...)
				Expect(inside).To(Equal(native), "vsysbed run -- nohup sh")
			})

			// vsysbed's pid stands for the program's: signals the caller
			// ignored and sends to it must leave it running, not end the
			// supervisor (Go's runtime dumps its goroutines on SIGQUIT).
			It("signals the caller ignored, sent to vsysbed's pid", func() {
				script := func(prog string) string {
					return `trap '' QUIT USR1 PIPE; ` + prog + ` & pid=$!; sleep 0.5; kill -QUIT $pid; kill -USR1 $pid; wait $pid; echo status $?`
				}
				guest := []string{"/bin/sh", "-c", "sleep 2; echo done"}
				native := run(nil, "/bin/bash", "-c", script(shellWords(guest...)))
				Expect(native.Stdout).To(Equal("done\nstatus 0\n"), "%s", native)
				got := run(nil, "/bin/bash", "-c", script(shellWords(vsysbedArgv(flags, guest...)...)))
				Expect(got.Stdout).To(Equal(native.Stdout), "%s", got)
				expectNoPanic(got)
			})

			// A SIGCHLD that is SIG_IGN means the kernel reaps the
			// children itself: waitpid waits for them all, then fails
			// with ECHILD. Inherited, or set by the guest.
			It("SIGCHLD ignored: children are reaped by the kernel", func() {
				forkWait := `import os, signal, sys, time
if sys.argv[1:] == ["set"]:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os._exit(3)
time.sleep(0.2)
try:
    print(os.waitpid(pid, 0)[1] >> 8)
except ChildProcessError:
    print("ECHILD")
`
				ignoreAndExec := `import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])`
				for _, argv := range [][]string{
					{"/usr/bin/python3", "-c", ignoreAndExec, "/usr/bin/python3", "-c", forkWait},
					{"/usr/bin/python3", "-c", forkWait, "set"},
				} {
					native := run(nil, argv...)
					Expect(native).To(Equal(result{Stdout: "ECHILD\n"}))
					var got result
					if len(argv) > 4 { // vsysbed between the wrapper and the guest
						got = run(nil, append(argv[:3:3], vsysbedArgv(flags, argv[3:]...)...)...)
					} else {
						got = runVsysbed(nil, flags, argv...)
					}
					Expect(got).To(Equal(native), "%q", argv)
				}
			})

			// make -j passes its jobserver to a recursive recipe as two
			// fds named in MAKEFLAGS; a sub-make run by vsysbed must find
			// them there, or it warns and runs with -j1.
			It("make's jobserver reaches a sub-make", func() {
				dir := GinkgoT().TempDir()
				Expect(os.WriteFile(filepath.Join(dir, "Makefile"), []byte(jobserverTop), 0o644)).To(Succeed())
				for _, sub := range []string{"one", "two"} {
					Expect(os.Mkdir(filepath.Join(dir, sub), 0o755)).To(Succeed())
					Expect(os.WriteFile(filepath.Join(dir, sub, "Makefile"), []byte(jobserverSub), 0o644)).To(Succeed())
				}
				clean := func() {
					for _, sub := range []string{"one", "two"} {
						for _, f := range []string{"a", "b", "c", "d", "out"} {
							os.Remove(filepath.Join(dir, sub, f))
						}
					}
				}
				makeWith := func(submake string) result {
					clean()
					// --no-print-directory: under `make check` (MAKELEVEL>0)
					// the parallel sub-makes' "Entering directory" lines
					// interleave as they happen to run.
					return run(nil, "/usr/bin/make", "-s", "--no-print-directory", "-j4", "-C", dir, "SUBMAKE="+submake)
				}
				native := makeWith("")
				Expect(native.Status).To(Equal(0), "%s", native)
				Expect(native.Stdout).To(ContainSubstring("one -j4 --jobserver-auth="), "the native sub-make has no jobserver:\n%s", native)
				got := makeWith(shellWords(vsysbedArgv(flags)...))
				Expect(got.Stderr).NotTo(ContainSubstring("jobserver unavailable"))
				Expect(got).To(Equal(native), "native:\n%s\nvsysbed:\n%s", native, got)
			})
		})
	}
})

// jobserverTop runs two sub-makes in parallel, each through $(SUBMAKE)
// (empty natively, `vsysbed run ... --` otherwise), and prints what they
// made in a fixed order.
const jobserverTop = `SUBMAKE ?=
.PHONY: all one two
all: one two
	@cat one/out two/out
one two:
	+@$(SUBMAKE) $(MAKE) -C $@
`

// jobserverSub makes four files in parallel and records the -j and
// jobserver flags it runs with: a sub-make that found no jobserver drops
// it and says -j1.
const jobserverSub = `out: a b c d
	@echo '$(notdir $(CURDIR)) $(filter -j% --jobserver%,$(MAKEFLAGS))' > $@
	@cat $^ >> $@
a b c d:
	@echo $@ > $@
`

// expectSignals finds the line of out that starts with label and expects
// each of sigs among its numbers.
func expectSignals(out, label string, sigs ...int) {
	GinkgoHelper()
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, label)
		if !ok {
			continue
		}
		have := map[string]bool{}
		for _, f := range strings.Fields(rest) {
			have[f] = true
		}
		for _, s := range sigs {
			Expect(have).To(HaveKey(strconv.Itoa(s)), "%s lacks %d:\n%s", label, s, out)
		}
		return
	}
	Fail(fmt.Sprintf("no %q line in:\n%s", label, out))
}
