// The Go runtime's container-aware GOMAXPROCS keeps two cgroup files open
// for the life of the process, at fds 3 and 4 — numbers the guest expects
// its own open() to return. The host process must not hold low fds.
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command vsysbed runs unmodified x86-64 Linux programs in-process with a
// synthetic vDSO whose __kernel_vsyscall enters a kernel written in Go,
// traps every remaining raw syscall, and reports what was bypassed and
// what trapped, per syscall and per call site.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/vsysbed/vsysbed/internal/version"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tracer"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

const usage = `usage:
  vsysbed run [flags] [--] PROGRAM [ARGS...]   run PROGRAM as the guest, report its syscalls
  vsysbed report COMMAND [flags] REPORT.json   show, merge, diff, check a report; seccomp profile
  vsysbed diff-run [flags] [--] PROGRAM [ARGS...]
                                               run PROGRAM natively and on each platform, print
                                               the first difference (output, status, syscalls)
  vsysbed explore [flags] [--] PROGRAM [ARGS...]
                                               which syscalls PROGRAM needs: each used one stubbed,
                                               then faked, and the program's verdict (docs/explore.md)
  vsysbed vdso --dump FILE                     write the synthetic vDSO image to FILE
  vsysbed gc                                   remove the run directories killed runs left behind
  vsysbed calibrate [flags]                    measure what each path costs on this machine
  vsysbed help [COMMAND]                       show help (also: vsysbed COMMAND --help)
  vsysbed --version                            print the version

vsysbed exits with the guest's status (128+N when it died by signal N),
127 when PROGRAM is not found, 126 when it cannot be executed, and 125
when vsysbed itself fails or the guest needs something not supported yet.
`

// The guest's main thread is the host process's main thread, whose tid is
// the pid (natively gettid() == getpid() there, and threads are told
// apart by it): lock main to it before anything can move it.
func init() { runtime.LockOSThread() }

// mainEntered is when main began (rundir.Now), for the start-up timing.
var mainEntered int64

func main() {
	mainEntered = rundir.Now()
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if h, ok := hidden[args[0]]; ok {
		return h(args[1:], stderr)
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "report":
		return cmdReport(args[1:], stderr)
	case "diff-run":
		return cmdDiffRun(args[1:], stderr)
	case "explore":
		return cmdExplore(args[1:], stderr)
	case "vdso":
		return cmdVDSO(args[1:], stderr)
	case "gc":
		return cmdGC(args[1:], stderr)
	case "calibrate":
		return cmdCalibrate(args[1:], stderr)
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if _, ok := hidden[args[1]]; !ok {
				return run([]string{args[1], "--help"}, stderr)
			}
		}
		fmt.Fprint(reportStdout, usage)
		return 0
	case "version", "--version", "-version":
		fmt.Fprintln(reportStdout, version.Line())
		return 0
	}
	fmt.Fprintf(stderr, "vsysbed: unknown command %q (see 'vsysbed --help')\n", args[0])
	return 2
}

// routeList is a repeatable --route NAME=fast|kernel flag.
type routeList []string

func (r *routeList) String() string { return strings.Join(*r, ",") }
func (r *routeList) Set(v string) error {
	if _, _, err := parseRoute(v); err != nil {
		return err
	}
	*r = append(*r, v)
	return nil
}

func parseRoute(v string) (int, bool, error) {
	name, route, ok := strings.Cut(v, "=")
	if !ok {
		return 0, false, fmt.Errorf("want NAME=fast|kernel, got %q", v)
	}
	nr, ok := kernelsim.Number(name)
	if !ok {
		return 0, false, fmt.Errorf("unknown syscall %q", name)
	}
	switch route {
	case "fast":
		return nr, true, nil
	case "kernel":
		return nr, false, nil
	}
	return 0, false, fmt.Errorf("route must be fast or kernel, got %q", route)
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := newFlagSet("run", func(w io.Writer, fs *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed run [flags] [--] PROGRAM [ARGS...]\n\n"+
			"Runs PROGRAM (searched on PATH like a shell) as the guest, with its stdin,\n"+
			"stdout and stderr, and exits with its status.\n\nflags:\n")
		fs.PrintDefaults()
	})
	var o tracer.Options
	var routes routeList
	fs.StringVar(&o.Report, "report", "", "write the coverage report to `FILE` only (JSON unless --format text); - for stdout")
	fs.StringVar(&o.Format, "format", "", "report format: `text` or json (json is the default with --report;\nwithout --report the report goes to stderr, a text table by default)")
	fs.BoolVar(&o.Quiet, "q", false, "quiet: print nothing but errors (no report on stderr; --report still writes)")
	fs.StringVar(&o.Trap, "trap", "seccomp", "how raw syscalls are caught: `seccomp` (filter on the instruction pointer)\nor sud (Syscall User Dispatch)")
	fs.StringVar(&o.Rewrite, "rewrite", tracer.RewriteLazy, "`lazy` or off: rewrite a trapped call site whose bytes match a known pattern\n"+
		"(`mov $nr,%eax; syscall` starting a function or before glibc's error check) so\n"+
		"that its later calls enter the host without a signal, counted as patched\n"+
		"(ARCHITECTURE.md, \"Rewritten call sites\"); off traps every raw syscall and\n"+
		"leaves the guest's text exact. The ptrace platform ignores it")
	fs.StringVar(&o.Timing, "timing", tracer.TimingOn, "`on` or off: time every bypassed, trapped and patched call (rdtsc at entry and\n"+
		"exit, a few ns a call); the report's time_ns and mean_ns, off leaves them out")
	fs.Var(&routes, "route", "force a syscall's route, `NAME=fast|kernel` (repeatable; for benchmarks)")
	var injects injectList
	fs.Var(&injects, "inject", "tamper with calls as strace's -e inject= does, `SPEC`: SET:error=ERRNO|retval=N\n"+
		"[:signal=SIG][:delay_enter=T][:delay_exit=T][:when=FIRST[..LAST][+STEP]], or syscall=SET:...;\n"+
		"fault=SET:... (error defaults to ENOSYS); scoped with :site=OBJECT+OFFSET, :pid=N, :exe=NAME\n"+
		"(repeatable; docs/explore.md)")
	personality := fs.String("personality", "linux", "the kernel's syscall table: `linux`, "+strings.Join(kernelsim.Personalities(), ", ")+
		" or a FILE of syscall names\n(one a line, # comments); a call outside it fails with ENOSYS and is reported\nas missing in it, per site")
	fs.StringVar(&o.Wait, "wait", tracer.WaitAll, "`all`: end when the whole process tree has ended (background children included,\n"+
		"so the report covers them); main: end with the first process, write the report\n"+
		"then (processes still running are marked running) and leave the rest running")
	fs.BoolVar(&o.KeepRunDir, "keep-rundir", false, "keep the run directory (shards, event log) and print its path")
	fs.BoolVar(&o.Verbose, "v", false, "print one timing line (the run's start-up phases, from its event log) to stderr at the end\n(inprocess platform)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of vsysbed's host process to `FILE` (runtime/pprof)")
	fs.StringVar(&o.Audit, "audit", tracer.AuditNone, "`none` or ebpf: count, with an eBPF program on sys_enter, every syscall the\n"+
		"real kernel executed for the run, from guest or host code; the report gets an\n"+
		"audit section whose escapes must be 0 (root or CAP_BPF+CAP_PERFMON; docs/audit.md)")
	fs.StringVar(&o.Platform, "platform", tracer.PlatformInProcess, "`inprocess` (vsysbed runs the guest), ptrace (PROGRAM runs natively as a\n"+
		"traced child with the synthetic vDSO injected; every syscall is a ptrace stop,\n"+
		"counted, then run by the real kernel) or native: run PROGRAM with no\n"+
		"interception at all and report its syscalls per call site from the kernel's\n"+
		"view alone (needs --audit=ebpf)")
	var tf traceFlags
	tf.register(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	o.MainEntered = mainEntered
	switch o.Format {
	case "", "json", "text":
	default:
		return usageError(stderr, "run", "--format must be text or json, got %q", o.Format)
	}
	switch o.Trap {
	case "seccomp", "sud":
	default:
		return usageError(stderr, "run", "--trap must be seccomp or sud, got %q", o.Trap)
	}
	switch o.Timing {
	case tracer.TimingOn, tracer.TimingOff:
	default:
		return usageError(stderr, "run", "--timing must be on or off, got %q", o.Timing)
	}
	switch o.Rewrite {
	case tracer.RewriteOff, tracer.RewriteLazy:
	default:
		return usageError(stderr, "run", "--rewrite must be off or lazy, got %q", o.Rewrite)
	}
	if o.Rewrite == tracer.RewriteLazy && o.Platform != tracer.PlatformInProcess {
		// Said only when asked for: lazy is the default.
		if !o.Quiet && flagSet(fs, "rewrite") {
			fmt.Fprintf(stderr, "vsysbed: --rewrite=lazy is ignored with --platform=%s (it rewrites in-process guests only)\n", o.Platform)
		}
		o.Rewrite = tracer.RewriteOff
	}
	switch o.Wait {
	case tracer.WaitAll:
	case tracer.WaitMain:
		if o.Platform != tracer.PlatformInProcess {
			return usageError(stderr, "run", "--wait=main runs on the inprocess platform only (a tracer cannot leave its tracees behind)")
		}
	default:
		return usageError(stderr, "run", "--wait must be all or main, got %q", o.Wait)
	}
	switch o.Audit {
	case tracer.AuditNone, tracer.AuditEBPF:
	default:
		return usageError(stderr, "run", "--audit must be none or ebpf, got %q", o.Audit)
	}
	switch o.Platform {
	case tracer.PlatformInProcess:
	case tracer.PlatformPtrace:
		if o.Trap != "seccomp" || o.Audit != tracer.AuditNone {
			return usageError(stderr, "run", "--platform=ptrace stops every syscall with seccomp: --trap and --audit do not apply")
		}
	case tracer.PlatformNative:
		if o.Audit != tracer.AuditEBPF {
			return usageError(stderr, "run", "--platform=native needs --audit=ebpf (natively only the audit sees the syscalls)")
		}
	default:
		return usageError(stderr, "run", "--platform must be inprocess, ptrace or native, got %q", o.Platform)
	}
	if fs.NArg() == 0 {
		return usageError(stderr, "run", "no PROGRAM given")
	}
	var ok bool
	if o.Trace, ok = tf.options(o.Platform, stderr); !ok {
		return 2
	}
	o.Routes = routes
	tamper, err := tamperOptions(injects, *personality)
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return 2
	}
	if tamper != nil && o.Platform != tracer.PlatformInProcess {
		fmt.Fprintf(stderr, "vsysbed: --inject and --personality run on the inprocess platform only\n")
		return 2
	}
	o.Tamper = tamper
	o.Argv = fs.Args()
	return tracer.Run(o)
}

// cmdGC removes stale run directories (tracer.GC) and names each.
func cmdGC(args []string, stderr io.Writer) int {
	fs := newFlagSet("gc", func(w io.Writer, _ *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed gc\n\n"+
			"Removes the run directories ($TMPDIR/vsysbed-run-*) whose supervisor is gone\n"+
			"(a vsysbed killed by SIGKILL) and whose files no live process maps. Every\n"+
			"`vsysbed run` does this first too, for the runs of its user it finds\n"+
			"registered in $XDG_CACHE_HOME/vsysbed/runs (not reading all of $TMPDIR).\n")
	})
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(stderr, "gc", "takes no arguments, got %q", fs.Args())
	}
	for _, d := range tracer.GC(os.TempDir()) {
		fmt.Fprintf(os.Stdout, "removed %s\n", d)
	}
	return 0
}

func cmdVDSO(args []string, stderr io.Writer) int {
	fs := newFlagSet("vdso", func(w io.Writer, fs *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed vdso --dump FILE\n\nflags:\n")
		fs.PrintDefaults()
	})
	dump := fs.String("dump", "", "write the synthetic vDSO ELF image to `FILE` (for readelf, objdump, gdb)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *dump == "" || fs.NArg() != 0 {
		return usageError(stderr, "vdso", "want --dump FILE and no arguments")
	}
	im, err := vdsoinject.Build()
	if err == nil {
		err = im.WriteFile(*dump)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return 1
	}
	return 0
}
