package tracer

// The tracee side of `--platform=ptrace`: a re-exec of vsysbed, already
// traced (PTRACE_TRACEME), that arms the seccomp filter sending every
// syscall to the tracer and then becomes the guest with execve. The
// filter survives the execve and is inherited by every thread and child,
// so nothing the guest tree runs escapes the tracer.

import (
	"fmt"
	"os"
	"runtime"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"

	"vsysbed/loader"
)

// PtraceExecCommand is the hidden subcommand the ptrace supervisor starts:
// `vsysbed __ptrace-exec -- PROGRAM ARGS...`.
const PtraceExecCommand = "__ptrace-exec"

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

// PtraceExec is the body of the hidden subcommand: argv is PROGRAM ARGS.
// It returns only on failure, with a shell's status (127 not found, 126
// not executable, 125 filter failure).
func PtraceExec(argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "vsysbed: "+PtraceExecCommand+": no PROGRAM given")
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
	if err := loader.Check(loader.Spec{Path: path, Argv: argv, Envp: os.Environ()}); err != nil {
		return nativeExecFailure(err)
	}
	err = seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy:     tracePolicy(),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: ptrace platform: %v\n", err)
		return 125
	}
	err = unix.Exec(path, argv, os.Environ())
	return nativeExecFailure(&loader.ExecError{Path: path, Errno: errnoOf(err)})
}
