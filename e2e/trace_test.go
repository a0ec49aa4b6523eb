package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A trace as (syscall, result class) per process: the check of vsysbed
// run -o against strace -f -o (docs/trace.md, "Checked against strace").

// traceCall is one call of a traced process: its name and the class of
// its result ("ok", "-ENOENT" and so on, "?" when it did not return).
type traceCall struct {
	name, class string
	ret         int64 // the result when it is ok (a child's pid for fork)
}

func (c traceCall) String() string { return c.name + " " + c.class }

// traceTree is a run's calls per pid and the pid of its first process.
type traceTree struct {
	root  int
	calls map[int][]traceCall
}

var (
	// strace -f -o: "PID name(args) = ret ...", split by interleaving into
	// "PID name(args <unfinished ...>" and "PID <... name resumed>...) = ret".
	// vsysbed: "[pid N] name(args) = ret ... [kind]".
	traceLineRe  = regexp.MustCompile(`^(?:\[pid (\d+)\]|(\d+)) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$`)
	traceEndRe   = regexp.MustCompile(`\) += (-1 (E\w+)|\? ERESTART\w+|\?|(-?\d+|0x[0-9a-f]+))`)
	unfinishedRe = regexp.MustCompile(`<unfinished \.\.\.>$`)
)

// parseTrace reads either tool's output. Signal lines (--- SIG ---) and
// exits (+++ ... +++) are no calls.
func parseTrace(text string) traceTree {
	GinkgoHelper()
	t := traceTree{calls: map[int][]traceCall{}}
	pending := map[int]int{} // pid -> index of its unfinished call
	for _, line := range strings.Split(text, "\n") {
		m := traceLineRe.FindStringSubmatch(line)
		if m == nil || strings.HasSuffix(line, " [vdso]") {
			// vdso: the ptrace platform's vDSO fallbacks, which natively
			// the real vDSO answers without a syscall (docs/trace.md).
			continue
		}
		pid, _ := strconv.Atoi(m[1] + m[2])
		if t.root == 0 {
			t.root = pid
		}
		if m[3] != "" { // resumed
			i, ok := pending[pid]
			Expect(ok).To(BeTrue(), "resumed without unfinished: %s", line)
			delete(pending, pid)
			t.calls[pid][i] = classify(m[3], line)
			continue
		}
		if unfinishedRe.MatchString(line) {
			pending[pid] = len(t.calls[pid])
			t.calls[pid] = append(t.calls[pid], traceCall{name: m[4], class: "?"})
			continue
		}
		t.calls[pid] = append(t.calls[pid], classify(m[4], line))
	}
	return t
}

func classify(name, line string) traceCall {
	GinkgoHelper()
	all := traceEndRe.FindAllStringSubmatch(line, -1)
	Expect(all).NotTo(BeEmpty(), "no result in %q", line)
	m := all[len(all)-1]
	c := traceCall{name: name}
	switch {
	case m[2] != "":
		c.class = "-" + m[2]
	case m[3] != "":
		c.class = "ok"
		c.ret, _ = strconv.ParseInt(m[3], 0, 64)
	default:
		c.class = "?"
	}
	return c
}

// forks are the calls whose result names a new process or thread.
var forks = map[string]bool{"fork": true, "vfork": true, "clone": true, "clone3": true}

// compareTraces matches native's processes with vsysbed's through the
// results of their forks (the k-th fork of matched parents made matched
// children) and returns the first difference, "" when there is none.
// The emulations docs/trace.md lists are applied first.
func compareTraces(native, vsys traceTree) string {
	nat := native.calls[native.root]
	if len(nat) > 0 && nat[0].name == "execve" {
		// vsysbed's loader, not the guest, runs the first image.
		native.calls[native.root] = nat[1:]
	}
	type pair struct{ n, v int }
	queue := []pair{{native.root, vsys.root}}
	seen := map[int]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		seen[p.n] = true
		a, b := native.calls[p.n], vsys.calls[p.v]
		for i := 0; i < len(a) || i < len(b); i++ {
			if i >= len(a) || i >= len(b) {
				return fmt.Sprintf("process %d/%d: native has %d calls, vsysbed %d; first extra: %v",
					p.n, p.v, len(a), len(b), append(a[min(i, len(a)):], b[min(i, len(b)):]...)[0])
			}
			x, y := a[i], b[i]
			if x.name == "rseq" && y.name == "rseq" {
				continue // refused with ENOSYS (kernelsim/syscalls.go)
			}
			if x.name == y.name && x.class == "?" && y.class == "-EINTR" {
				continue // interrupted by a handler: the kernel's ERESTART* at strace's stop, EINTR for the guest
			}
			if x.String() != y.String() {
				return fmt.Sprintf("process %d/%d, call %d: native %q, vsysbed %q (context: %v)", p.n, p.v, i, x, y, a[max(0, i-3):i])
			}
			if forks[x.name] && x.class == "ok" && x.ret > 0 {
				queue = append(queue, pair{int(x.ret), int(y.ret)})
			}
		}
	}
	for pid := range native.calls {
		if !seen[pid] {
			return fmt.Sprintf("native process %d was not reached through the forks", pid)
		}
	}
	if len(vsys.calls) != len(seen) {
		return fmt.Sprintf("vsysbed traced %d processes, native %d", len(vsys.calls), len(seen))
	}
	return ""
}

// traceBoth runs argv under strace -f -o and under vsysbed run -o in trap
// mode mode, expects the same output, and returns both traces' text.
func traceBoth(mode string, argv ...string) (native, vsys string) {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	sPath, vPath := filepath.Join(dir, "strace.txt"), filepath.Join(dir, "vsysbed.txt")
	n := run(nil, append([]string{"strace", "-f", "-qq", "-o", sPath, "--"}, argv...)...)
	flags := []string{"--trap", mode}
	if mode == "ptrace" {
		flags = []string{"--platform=ptrace"}
	}
	v := runVsysbed(nil, append(flags, "--report", filepath.Join(dir, "R.json"), "-o", vPath), argv...)
	expectNoPanic(v)
	Expect(v.Stdout).To(Equal(n.Stdout), "stdout differs: native\n%s\nvsysbed\n%s", n, v)
	Expect(v.Status).To(Equal(n.Status))
	sb, err := os.ReadFile(sPath)
	Expect(err).NotTo(HaveOccurred())
	vb, err := os.ReadFile(vPath)
	Expect(err).NotTo(HaveOccurred())
	return string(sb), string(vb)
}

var _ = Describe("tracing (-e trace=, -o)", func() {
	BeforeEach(func() {
		if _, err := exec.LookPath("strace"); err != nil {
			Skip("strace is not installed (the Makefile's DEB_PACKAGES has it)")
		}
	})

	programs := map[string][]string{
		"busybox ls":                 {"busybox", "ls", "/"},
		"coreutils cat":              {"cat", "/etc/hostname"},
		"coreutils ls":               {"ls", "-la", "/usr"},
		"python3 -c":                 {"/usr/bin/python3", "-c", "import os; print(os.getpid() > 0)"},
		"a forking guest":            nil, // build/guests/forker, filled in below
		"fork, pipe and posix_spawn": nil,
		"signal handlers":            nil, // the corpus's signals-glibc
		"bypassed calls":             nil, // the corpus's fileio-vsysbed (musl through __kernel_vsyscall)
	}
	for _, mode := range []string{"seccomp", "sud", "ptrace"} {
		for what, argv := range programs {
			It(fmt.Sprintf("gives strace's calls and result classes per process: %s (%s)", what, mode), func() {
				switch what {
				case "a forking guest":
					argv = []string{filepath.Join(guestDir, "forker")}
				case "fork, pipe and posix_spawn":
					argv = []string{corpusBinary("forkexec", corpusLibc{suffix: "glibc"})}
				case "signal handlers":
					argv = []string{corpusBinary("signals", corpusLibc{suffix: "glibc"})}
				case "bypassed calls":
					argv = []string{corpusBinary("fileio", corpusLibc{suffix: "vsysbed", bypass: true})}
				}
				s, v := traceBoth(mode, argv...)
				nat, vs := parseTrace(s), parseTrace(v)
				Expect(nat.calls).NotTo(BeEmpty())
				Expect(compareTraces(nat, vs)).To(BeEmpty(), "strace:\n%s\nvsysbed:\n%s", clip(s), clip(v))
			})
		}
	}

	It("notices a call missing, an extra one and another result class (the comparison can fail)", func() {
		s, v := traceBoth("seccomp", filepath.Join(guestDir, "forker"))
		nat := func() traceTree { return parseTrace(s) }
		Expect(compareTraces(nat(), parseTrace(v))).To(BeEmpty())
		lines := strings.Split(v, "\n")
		var closeAt int
		for i, l := range lines {
			if strings.Contains(l, "] close(") {
				closeAt = i
				break
			}
		}
		Expect(closeAt).NotTo(BeZero())
		dropped := strings.Join(append(append([]string{}, lines[:closeAt]...), lines[closeAt+1:]...), "\n")
		Expect(compareTraces(nat(), parseTrace(dropped))).To(ContainSubstring("close"))
		extra := strings.Join(append(append([]string{}, lines[:closeAt+1]...), lines[closeAt:]...), "\n")
		Expect(compareTraces(nat(), parseTrace(extra))).NotTo(BeEmpty())
		failed := strings.Replace(v, lines[closeAt], strings.SplitN(lines[closeAt], " = ", 2)[0]+" = -1 EBADF (Bad file descriptor) [trap]", 1)
		Expect(compareTraces(nat(), parseTrace(failed))).To(ContainSubstring("-EBADF"))
	})
})

var _ = Describe("tracing's outputs", func() {
	It("writes to vsysbed's stderr without -o: a pipe in step with the guest's own lines", func() {
		r := runVsysbed(nil, []string{"--report", filepath.Join(GinkgoT().TempDir(), "R.json"), "-e", "trace=write"},
			"sh", "-c", "echo one >&2; echo two >&2")
		Expect(r.Status).To(Equal(0), "%s", r)
		// dash writes through fd 1 after its dup2(2, 1); the second write
		// is from the site --rewrite=lazy (the default) rewrote at the first
		Expect(r.Stderr).To(MatchRegexp(`^one\n\[pid (\d+)\] write\(1, "one\\n", 4\) = 4 \[trap\]\n` +
			`two\n\[pid \d+\] write\(1, "two\\n", 4\) = 4 \[patched\]\n\[pid \d+\] \+\+\+ exited with 0 \+\+\+\n$`))
	})

	It("writes to vsysbed's stderr without -o: a file through the relay, nothing lost or overwritten", func() {
		dir := GinkgoT().TempDir()
		errFile := filepath.Join(dir, "stderr")
		// stderr is a regular file without O_APPEND: a second opening of it
		// would overwrite the guest's lines.
		cmd := fmt.Sprintf("%s run --report %s -e trace=write -- sh -c 'echo one >&2; echo two >&2' 2>%s",
			vsysbedBin, filepath.Join(dir, "R.json"), errFile)
		r := run(nil, "sh", "-c", cmd)
		Expect(r.Status).To(Equal(0), "%s", r)
		b, err := os.ReadFile(errFile)
		Expect(err).NotTo(HaveOccurred())
		var guest, traced []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if strings.HasPrefix(l, "[pid ") {
				traced = append(traced, l)
			} else {
				guest = append(guest, l)
			}
		}
		Expect(guest).To(Equal([]string{"one", "two"}), "%s", b)
		Expect(traced).To(HaveLen(3), "%s", b)
		Expect(traced[0]).To(MatchRegexp(`^\[pid \d+\] write\(1, "one\\n", 4\) = 4 \[trap\]$`))
		Expect(traced[1]).To(MatchRegexp(`^\[pid \d+\] write\(1, "two\\n", 4\) = 4 \[patched\]$`), "the site rewritten at the first write")
		Expect(traced[2]).To(MatchRegexp(`^\[pid \d+\] \+\+\+ exited with 0 \+\+\+$`))
	})

	It("writes a call the process dies in as '= ?', then strace's +++ killed +++ line", func() {
		path := filepath.Join(GinkgoT().TempDir(), "t")
		r := runVsysbed(nil, []string{"--report", filepath.Join(filepath.Dir(path), "R.json"), "-e", "trace=kill", "-o", path},
			"sh", "-c", "kill -9 $$")
		Expect(r.Status).To(Equal(128 + 9))
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(MatchRegexp(`^\[pid (\d+)\] kill\(\d+, SIGKILL\) = \? \[trap\]\n\[pid \d+\] \+\+\+ killed by SIGKILL \+\+\+\n$`))
	})

	It("sums the calls with -c, per entry kind, as many as the trace has lines", func() {
		dir := GinkgoT().TempDir()
		argv := []string{filepath.Join(guestDir, "forker")}
		t := runVsysbed(nil, []string{"--report", filepath.Join(dir, "R1.json"), "-o", filepath.Join(dir, "t")}, argv...)
		Expect(t.Status).To(Equal(0), "%s", t)
		c := runVsysbed(nil, []string{"--report", filepath.Join(dir, "R2.json"), "-c"}, argv...)
		Expect(c.Status).To(Equal(0), "%s", c)
		Expect(c.Stderr).To(ContainSubstring("% time     seconds  usecs/call     calls    errors    bypass      trap   patched      vdso syscall"))
		b, err := os.ReadFile(filepath.Join(dir, "t"))
		Expect(err).NotTo(HaveOccurred())
		lines := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, ") = ") {
				lines++
			}
		}
		total := regexp.MustCompile(`(?m)^100\.00 +[0-9.]+ +(\d+) +(\d*) +(\d+) +(\d+) +(\d+) +(\d+) total$`).FindStringSubmatch(c.Stderr)
		Expect(total).NotTo(BeNil(), "%s", c.Stderr)
		Expect(total[1]).To(Equal(strconv.Itoa(lines)), "calls: -c %s, the trace %d lines\n%s", total[1], lines, c.Stderr)
		// Every call of a glibc program a raw syscall: a trap, or patched
		// once --rewrite=lazy (the default) has rewritten its site.
		Expect(total[3]).To(Equal("0"), "a glibc program's bypassed calls")
		trap, _ := strconv.Atoi(total[4])
		patched, _ := strconv.Atoi(total[5])
		Expect(patched).To(BeNumerically(">", 0), "no call through a rewritten site\n%s", c.Stderr)
		Expect(strconv.Itoa(trap+patched)).To(Equal(total[1]), "every call of a glibc program traps or is patched")
		Expect(c.Stderr).To(MatchRegexp(`(?m) 1 +0 +1 +0 +0 clone$`))
	})

	It("writes JSON Lines with --trace-format jsonl", func() {
		path := filepath.Join(GinkgoT().TempDir(), "t.jsonl")
		r := runVsysbed(nil, []string{"--report", path + ".json", "-e", "trace=openat", "--trace-format", "jsonl", "-o", path}, "cat", "/nonexistent")
		Expect(r.Status).To(Equal(1))
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(MatchRegexp(`"syscall":"openat","nr":257,"args":\["AT_FDCWD","\\"/nonexistent\\"","O_RDONLY"\],"result":-2,"result_text":"-1 ENOENT \(No such file or directory\)","errno":"ENOENT","kind":"trap"`))
	})

	It("names each call's site with --stack: object, function and offset", func() {
		path := filepath.Join(GinkgoT().TempDir(), "t")
		r := runVsysbed(nil, []string{"--report", path + ".json", "--stack", "-e", "trace=write", "-o", path},
			corpusBinary("hello", corpusLibc{suffix: "glibc"}))
		Expect(r.Status).To(Equal(0), "%s", r)
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		// The second write, from the site its first rewrote (the default).
		Expect(string(b)).To(MatchRegexp(`(?m)^\[pid \d+\] write\(1, "OK hello\\n", 9\) = 9 \[patched\]\n > /\S*libc\.so\.6\(\w*write\w*\+0x[0-9a-f]+\) \[0x[0-9a-f]+\]$`))
	})

	It("refuses an unknown syscall name in one line, and tracing on the native platform", func() {
		r := runVsysbed(nil, []string{"-e", "trace=opn"}, "true")
		Expect(r.Status).To(Equal(2))
		Expect(r.Stderr).To(Equal("vsysbed run: -e trace: unknown syscall \"opn\" (see 'vsysbed run --help')\n"))
		r = runVsysbed(nil, []string{"--platform=native", "--audit=ebpf", "-c"}, "true")
		Expect(r.Status).To(Equal(2))
		Expect(r.Stderr).To(Equal("vsysbed run: tracing (-e, -o, -c) runs on the inprocess and ptrace platforms only (see 'vsysbed run --help')\n"))
	})
})
