package tracer

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/symcache"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/platform/ptrace"
	"github.com/vsysbed/vsysbed/rundir"
)

// runPtrace is Run for --platform=ptrace: the supervisor's part around
// the ptrace platform (platform/ptrace), which traces the guest tree.
func runPtrace(o Options, inh inheritance) int {
	dir, cleanup, err := newRunDir(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	defer cleanup()
	finishTrace := func(*coverage.Report) {}
	if o.Trace != nil {
		if finishTrace, err = startTrace(o.Trace, dir); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: tracing: %v\n", err)
			return exitstatus.Failed
		}
	}

	fw, stopSignals := superviseTree()
	defer stopSignals()
	stopForwarding := func() {}
	defer func() { stopForwarding() }()
	// The caller's fds at their numbers and its signal state, which the
	// stub sets before its execve (inherit.go).
	res, err := ptrace.Run(ptrace.Config{
		Dir: dir, Argv: o.Argv, Files: sameNumbers(inh.fds), StubFlags: inh.stubFlags(),
		Started: func(pid int) { stopForwarding = forwardSignals(fw, pid, false) },
		Stopped: func(sig unix.Signal) { stopSelf(sig, nil) },
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	reapDescendants()
	// No report for -c's vdso column: here the vDSO's fallbacks are real
	// calls, traced with the kind vdso.
	finishTrace(nil)
	return finishPtrace(o, dir, res)
}

// finishPtrace builds and writes the report of a ptrace run and returns
// vsysbed's status.
func finishPtrace(o Options, dir string, res ptrace.Result) int {
	ws := syscall.WaitStatus(res.Status)
	if !res.Ended {
		fmt.Fprintln(os.Stderr, "vsysbed: the traced process's end was not seen")
		return exitstatus.Failed
	}
	if !res.Started {
		// The stub failed before PROGRAM ran and said why.
		return exitstatus.Of(ws)
	}
	var rep *coverage.Report
	in, err := rundir.ReadInput(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: building the report: %v\n", err)
	} else {
		in.Command, in.Host, in.HostPID = o.Argv, coverage.HostStatusFromWait(ws), res.Pid
		in.TrapMode, in.SyscallName = ptrace.TrapMode, kernelsim.Name
		in.Symbols = symcache.Open()
		rep = coverage.Build(in)
	}
	if ws.Signaled() && ws.Signal() != syscall.SIGPIPE && ws.Signal() != syscall.SIGINT {
		describeDeath(rep, dir, ws.Signal(), o.Quiet)
	}
	if rep != nil {
		if err := writeReport(rep, o, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: writing the report: %v\n", err)
			return exitstatus.Failed
		}
	}
	return exitstatus.Of(ws)
}
