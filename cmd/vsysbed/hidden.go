package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/platform/inprocess"
	"github.com/vsysbed/vsysbed/platform/ptrace"
	"github.com/vsysbed/vsysbed/rundir"
)

// hidden are the subcommands vsysbed re-executes itself with, never
// typed by a user; internal/reexec names each and says what it is for.
var hidden = map[string]func(args []string, stderr io.Writer) int{
	reexec.Host: func(args []string, stderr io.Writer) int {
		rundir.HostMarks.Mark(rundir.PhaseHost, mainEntered, "")
		kernelsim.CatchHostSignals()
		return cmdHost(args, stderr)
	},
	reexec.Fork: func(args []string, stderr io.Writer) int {
		kernelsim.CatchHostSignals()
		return cmdFork(args, stderr)
	},
	reexec.Probe: func([]string, io.Writer) int { return inprocess.Probe() },
	// `__ptrace-exec [FLAGS] -- PROGRAM ARGS...`
	reexec.PtraceExec: func(args []string, _ io.Writer) int { return ptrace.Exec(args) },
}

// cmdFork is a host process a guest fork starts; not for users.
func cmdFork(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(reexec.Fork, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o inprocess.Options
	fs.StringVar(&o.RunDir, "rundir", "", "run directory")
	fs.StringVar(&o.Trap, "trap", "seccomp", "seccomp or sud")
	fs.BoolVar(&o.Rewrite, "rewrite", false, "rewrite trapped call sites (--rewrite=lazy)")
	fs.BoolVar(&o.NoTiming, "timing-off", false, "time no call (--timing=off)")
	fs.IntVar(&o.LinkFD, "link-fd", 0, "where the link to the parent goes")
	fs.BoolVar(&o.Spare, "spare", false, "started ahead of a fork: wait for it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return inprocess.ForkChild(o)
}

// cmdHost is the host process the supervisor starts; not for users.
func cmdHost(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(reexec.Host, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o inprocess.Options
	var routes routeList
	fs.StringVar(&o.RunDir, "rundir", "", "run directory")
	fs.StringVar(&o.Trap, "trap", "seccomp", "seccomp or sud")
	fs.Var(&routes, "route", "NAME=fast|kernel")
	rewrite := fs.String("rewrite", "off", "off or lazy")
	fs.BoolVar(&o.NoTiming, "timing-off", false, "time no call (--timing=off)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "CPU profile file")
	fs.BoolVar(&o.Gate, "gate", false, "wait for a byte on the gate fd before starting")
	fs.IntVar(&o.StdioFD, "stdio-fd", 0, "where the guest's fds 0-2 arrive (and the gate after them)")
	fs.Uint64Var(&o.Ignored, "sigign", 0, "signals the guest starts with ignored (bit N-1: signal N)")
	fs.Uint64Var(&o.Mask, "sigmask", 0, "the guest's first thread's signal mask")
	argvFile := fs.String("argv-file", "", "read PROGRAM [ARGS...] from this file (NUL-terminated strings)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Argv = fs.Args()
	switch *rewrite {
	case "off":
	case "lazy":
		o.Rewrite = true
	default:
		fmt.Fprintf(stderr, "vsysbed: --rewrite must be off or lazy, got %q\n", *rewrite)
		return 2
	}
	if *argvFile != "" {
		argv, err := reexec.ReadArgvFile(*argvFile, false)
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed: %v\n", err)
			return exitstatus.Failed
		}
		o.Argv = argv
	}
	o.Routes = map[int]bool{}
	for _, r := range routes {
		nr, fast, _ := parseRoute(r)
		o.Routes[nr] = fast
	}
	return inprocess.Main(o)
}
