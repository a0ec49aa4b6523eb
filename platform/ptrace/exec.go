package ptrace

// The tracee side of `--platform=ptrace`: a re-exec of vsysbed, already
// traced (PTRACE_TRACEME), that arms the seccomp filter sending every
// syscall to the tracer and then becomes the guest with execve. The
// filter survives the execve and is inherited by every thread and child,
// so nothing the guest tree runs escapes the tracer.

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/loader"
)

// tracePolicy sends every syscall of every architecture to the tracer
// (SECCOMP_RET_TRACE). The library wants at least one named group, so
// getpid is named with the default action; x32 calls (nr with bit 30)
// fail with ENOSYS, as the library always arranges.
func tracePolicy() seccomp.Policy {
	return seccomp.Policy{
		DefaultAction: seccomp.ActionTrace,
		Syscalls: []seccomp.SyscallGroup{
			{Names: []string{"getpid"}, Action: seccomp.ActionTrace},
		},
	}
}

// Exec is the body of the hidden subcommand reexec.PtraceExec:
// `[--sigign MASK] [--sigmask MASK] [--close-stdio BITS] [--native] [--]
// PROGRAM ARGS...`. It returns only on failure, with a shell's status
// (127 not found, 126 not executable, 125 filter failure, 2 usage).
// --sigign and --sigmask are the signal state of vsysbed's caller
// (tracer/inherit.go), set just before the execve, and --close-stdio the
// fds 0-2 it had closed; --native (the native platform's stub) skips the
// filter and the loader's checks: the program runs exactly as natively.
func Exec(args []string) int {
	fs := flag.NewFlagSet(reexec.PtraceExec, flag.ContinueOnError)
	ignored := fs.Uint64("sigign", 0, "signals to ignore (bit N-1: signal N)")
	mask := fs.Uint64("sigmask", 0, "the signal mask")
	native := fs.Bool("native", false, "no filter, no loader checks")
	closeStdio := fs.Int("close-stdio", 0, "fds 0-2 to close before the execve (bit N: fd N)")
	argvFile := fs.String("argv-file", "", "read PROGRAM ARGS... from this temporary file (NUL-terminated strings)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if *argvFile != "" {
		var err error
		if argv, err = reexec.ReadArgvFile(*argvFile, true); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
			return exitstatus.Failed
		}
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "vsysbed: "+reexec.PtraceExec+": no PROGRAM given")
		return 2
	}
	// One thread loads the filter (TSYNC puts it on the others) and
	// execs: execve from a locked thread keeps the runtime from moving
	// us between the two.
	runtime.LockOSThread()
	path, err := loader.LookPath(argv[0], os.Getenv("PATH"))
	if err != nil {
		return ExecFailure(err)
	}
	// The loader's checks, as the in-process platform makes them: the
	// same clear refusal (a 32-bit ELF, a missing interpreter, no #!),
	// and only an x86-64 image ever gets the synthetic vDSO injected.
	if !*native {
		if err := loader.Check(loader.Spec{Path: path, Argv: argv, Envp: os.Environ()}); err != nil {
			return ExecFailure(err)
		}
	}
	// Before the filter, whose every syscall is a stop the tracer counts.
	// From here to the execve a signal the caller ignored is ignored here
	// too, as it would be by the program.
	if err := applySignals(*ignored, *mask); err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	for fd := 0; fd < 3; fd++ {
		if *closeStdio&(1<<fd) != 0 {
			unix.Close(fd) // the runtime's /dev/null: the caller had none
		}
	}
	if !*native {
		err = seccomp.LoadFilter(seccomp.Filter{
			NoNewPrivs: true,
			Flag:       seccomp.FilterFlagTSync,
			Policy:     tracePolicy(),
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: ptrace platform: %v\n", err)
			return exitstatus.Failed
		}
	}
	err = unix.Exec(path, argv, os.Environ())
	return ExecFailure(&loader.ExecError{Path: path, Errno: errnoOf(err)})
}

// applySignals makes the calling thread's process ignore the signals in
// ignored and the thread block mask — what an execve from it then keeps.
// Exec calls it just before the execve, on the thread that execs: Go's
// runtime has installed its own handlers over the caller's SIG_IGN, and
// execve resets handlers to SIG_DFL. Raw calls: the runtime's bookkeeping
// must not matter any more.
func applySignals(ignored, mask uint64) error {
	for sig := 1; sig <= 64; sig++ {
		if ignored&(1<<(sig-1)) == 0 || sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		act := [4]uint64{1} // handler SIG_IGN, no flags, restorer, mask
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("ignoring signal %d: %w", sig, e)
		}
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("setting the signal mask: %w", e)
	}
	return nil
}

// ExecFailure answers like a shell for a program that cannot be run: it
// prints why and returns 127 when the program does not exist, 126 when it
// cannot be executed. Exec and the native platform's supervisor use it.
func ExecFailure(err error) int {
	line, status := loader.Refusal(err)
	fmt.Fprintln(os.Stderr, line)
	return status
}

func errnoOf(err error) unix.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.Errno(e)
	}
	return unix.EACCES
}
