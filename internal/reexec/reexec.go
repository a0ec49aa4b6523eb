// Package reexec is how vsysbed runs itself: the hidden subcommands it
// re-executes its own binary with (named here and nowhere else, each with
// its purpose; cmd/vsysbed dispatches them from one table), and the argv
// file that carries a program's arguments when they do not fit on the
// re-exec's command line.
package reexec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The hidden subcommands. None is for users: the CLI does not list them.
// tls/inherit.c also knows Host and Fork by name: it runs before Go does,
// in a constructor, to tell a host process from everything else
// (tls.TestHostCommandsAreReexecs checks its names against these).
const (
	// Host is the host process of an in-process run, which the supervisor
	// starts: the Go kernel, the trap and the guest (inprocess.Main).
	Host = "__host"
	// Fork is the new host process of a guest's fork, which takes over the
	// child's memory, fds and registers from its parent (inprocess.ForkChild).
	Fork = "__fork"
	// Probe prints the executable ranges of a fresh host process started
	// without address randomisation, for the trap filter (inprocess.Probe).
	Probe = "__probe"
	// PtraceExec is the stub of the ptrace and native platforms: it sets
	// the caller's signal state, arms the seccomp filter that sends every
	// syscall to the tracer (not on native) and execs the program
	// (ptrace.Exec).
	PtraceExec = "__ptrace-exec"
)

// Commands lists every hidden subcommand, for the dispatch table's test.
var Commands = []string{Host, Fork, Probe, PtraceExec}

// Start starts self with prefix, "--" and argv. When the kernel refuses
// that command line (E2BIG) although the program's own might fit —
// vsysbed's options for its host process or stub come on top — argv goes
// through a file instead: one in dir ("" = a temporary file, which the
// reader removes), each string NUL-terminated, named by --argv-file.
// Whether the program's arguments fit is then the loader's or the
// kernel's to say, as execve would. cleanup removes the file.
func Start(self string, prefix, argv []string, dir string, attr *syscall.ProcAttr) (pid int, cleanup func(), err error) {
	cleanup = func() {}
	pid, err = syscall.ForkExec(self, append(append(prefix[:len(prefix):len(prefix)], "--"), argv...), attr)
	if err != syscall.E2BIG {
		return pid, cleanup, err
	}
	var b strings.Builder
	for _, a := range argv {
		b.WriteString(a)
		b.WriteByte(0)
	}
	var f *os.File
	if dir != "" {
		f, err = os.OpenFile(filepath.Join(dir, "argv"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	} else {
		f, err = os.CreateTemp("", "vsysbed-argv-")
	}
	if err != nil {
		return 0, cleanup, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, cleanup, err
	}
	pid, err = syscall.ForkExec(self, append(prefix[:len(prefix):len(prefix)], "--argv-file", f.Name(), "--"), attr)
	return pid, cleanup, err
}

// ReadArgvFile reads the argv Start wrote; remove says to delete the
// file once read (a temporary one).
func ReadArgvFile(path string, remove bool) ([]string, error) {
	b, err := os.ReadFile(path)
	if remove {
		os.Remove(path)
	}
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}
