// Package tracer holds the supervisor: `vsysbed run` starts the host
// process (a re-exec of this binary that runs the guest in-process),
// forwards terminal and termination signals to it, mirrors its exit
// status, and writes the coverage report from the run directory's shards
// and event log — also when the host process crashed or was killed.
// On the ptrace platform (platform/ptrace; run_ptrace.go here) the guest
// runs natively as a traced child instead, with the synthetic vDSO
// injected, and every syscall is counted at a seccomp stop into the same
// shards; the supervisor keeps the same part around it.
package tracer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/internal/symcache"
	"github.com/vsysbed/vsysbed/internal/version"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/platform/inprocess"
	"github.com/vsysbed/vsysbed/rundir"
)

// Options of one `vsysbed run`.
type Options struct {
	Report     string   // report file, "" = none
	Format     string   // "json" or "text"; "" = json for files
	Trap       string   // "seccomp" or "sud"
	Rewrite    string   // RewriteOff (or "") or RewriteLazy
	Timing     string   // TimingOn (or "") or TimingOff
	Routes     []string // NAME=fast|kernel, passed to the host
	Argv       []string // PROGRAM [ARGS...]
	KeepRunDir bool
	Quiet      bool   // -q: no report on stderr, nothing but errors
	CPUProfile string // profile the host process into this file
	// Verbose (-v): print the run's start-up timing line at the end.
	// MainEntered is when vsysbed's main began (rundir.Now), its first point.
	Verbose     bool
	MainEntered int64

	// Wait: WaitAll (or "") ends the run when the whole tree has ended,
	// WaitMain when the first process has (the rest goes on running).
	Wait string

	// The eBPF audit (tracer/audit.go).
	Audit    string // "none" (or "") or "ebpf"
	Platform string // "inprocess" (or "") or "native": no interception, needs Audit

	// Tamper: the --inject rules and --personality (checked by the CLI),
	// for every host process of the tree through the run directory.
	Tamper *rundir.Tamper
	// Trace: strace's -e trace=, -o, -c (trace.go); nil = off.
	Trace *TraceOptions
}

// Values of Options.Wait.
const (
	WaitAll  = "all"
	WaitMain = "main"
)

// Values of Options.Rewrite (--rewrite).
const (
	RewriteOff  = "off"
	RewriteLazy = "lazy"
)

// Run supervises one guest and returns vsysbed's exit status: the guest's
// status, 128+N when it died by signal N.
func Run(o Options) int {
	// First, before anything can change it: what the guest would have
	// inherited from its caller natively (inherit.go).
	inh := recordInheritance()
	ignoreAsTheCallerDid(inh)
	if o.Platform == PlatformNative {
		return runNative(o, inh) // audit.go
	}
	if o.Platform == PlatformPtrace {
		return runPtrace(o, inh)
	}
	dir, cleanup, err := newRunDir(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	// The directory stays while processes the run left running use it.
	var running []int
	defer func() {
		if len(running) == 0 {
			cleanup()
		}
	}()

	finishTrace := func(*coverage.Report) {}
	if o.Trace != nil {
		if finishTrace, err = startTrace(o.Trace, dir); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: tracing: %v\n", err)
			return exitstatus.Failed
		}
	}

	// The supervisor's start-up points go to the event log too (the host
	// appends to it), so that a kept run directory has the whole record.
	var marks rundir.Marks
	marks.Mark(rundir.PhaseExec, rundir.ProcessStart(), "")
	marks.Mark(rundir.PhaseMain, o.MainEntered, "")
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	stdioFD := inprocess.FDBase()
	args := []string{self, reexec.Host, "--rundir", dir, "--trap", o.Trap, "--stdio-fd", strconv.Itoa(stdioFD)}
	args = append(args, inh.signalFlags()...)
	if o.Rewrite == RewriteLazy {
		args = append(args, "--rewrite", RewriteLazy)
	}
	if o.Timing == TimingOff {
		args = append(args, "--timing-off")
	}
	for _, r := range o.Routes {
		args = append(args, "--route", r)
	}
	if o.CPUProfile != "" {
		abs, err := filepath.Abs(o.CPUProfile)
		if err == nil {
			args = append(args, "--cpuprofile", abs)
		}
	}
	// --audit=ebpf (audit.go): the host waits at a gate for the audit.
	aud, err := newHostAudit(o, dir, stdioFD)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	gate := closedFD
	if aud != nil {
		defer aud.close()
		args = append(args, "--gate")
		gate = aud.gateR.Fd() // blocking again: the host reads it plainly
	}
	// The host process's own 0-2 start as /dev/null; the caller's 0-2 go
	// in at stdioFD.. and its other fds at their own numbers (hostFiles).
	// Raw ForkExec: the list is sparse (numbers up to stdioFD+3) and of
	// raw numbers; os/exec would want an *os.File for each, and NewFile
	// registers a non-blocking one (a jobserver pipe) with the netpoller.
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	files, dropped := hostFiles(inh.fds, uintptr(null), stdioFD, gate)
	for _, fd := range dropped {
		fmt.Fprintf(os.Stderr, "vsysbed: fd %d is not passed to the guest: fds from %d up are the host's\n", fd, stdioFD)
	}

	// Guest forks become host processes of their own; as a subreaper the
	// supervisor sees every one of them, orphans included.
	fw, stopSignals := superviseTree()
	defer stopSignals()
	// PR_SET_PDEATHSIG: the host dies with the supervisor even before it
	// watches it (inprocess.watchSupervisor, which every host process of the
	// tree runs); ForkExec checks getppid() against the race. This is the
	// main thread (cmd/vsysbed locks it), which lives as long as we do.
	marks.Mark(rundir.PhaseSpawn, rundir.Now(), "")
	logMarks(dir, &marks)
	pid, _, err := reexec.Start(self, args, o.Argv, dir, &syscall.ProcAttr{Env: os.Environ(), Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
	unix.Close(null)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: starting the host process: %v%s\n", err, inprocess.NprocHint(err))
		return exitstatus.Failed
	}
	if aud != nil {
		if err := aud.start(pid); err != nil {
			// Killed at the gate: the guest never ran.
			unix.Kill(pid, unix.SIGKILL)
			waitHost(pid)
			fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
			return exitstatus.Failed
		}
	}
	stopForwarding := forwardSignals(fw, pid, true)
	ws, err := waitHost(pid)
	reaped := rundir.Now()
	if o.Wait == WaitMain {
		running = liveDescendants(os.Getpid())
	} else {
		reapDescendants()
	}
	stopForwarding()
	if len(running) > 0 {
		// They go on as natively, and the host processes watching us must
		// not take our exit for a kill (inprocess.supervisorGone).
		os.WriteFile(filepath.Join(dir, rundir.ReleasedFile), nil, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: waiting for the host process: %v\n", err)
		return exitstatus.Failed
	}

	var rep *coverage.Report
	in, err := rundir.ReadInput(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: building the report: %v\n", err)
	} else {
		in.Command, in.Host, in.HostPID, in.Running = o.Argv, coverage.HostStatusFromWait(ws), pid, running
		in.TrapMode, in.SyscallName = o.Trap, kernelsim.Name
		if o.Tamper != nil {
			in.Inject, in.Personality = o.Tamper.Inject, o.Tamper.Personality
		}
		if o.Timing != TimingOff {
			in.Timing = HostTiming()
		}
		in.Symbols = symcache.Open()
		rep = coverage.Build(in)
	}
	if aud != nil && rep != nil {
		aud.finish(rep, dir, o)
	}
	finishTrace(rep)
	built := rundir.Now()
	started := rep != nil && len(rep.Execs) > 0
	// Like a shell, stay quiet about the signals a pipeline or a terminal
	// sends on purpose.
	if ws.Signaled() && ws.Signal() != syscall.SIGPIPE && ws.Signal() != syscall.SIGINT {
		describeDeath(rep, dir, ws.Signal(), o.Quiet)
	}
	reportFailed := false
	if rep != nil && started {
		if err := writeReport(rep, o, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: writing the report: %v\n", err)
			reportFailed = true
		}
	}
	marks.Mark(rundir.PhaseReaped, reaped, "")
	marks.Mark(rundir.PhaseBuilt, built, "")
	marks.Mark(rundir.PhaseReport, rundir.Now(), "")
	if o.Verbose {
		evs := marks.Events()
		for i := range evs {
			evs[i].Pid = os.Getpid()
		}
		evs = append(evs, in.Events...)
		fmt.Fprintln(os.Stderr, rundir.Timing(evs, os.Getpid(), pid))
	}
	logMarks(dir, &marks)
	if reportFailed {
		return exitstatus.Failed
	}
	return exitstatus.Of(syscall.WaitStatus(ws))
}

// logMarks appends the supervisor's phase points recorded so far to the
// run's event log.
func logMarks(dir string, marks *rundir.Marks) {
	l, err := rundir.OpenEventLog(filepath.Join(dir, rundir.EventsFile), 3)
	if err != nil {
		return
	}
	marks.Flush(l)
	l.Close()
}

// waitHost waits for the host process to end. When it stops (Ctrl-Z,
// SIGSTOP, SIGTTOU), vsysbed — the process its caller sees in its place —
// stops too, by the same signal, as the native process would have; the
// SIGCONT that continues either (`fg`, `kill -CONT` of the guest, which
// then tells the supervisor) continues both (jobctl.go).
func waitHost(pid int) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && ws.Stopped() {
			stopSelf(unix.Signal(ws.StopSignal()), func() bool {
				st, ok := stateOf(pid)
				return ok && st == 'T'
			})
			continue
		}
		return ws, err
	}
}

// describeDeath prints the one line a guest killed by a signal deserves;
// quiet (-q) leaves it out, but for an incomplete report, which is an
// error.
func describeDeath(rep *coverage.Report, dir string, sig syscall.Signal, quiet bool) {
	line := fmt.Sprintf("vsysbed: guest killed by %s", coverage.SignalName(sig))
	if rep != nil && rep.Exit.Signal != "" && (rep.Exit.FaultRIP != 0 || rep.Exit.FaultAddr != 0) {
		line += fmt.Sprintf(" (fault address %s, at %s", rep.Exit.FaultAddr, rep.Exit.FaultRIP)
		if where := locate(dir, uint64(rep.Exit.FaultRIP)); where != "" {
			line += " = " + where
		}
		line += ")"
	} else if rep != nil && !rep.Complete {
		line = fmt.Sprintf("vsysbed: host process killed by %s; the report is incomplete", coverage.SignalName(sig))
		quiet = false
	}
	if !quiet {
		fmt.Fprintln(os.Stderr, line)
	}
}

// writeReport writes the report where the options say (docs/report.md,
// "Where the report goes"): --report - to stdout, --report FILE to FILE
// only (JSON unless --format text), else to stderr (text unless --format
// json), nothing with -q. The report is rendered in memory first, so a
// file that cannot be written is not left half-written.
func writeReport(rep *coverage.Report, o Options, stdout, stderr io.Writer) error {
	if o.Report == "" && o.Quiet {
		return nil
	}
	rep.Version = version.String()
	format := o.Format
	if format == "" {
		format = "json"
		if o.Report == "" {
			format = "text"
		}
	}
	var buf bytes.Buffer
	if err := write(rep, &buf, format); err != nil {
		return err
	}
	var err error
	switch o.Report {
	case "":
		_, err = stderr.Write(buf.Bytes())
	case "-":
		_, err = stdout.Write(buf.Bytes())
	default:
		err = os.WriteFile(o.Report, buf.Bytes(), 0o644)
	}
	return err
}

func write(rep *coverage.Report, w io.Writer, format string) error {
	switch strings.ToLower(format) {
	case "text":
		return rep.WriteText(w)
	default:
		return rep.WriteJSON(w)
	}
}

// locate names the guest object and offset an address lies in, from the
// run's mapping events (the latest mapping that covers it).
func locate(dir string, addr uint64) string {
	evs, _ := rundir.ReadEvents(filepath.Join(dir, "events.jsonl"))
	where := ""
	for _, e := range evs {
		if e.Ev == "map" && uint64(e.Start) <= addr && addr < uint64(e.End) {
			where = fmt.Sprintf("%s+%#x", e.Path, addr-uint64(e.Start)+uint64(e.Offset))
		}
	}
	return where
}

// reapDescendants waits for every remaining host process of the tree
// (guest processes that outlived the first one, reparented here), so the
// report covers them and no zombie is left behind.
func reapDescendants() {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: none left
		}
	}
}

// descendants lists the live processes below root, from /proc.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if idleSpare(c) {
				continue
			}
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// liveDescendants are the descendants of root that still run (not
// zombies: a child that ended but was not reaped yet).
func liveDescendants(root int) []int {
	var out []int
	for _, p := range descendants(root) {
		if st, ok := stateOf(p); ok && st != 'Z' && st != 'X' {
			out = append(out, p)
		}
	}
	return out
}

// statFields are the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses): the state is the first.
func statFields(p int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(s[i+1:])
	return f, len(f) >= 2
}

// stateOf reads a process's state letter (field 3).
func stateOf(p int) (byte, bool) {
	f, ok := statFields(p)
	if !ok || f[0] == "" {
		return 0, false
	}
	return f[0][0], true
}

// parentOf reads a process's parent (field 4).
func parentOf(p int) (int, bool) {
	f, ok := statFields(p)
	if !ok {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}
