package tracer

// The tracee side of `--platform=ptrace`: a re-exec of vsysbed, already
// traced (PTRACE_TRACEME), that arms the seccomp filter sending every
// syscall to the tracer and then becomes the guest with execve. The
// filter survives the execve and is inherited by every thread and child,
// so nothing the guest tree runs escapes the tracer.

import (
	"flag"
	"fmt"
	"os"
	"runtime"

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

// PtraceExec is the body of the hidden subcommand: `[--sigign MASK]
// [--sigmask MASK] [--close-stdio BITS] [--native] [--] PROGRAM ARGS...`.
// It returns only on failure, with a shell's status (127 not found, 126
// not executable, 125 filter failure, 2 usage). --sigign and --sigmask
// are the signal state of vsysbed's caller (inherit.go), set just before
// the execve, and --close-stdio the fds 0-2 it had closed; --native (the
// native platform's stub) skips the filter and the loader's checks: the
// program runs exactly as natively.
func PtraceExec(args []string) int {
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
		return nativeExecFailure(err)
	}
	// The loader's checks, as the in-process platform makes them: the
	// same clear refusal (a 32-bit ELF, a missing interpreter, no #!),
	// and only an x86-64 image ever gets the synthetic vDSO injected.
	if !*native {
		if err := loader.Check(loader.Spec{Path: path, Argv: argv, Envp: os.Environ()}); err != nil {
			return nativeExecFailure(err)
		}
	}
	// Before the filter, whose every syscall is a stop the tracer counts.
	// From here to the execve a signal the caller ignored is ignored here
	// too, as it would be by the program.
	if err := ApplySignals(*ignored, *mask); err != nil {
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
	return nativeExecFailure(&loader.ExecError{Path: path, Errno: errnoOf(err)})
}
