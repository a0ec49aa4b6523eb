// This file is the example suite of docs/go-api.md: it uses nothing but
// the public API (packages bed and bedmatch), as a user's own suite would,
// and lives in the external test package to prove it.

package e2e_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/bed"
	"github.com/vsysbed/vsysbed/bed/bedmatch"
)

var _ = Describe("the public Go API", func() {
	var guests string

	BeforeEach(func() {
		// A user's suite sets VSYSBED_BIN (or puts vsysbed on PATH); in
		// this tree, fall back to the freshly built binary.
		if os.Getenv(bed.BinaryEnv) == "" {
			bin, err := filepath.Abs("../build/vsysbed")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(os.Unsetenv, bed.BinaryEnv)
			Expect(os.Setenv(bed.BinaryEnv, bin)).To(Succeed())
		}
		guests = os.Getenv("VSYSBED_GUESTS")
		if guests == "" {
			guests = "../build/guests"
		}
		if abs, err := filepath.Abs(guests); err == nil {
			guests = abs
		}
	})

	// run runs a guest to completion and returns its stdout and report.
	run := func(ctx context.Context, name string, args ...string) (string, *bed.Report) {
		cmd := bed.Command(ctx, name, args...)
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "running %s", cmd)
		rep, err := cmd.Report()
		Expect(err).NotTo(HaveOccurred())
		return string(out), rep
	}

	It("runs a glibc program, whose raw syscalls all trap", func(ctx SpecContext) {
		out, rep := run(ctx, "/bin/echo", "hello")
		Expect(out).To(Equal("hello\n"))
		Expect(rep.Exit.Code).To(Equal(0))
		Expect(rep).To(bedmatch.HaveTrapped("write"))
		Expect(rep).NotTo(bedmatch.BeFullyBypassed())
	})

	It("sees the probe's bypass and trap sites, the same on every run", func(ctx SpecContext) {
		// A static PIE: loaded at a new address each run, so the sites
		// compare by object and offset, not by address.
		probe := filepath.Join(guests, "vsyscall_probe-musl-static-pie")
		_, base := run(ctx, probe)
		Expect(base).To(bedmatch.HaveBypassRatioAtLeast(0.1))
		Expect(base).To(bedmatch.HaveTrapped("getpid"))
		Expect(base).NotTo(bedmatch.BeFullyBypassed())

		_, again := run(ctx, probe)
		Expect(again).To(bedmatch.HaveNoNewTrapsComparedTo(base))

		// Against a baseline that made fewer raw syscalls, the probe's
		// own raw_entry sites are new.
		_, tiny := run(ctx, "/bin/true")
		Expect(again).NotTo(bedmatch.HaveNoNewTrapsComparedTo(tiny))
	})

	It("passes ExtraFiles to the guest at fd 3 and up, as os/exec does natively", func(ctx SpecContext) {
		script := `echo to fd 4 >&4; ls /proc/self/fd/3 /proc/self/fd/4`
		through := func(start func(extra []*os.File) (string, error)) (string, string) {
			r, w, err := os.Pipe()
			Expect(err).NotTo(HaveOccurred())
			defer r.Close()
			null, err := os.Open(os.DevNull)
			Expect(err).NotTo(HaveOccurred())
			defer null.Close()
			out, err := start([]*os.File{null, w})
			w.Close()
			Expect(err).NotTo(HaveOccurred())
			piped, err := io.ReadAll(r)
			Expect(err).NotTo(HaveOccurred())
			return out, string(piped)
		}
		nativeOut, nativePiped := through(func(extra []*os.File) (string, error) {
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
			cmd.ExtraFiles = extra
			out, err := cmd.Output()
			return string(out), err
		})
		Expect(nativePiped).To(Equal("to fd 4\n"))
		bedOut, bedPiped := through(func(extra []*os.File) (string, error) {
			cmd := bed.Command(ctx, "/bin/sh", "-c", script)
			cmd.ExtraFiles = extra
			out, err := cmd.Output()
			return string(out), err
		})
		Expect(bedPiped).To(Equal(nativePiped))
		Expect(bedOut).To(Equal(nativeOut))
	})

	It("keeps the test process alive and the report when the guest crashes", func(ctx SpecContext) {
		cmd := bed.Command(ctx, filepath.Join(guests, "crash"))
		err := cmd.Run()
		var exitErr *bed.ExitError
		Expect(errors.As(err, &exitErr)).To(BeTrue(), "error %v", err)
		Expect(exitErr.Signal).To(Equal(syscall.SIGSEGV))
		Expect(cmd.ExitCode()).To(Equal(128 + int(syscall.SIGSEGV)))

		rep, err := cmd.Report()
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Exit.Signal).To(Equal("SIGSEGV"))
	})
})
