package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vsysbed/vsysbed/coverage"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// --inject (docs/explore.md): strace's -e inject= semantics, checked
// against strace itself on the inject guest — the same output and exit,
// in both trap modes — and the injected calls counted in the report.
var _ = Describe("fault injection (--inject)", func() {
	// Each case: the strace expression, the guest's call and how many of
	// its 8 calls the expression changes (0: not known exactly — the
	// dynamic loader's opens count among openat's invocations too). The
	// first is strace(1)'s own example; the rest cover when='s forms,
	// error by name and number, retval, fault= (ENOSYS), signal= alone
	// and with an error or a value (as strace's own qual_inject-error-signal
	// and qual_inject-retval tests do with chdir), the "inject=" prefix,
	// delays.
	cases := []struct {
		spec, call string
		injected   uint64
	}{
		{"chdir:error=ENOENT:when=3+", "chdir", 6},
		{"chdir:retval=42:when=2..7+3", "chdir", 2},
		{"chdir:error=13:when=2", "chdir", 1},
		{"openat:error=EMFILE:when=2+2", "openat", 0},
		{"fault=chdir:when=4..5", "chdir", 2},
		{"chdir:signal=SIGUSR1:when=2+", "chdir", 7},
		{"chdir:retval=7:signal=USR1:when=3", "chdir", 1},
		{"chdir:error=ENOENT:signal=SIGUSR1:when=2..3", "chdir", 2},
		{"inject=chdir:retval=0:when=1+4", "chdir", 2},
		// An injected EINTR is the guest's, neither hidden nor restarted.
		{"chdir:error=EINTR:when=2", "chdir", 1},
		{"chdir:error=EINTR:signal=USR1:when=3", "chdir", 1},
		{"getppid:retval=0:when=1..3", "getppid", 3},
		{"%file:error=ENOENT:when=7..8", "chdir", 2},
		{"chdir:delay_enter=20ms:delay_exit=10ms:when=1..2", "chdir", 2},
	}
	straceArgs := func(spec string) []string {
		if strings.HasPrefix(spec, "fault=") || strings.HasPrefix(spec, "inject=") {
			return []string{"-e", spec}
		}
		return []string{"-e", "inject=" + spec}
	}
	for _, c := range cases {
		It("as strace -e inject="+c.spec+" does", func() {
			strace, err := exec.LookPath("strace")
			if err != nil {
				Skip("strace is not installed")
			}
			guest := filepath.Join(guestDir, "inject")
			native := run(nil, append(append([]string{strace, "-qq", "-o", "/dev/null"}, straceArgs(c.spec)...), guest, c.call, "8")...)
			Expect(native.Status).To(Equal(0), "strace: %s", native)
			for _, trap := range []string{"seccomp", "sud"} {
				path := filepath.Join(GinkgoT().TempDir(), "R.json")
				start := time.Now()
				got := runVsysbed(nil, []string{"--trap", trap, "--report", path, "--inject", c.spec}, guest, c.call, "8")
				took := time.Since(start)
				expectNoPanic(got)
				Expect(got.Stdout).To(Equal(native.Stdout), "--trap %s: strace:\n%s\nvsysbed:\n%s", trap, native, got)
				Expect(got.Status).To(Equal(native.Status))
				r, err := coverage.Load(path)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Inject).To(Equal([]string{c.spec}))
				injected := syscallRow(r, c.call).Injected
				if c.injected != 0 {
					Expect(injected).To(Equal(c.injected), "--trap %s: injected %s calls", trap, c.call)
				} else {
					Expect(injected).To(BeNumerically(">=", 4), "--trap %s: injected %s calls", trap, c.call)
				}
				var atSites uint64
				for _, s := range r.Sites {
					if s.Injected > 0 {
						Expect(s.Syscall).To(Equal(c.call))
						Expect(s.Object).To(Or(HaveSuffix("libc.so.6"), HaveSuffix("ld-linux-x86-64.so.2")))
						atSites += s.Injected
					}
				}
				Expect(atSites).To(Equal(injected))
				if strings.Contains(c.spec, "delay") {
					Expect(took).To(BeNumerically(">=", 60*time.Millisecond), "two calls delayed by 20ms+10ms")
				}
			}
		})
	}

	It("marks the injected calls in -e trace= output as strace does: (INJECTED)", func() {
		strace, err := exec.LookPath("strace")
		if err != nil {
			Skip("strace is not installed")
		}
		guest := filepath.Join(guestDir, "inject")
		spec := "chdir:error=ENOENT:when=2"
		results := func(out string) []string {
			var rs []string
			re := regexp.MustCompile(`chdir\("/"\)\s+= (.*?)(?: \[\w+\])?$`)
			for _, l := range strings.Split(out, "\n") {
				if m := re.FindStringSubmatch(l); m != nil {
					rs = append(rs, m[1])
				}
			}
			return rs
		}
		native := run(nil, strace, "-qq", "-e", "trace=chdir", "-e", "inject="+spec, guest, "chdir", "3")
		want := results(native.Stderr)
		Expect(want).To(Equal([]string{"0", "-1 ENOENT (No such file or directory) (INJECTED)", "0"}), "strace: %s", native)
		for _, trap := range []string{"seccomp", "sud"} {
			got := runVsysbed(nil, []string{"--trap", trap, "--report", "/dev/null", "-e", "trace=chdir", "--inject", spec}, guest, "chdir", "3")
			Expect(results(got.Stderr)).To(Equal(want), "--trap %s: %s", trap, got)
		}
	})

	It("scoped to a call site, leaves the loader's opens alone", func() {
		guest := filepath.Join(guestDir, "inject")
		// Where the guest's own opens enter (libc's open), from a plain run.
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		Expect(runVsysbed(nil, []string{"--report", path}, guest, "openat", "3").Status).To(Equal(0))
		r, err := coverage.Load(path)
		Expect(err).NotTo(HaveOccurred())
		// A site's calls: its first a trap, the rest patched once
		// --rewrite=lazy (the default) has rewritten it.
		calls := map[coverage.Hex]uint64{}
		for _, s := range r.Sites {
			if s.Syscall == "openat" {
				calls[s.Address] += s.Count
			}
		}
		var site *coverage.Site
		for i, s := range r.Sites {
			if s.Syscall == "openat" && calls[s.Address] == 3 {
				site = &r.Sites[i]
			}
		}
		Expect(site).NotTo(BeNil(), "a site with the guest's 3 opens: %v", r.Sites)
		scope := "openat:error=EACCES:site=" + filepath.Base(site.Object) + "+" + site.Offset.String()
		for _, trap := range []string{"seccomp", "sud"} {
			got := runVsysbed(nil, []string{"--trap", trap, "--report", path, "--inject", scope}, guest, "openat", "3")
			Expect(got.Status).To(Equal(0), "%s", got)
			Expect(got.Stdout).To(Equal("openat 1: -1 EACCES\nopenat 2: -1 EACCES\nopenat 3: -1 EACCES\nSIGUSR1 caught 0\n"))
			r, err := coverage.Load(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(syscallRow(r, "openat").Injected).To(Equal(uint64(3)))
		}
		// Unscoped, the dynamic loader's own opens fail too: no libc.
		got := runVsysbed(nil, []string{"--inject", "openat:error=EACCES"}, guest, "openat", "3")
		Expect(got.Status).To(Equal(127), "%s", got)
	})

	It("scoped to a process by its executable, leaves its parent alone", func() {
		guest := filepath.Join(guestDir, "inject")
		script := "cd / && echo shell ok; " + guest + " chdir 2"
		got := runVsysbed(nil, []string{"--inject", "chdir:error=EPERM:exe=inject"}, "/bin/sh", "-c", script)
		Expect(got.Status).To(Equal(0), "%s", got)
		Expect(got.Stdout).To(Equal("shell ok\nchdir 1: -1 EPERM\nchdir 2: -1 EPERM\nSIGUSR1 caught 0\n"))
	})

	It("is refused on the ptrace platform and with a bad spec", func() {
		got := runVsysbed(nil, []string{"--platform=ptrace", "--inject", "chdir:error=EPERM"}, filepath.Join(guestDir, "exit42"))
		Expect(got.Status).To(Equal(2))
		Expect(got.Stderr).To(ContainSubstring("inprocess platform only"))
		got = runVsysbed(nil, []string{"--inject", "chdir:when=0:error=EPERM"}, filepath.Join(guestDir, "exit42"))
		Expect(got.Status).To(Equal(2))
		Expect(got.Stderr).To(ContainSubstring("from 1 to 65535"))
	})
})

// --personality: a kernel with a subset of Linux's table; the calls
// outside it fail with ENOSYS and are reported per site.
var _ = Describe("kernel personalities (--personality)", func() {
	It("unikraft: the calls outside it reported with their sites, and report check gates on them", func() {
		guest := filepath.Join(guestDir, "inject")
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		got := runVsysbed(nil, []string{"--personality", "unikraft", "--report", path}, guest, "chdir", "1")
		expectNoPanic(got)
		r, err := coverage.Load(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Personality).To(Equal("unikraft"))
		// glibc's start-up asks for these three, none of them in the list.
		missing := r.MissingSyscalls()
		Expect(missing).To(ContainElements("set_tid_address", "set_robust_list", "rseq"))
		Expect(missing).NotTo(ContainElement("chdir"))
		for _, s := range r.Sites {
			if s.Missing > 0 {
				Expect(s.Object).To(Or(HaveSuffix("libc.so.6"), HaveSuffix("ld-linux-x86-64.so.2")), "site %+v", s)
				Expect(s.Symbol).NotTo(BeEmpty())
				Expect(missing).To(ContainElement(s.Syscall))
			}
		}
		check := run(nil, vsysbedBin, "report", "check", "--personality", "unikraft", path)
		Expect(check.Status).To(Equal(1), "%s", check)
		Expect(check.Stdout).To(ContainSubstring("missing in unikraft: "))
		Expect(check.Stdout).To(ContainSubstring("rseq"))
		show := run(nil, vsysbedBin, "report", "show", path)
		Expect(show.Stdout).To(ContainSubstring("missing in unikraft (failed with ENOSYS): "))

		// The same program under Linux's table passes the linux gate
		// and fails the unikraft one from its plain report.
		Expect(runVsysbed(nil, []string{"--report", path}, guest, "chdir", "1").Status).To(Equal(0))
		Expect(run(nil, vsysbedBin, "report", "check", "--personality", "linux", path).Status).To(Equal(0))
		Expect(run(nil, vsysbedBin, "report", "check", "--personality", "unikraft", path).Status).To(Equal(1))
	})

	It("from a file: a call it lacks fails with ENOSYS at its site", func() {
		// Everything the guest calls but chdir (from a run's report).
		guest := filepath.Join(guestDir, "inject")
		path := filepath.Join(GinkgoT().TempDir(), "R.json")
		Expect(runVsysbed(nil, []string{"--report", path}, guest, "chdir", "2").Status).To(Equal(0))
		r, err := coverage.Load(path)
		Expect(err).NotTo(HaveOccurred())
		list := "# all the inject guest needs but chdir\n"
		for _, row := range r.Syscalls {
			if row.Name != "chdir" {
				list += row.Name + "\n"
			}
		}
		file := filepath.Join(GinkgoT().TempDir(), "nochdir.txt")
		Expect(os.WriteFile(file, []byte(list), 0o644)).To(Succeed())
		for _, trap := range []string{"seccomp", "sud"} {
			got := runVsysbed(nil, []string{"--trap", trap, "--personality", file, "--report", path}, guest, "chdir", "2")
			Expect(got.Status).To(Equal(0), "--trap %s: %s", trap, got)
			Expect(got.Stdout).To(Equal("chdir 1: -1 ENOSYS\nchdir 2: -1 ENOSYS\nSIGUSR1 caught 0\n"))
			r, err = coverage.Load(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Personality).To(Equal("nochdir"))
			Expect(r.MissingSyscalls()).To(Equal([]string{"chdir"}))
			Expect(syscallRow(r, "chdir").Missing).To(Equal(uint64(2)))
		}
	})
})
