package tracer

// The supervisor's side of `--audit=ebpf`: it loads the eBPF audit
// (vsysbed/bpf/audit, through startAudit in audit_ebpf.go) for the run's
// processes and adds the kernel's view to the report. The host process is
// this same binary but never calls into the audit.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/probecache"
	"github.com/vsysbed/vsysbed/internal/procmaps"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/internal/symcache"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/loader"
	"github.com/vsysbed/vsysbed/platform/inprocess"
	"github.com/vsysbed/vsysbed/platform/ptrace"
	"github.com/vsysbed/vsysbed/rundir"
)

// Values of Options.Audit and Options.Platform.
const (
	AuditNone         = "none"
	AuditEBPF         = "ebpf"
	PlatformInProcess = "inprocess"
	PlatformNative    = "native"
	PlatformPtrace    = "ptrace"
)

// auditPollInterval is how often the audit looks for new processes of the
// run (forked host processes, natively the program's children): a
// process's syscalls count from the scan that finds it, so a child's first
// few milliseconds can be missing. The first process is never missed.
const auditPollInterval = 50 * time.Millisecond

// wantsAudit reports whether o asks for the eBPF audit.
func wantsAudit(o Options) bool { return o.Audit == AuditEBPF }

// hostAudit is the audit of one in-process run. The host process is
// started with --gate and waits for one byte on the gate pipe before it
// does anything; the audit attaches in that window, so it sees every
// syscall the host makes for the guest.
type hostAudit struct {
	gateR, gateW *os.File
	gateFD       int    // the gate's number in the host process
	dir          string // the run directory, where the fork gate listens
	a            auditor
	tr           *tracker
	forks        *net.UnixListener // inprocess.AuditSocket
	forksDone    chan struct{}
}

// auditor is a started eBPF audit (audit.Audit, behind startAudit).
type auditor interface {
	// Track counts process tgid too (from now on); guest code is outside
	// the audit's host ranges.
	Track(tgid uint32) error
	Untrack(tgid uint32) error
	// Counts reads the counters into coverage's input type.
	Counts() (coverage.AuditInput, error)
	Close() error
}

// newHostAudit makes the gate pipe; nil without --audit. The host reads
// it at inprocess.GateFD(stdioFD).
func newHostAudit(o Options, dir string, stdioFD int) (*hostAudit, error) {
	if !wantsAudit(o) {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("--audit=ebpf: gate pipe: %w", err)
	}
	return &hostAudit{gateR: r, gateW: w, dir: dir, gateFD: inprocess.GateFD(stdioFD)}, nil
}

// start attaches the audit to the host process (stopped at the gate),
// starts looking for forked host processes, and opens the gate. On error
// the caller must kill the host before close: a closed gate lets it run.
func (h *hostAudit) start(hostPID int) error {
	h.gateR.Close()
	if err := waitAtGate(hostPID, h.gateFD, 10*time.Second); err != nil {
		return fmt.Errorf("--audit=ebpf: %w", err)
	}
	ranges, err := hostCodeRanges(hostPID)
	if err != nil {
		return err
	}
	h.a, err = startAudit(uint32(hostPID), ranges)
	if err != nil {
		return fmt.Errorf("--audit=ebpf: %w", err)
	}
	h.tr = startTracker(h.a, hostPID, isForkedHost)
	if err := h.listenForForks(); err != nil {
		return fmt.Errorf("--audit=ebpf: %w", err)
	}
	if _, err := h.gateW.Write([]byte{1}); err != nil {
		return fmt.Errorf("--audit=ebpf: opening the gate: %w", err)
	}
	h.gateW.Close()
	return nil
}

// listenForForks opens the fork gate (inprocess.AuditSocket): every forked
// host process connects before its guest runs and is tracked before it
// gets its byte, so no child's first syscalls go uncounted. The /proc
// scan stays for untracking and as a fallback.
func (h *hostAudit) listenForForks() error {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(h.dir, inprocess.AuditSocket), Net: "unix"})
	if err != nil {
		return fmt.Errorf("the fork gate: %w", err)
	}
	h.forks, h.forksDone = l, make(chan struct{})
	go func() {
		defer close(h.forksDone)
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return // closed
			}
			h.admit(c)
		}
	}()
	return nil
}

// admit tracks the connecting process (its pid from SO_PEERCRED, not from
// anything it says) if it is a forked host process of this run, then lets
// it go on.
func (h *hostAudit) admit(c *net.UnixConn) {
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil || !isForkedHost(int(cred.Pid)) {
		return // closing without a byte refuses it
	}
	if h.tr.add(int(cred.Pid)) {
		c.Write([]byte{1})
	}
}

// close releases what start did not hand over; safe after start.
func (h *hostAudit) close() {
	h.gateR.Close()
	h.gateW.Close()
	if h.forks != nil {
		h.forks.Close()
		<-h.forksDone
		h.forks = nil
	}
	if h.tr != nil {
		h.tr.stop()
	}
	if h.a != nil {
		h.a.Close()
	}
}

// finish reads the final counts (the host processes have exited) into
// rep's audit section.
func (h *hostAudit) finish(rep *coverage.Report, dir string, o Options) {
	defer h.close()
	h.tr.stop()
	in, err := h.a.Counts()
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		return
	}
	in.Platform, in.Processes = coverage.AuditInProcess, h.tr.seen()
	in.Events, _ = rundir.ReadEvents(filepath.Join(dir, rundir.EventsFile))
	in.VDSOImage, in.Symbols = rundir.VDSOImage(), symcache.Open()
	in.PassThrough = passThrough(o.Routes)
	in.SyscallName = kernelsim.Name
	rep.Audit = coverage.BuildAudit(in, rep.Syscalls)
}

// waitAtGate waits until one of the host process's threads blocks in
// read(GateFD): the exec that Start waited for is done long before ld.so
// has mapped libc, and the host's code is only complete at the gate.
func waitAtGate(pid, gateFD int, limit time.Duration) error {
	want := fmt.Sprintf("0 %#x ", gateFD) // read(gateFD, …) in /proc/PID/task/TID/syscall
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("the host process is gone: %w", err)
		}
		for _, t := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, t.Name()))
			if strings.HasPrefix(string(b), want) {
				return nil
			}
		}
	}
	return fmt.Errorf("the host process did not reach its gate within %v", limit)
}

// hostCodeRanges is the host's code, the trap filter's allowed ranges:
// the first host process's executable mappings before it runs anything
// (it waits at the gate: the vsysbed binary, ld.so, libc, [vdso],
// [vsyscall]) and the code of a forked host process, which runs with
// address randomisation off (as platform/inprocess arranges) and so has the layout
// a probe run shows. Guest code is mapped later and lies outside both.
func hostCodeRanges(hostPID int) ([]bpf.Range, error) {
	maps, err := procmaps.Read(hostPID)
	if err != nil {
		return nil, fmt.Errorf("--audit=ebpf: %w", err)
	}
	var ranges []bpf.Range
	for _, m := range maps {
		if m.Exec {
			ranges = append(ranges, bpf.Range{Start: m.Start, End: m.End})
		}
	}
	children, err := probeForkedHostRanges(fmt.Sprintf("/proc/%d/exe", hostPID))
	if err != nil {
		return nil, fmt.Errorf("--audit=ebpf: where forked host processes keep their code: %w", err)
	}
	return append(ranges, children...), nil
}

// probeForkedHostRanges runs vsysbed's probe with address randomisation
// off, like a forked host process, and returns its executable ranges.
// personality(2) is per thread and inherited by fork: the OS thread is
// locked so that the probe's fork inherits it and nothing else does.
func probeForkedHostRanges(self string) ([]bpf.Range, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, cur|inprocess.ForkedHostPersonality, 0, 0); e != 0 {
		return nil, e
	}
	defer unix.RawSyscall(unix.SYS_PERSONALITY, cur, 0, 0)
	ranges, _, err := probecache.Ranges(self, uint64(uint32(cur|inprocess.ForkedHostPersonality)), func() ([]bpf.Range, error) {
		out, err := exec.Command(self, reexec.Probe).Output()
		if err != nil {
			return nil, err
		}
		return parseProbe(out)
	})
	return ranges, err
}

// parseProbe reads the probe's "start end" lines.
func parseProbe(out []byte) ([]bpf.Range, error) {
	var ranges []bpf.Range
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r bpf.Range
		if _, err := fmt.Sscanf(line, "%x %x", &r.Start, &r.End); err == nil && r.Start < r.End {
			ranges = append(ranges, r)
		}
	}
	if len(ranges) == 0 {
		return nil, errors.New("the probe printed no ranges")
	}
	return ranges, nil
}

// isForkedHost says whether process pid (a descendant of the supervisor)
// is a forked host process: `vsysbed __fork …`. Others are the host's
// probe runs.
func isForkedHost(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv := strings.Split(string(b), "\x00")
	return len(argv) > 1 && argv[1] == reexec.Fork
}

// passThrough says which syscalls the host executes once per guest call:
// kernelsim's fast route, with the run's --route overrides.
func passThrough(routes []string) func(nr int) bool {
	fast := map[int]bool{}
	for _, row := range kernelsim.Table() {
		if row.Route == kernelsim.Fast {
			fast[row.Nr] = true
		}
	}
	for _, r := range routes {
		name, route, _ := strings.Cut(r, "=")
		if nr, ok := kernelsim.Number(name); ok {
			fast[nr] = route == "fast"
		}
	}
	return func(nr int) bool { return fast[nr] }
}

// tracker adds the run's later processes to the audit: every descendant
// of the supervisor that want accepts, found by scanning /proc.
type tracker struct {
	a    auditor
	want func(pid int) bool
	self int

	mu sync.Mutex
	// tracked: each tracked pid with the scan generation it was tracked
	// in. A scan reads /proc without the lock (it takes long on a busy
	// machine), so a fork gate may track a pid its snapshot does not
	// have: only a pid tracked before the snapshot began may be taken
	// for gone. Untracked as gone, the gated child's first calls went
	// uncounted (CI: `access` 1 on the host against 2 in the report).
	tracked map[int]uint64
	gen     uint64
	count   int

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func startTracker(a auditor, first int, want func(pid int) bool) *tracker {
	t := &tracker{a: a, want: want, self: os.Getpid(),
		tracked: map[int]uint64{first: 0}, count: 1,
		quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(auditPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-t.quit:
				return
			case <-tick.C:
				t.scan()
			}
		}
	}()
	return t
}

// add tracks pid now (a fork gate's peer); false if the audit refused it.
func (t *tracker) add(pid int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.tracked[pid]; ok {
		return true
	}
	if t.a.Track(uint32(pid)) != nil {
		return false
	}
	t.tracked[pid] = t.gen
	t.count++
	return true
}

func (t *tracker) stop() {
	t.once.Do(func() { close(t.quit) })
	<-t.done
}

func (t *tracker) seen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

// scan tracks new descendants and untracks vanished ones (their pids may
// be reused by unrelated processes).
func (t *tracker) scan() { t.scanWith(processParents) }

// scanWith is scan with the process table read by read.
func (t *tracker) scanWith(read func() map[int]int) {
	t.mu.Lock()
	t.gen++
	gen := t.gen
	t.mu.Unlock()
	parents := read()
	descends := func(pid int) bool {
		for range 64 { // bounded: a parent chain is short, a racy read could loop
			ppid, ok := parents[pid]
			if !ok || ppid <= 1 {
				return false
			}
			if ppid == t.self {
				return true
			}
			pid = ppid
		}
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid := range parents {
		if _, ok := t.tracked[pid]; !ok && descends(pid) && t.want(pid) {
			if t.a.Track(uint32(pid)) == nil {
				t.tracked[pid] = gen
				t.count++
			}
		}
	}
	for pid, since := range t.tracked {
		if _, live := parents[pid]; !live && since < gen {
			t.a.Untrack(uint32(pid))
			delete(t.tracked, pid)
		}
	}
}

// processParents maps every process to its parent, from /proc/PID/stat.
func processParents() map[int]int {
	out := map[int]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[pid] = ppid
		}
	}
	return out
}

// runNative is `--platform=native --audit=ebpf`: the program runs as the
// supervisor's child with no interception at all, audited with all of it
// as guest code. It is started under ptrace so that it stops at its exec
// and the audit attaches before its first instruction; the tracer then
// only waits for the exit event (PTRACE_O_TRACEEXIT), where the address
// space still exists and the sites can be placed, and passes every signal
// on. A group stop (Ctrl-Z) detaches it: job control then works as
// without vsysbed, and the report places sites with the exec-time
// mappings only.
//
// The program is started through the stub `__ptrace-exec --native`, which
// sets the caller's ignored signals and mask before its execve (a fork
// from Go resets them); the caller's fds go in at their numbers. The
// audit attaches at the program's exec, after the stub.
func runNative(o Options, inh inheritance) int {
	path, err := loader.LookPath(o.Argv[0], os.Getenv("PATH"))
	if err != nil {
		return ptrace.ExecFailure(err)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	fw, stopSignals := superviseTree()
	defer stopSignals()

	// ptrace requests must come from the thread that is the tracer: the
	// one that forked the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prefix := append([]string{self, reexec.PtraceExec, "--native"}, inh.stubFlags()...)
	pid, cleanup, err := reexec.Start(self, prefix, o.Argv, "", &syscall.ProcAttr{ // the stub finds path again
		Env:   os.Environ(),
		Files: sameNumbers(inh.fds),
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	defer cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: starting %s: %v\n", path, err)
		return exitstatus.Failed
	}
	var ws unix.WaitStatus
	wait := func() error {
		for {
			_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
			if err != unix.EINTR {
				return err
			}
		}
	}
	if err := wait(); err != nil || !ws.Stopped() {
		fmt.Fprintf(os.Stderr, "vsysbed: the native stub did not stop at its exec (%v)\n", err)
		unix.Kill(pid, unix.SIGKILL)
		return exitstatus.Failed
	}
	if status, done := passStub(pid, &ws, wait); done {
		return status
	}
	maps, _ := procmaps.Read(pid)
	events := procmaps.Events(maps)
	a, err := startAudit(uint32(pid), nil)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		for wait() == nil && !ws.Exited() && !ws.Signaled() {
		}
		fmt.Fprintf(os.Stderr, "vsysbed: --audit=ebpf: %v\n", err)
		return exitstatus.Failed
	}
	defer a.Close()
	tr := startTracker(a, pid, func(int) bool { return true })
	defer tr.stop()

	defer forwardSignals(fw, pid, false)()

	traced := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_EXITKILL) == nil
	if traced {
		unix.PtraceCont(pid, 0)
	} else {
		unix.PtraceDetach(pid)
	}
	images := []string{path}
	for {
		if err := wait(); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: waiting for %s: %v\n", path, err)
			return exitstatus.Failed
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
			maps, _ := procmaps.Read(pid)
			events = append(events, procmaps.Events(maps)...)
			unix.PtraceCont(pid, 0)
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			maps, _ := procmaps.Read(pid)
			events = append(events, coverage.Event{Ev: coverage.EvUnmap, Start: 0, End: ^coverage.Hex(0)})
			events = append(events, procmaps.Events(maps)...)
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
				images = append(images, exe)
			}
			unix.PtraceCont(pid, 0)
		case ptrace.IsGroupStop(pid):
			unix.PtraceDetach(pid) // stays stopped, as a job should
		default:
			unix.PtraceCont(pid, int(sig)) // deliver it
		}
	}
	reapDescendants()
	tr.stop()
	in, err := a.Counts()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}

	status := coverage.ExitStatus{Code: ws.ExitStatus()}
	if ws.Signaled() {
		status = coverage.ExitStatus{Code: 0, Signal: coverage.SignalName(syscall.Signal(ws.Signal()))}
	}
	rep := nativeReport(o.Argv, path, pid, images, status)
	in.Platform, in.Processes = coverage.AuditNative, tr.seen()
	in.Events, in.VDSOImage, in.Symbols = events, rundir.VDSOImage(), symcache.Open()
	in.SyscallName = kernelsim.Name
	rep.Audit = coverage.BuildAudit(in, nil)

	if ws.Signaled() && ws.Signal() != unix.SIGPIPE && ws.Signal() != unix.SIGINT {
		describeDeath(rep, "", syscall.Signal(ws.Signal()), o.Quiet)
	}
	if err := writeReport(rep, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: writing the report: %v\n", err)
		return exitstatus.Failed
	}
	return exitstatus.Of(syscall.WaitStatus(ws))
}

// nativeReport is the report of a native run: no vsysbed counts (the
// audit section holds the kernel's), the exit, the images.
func nativeReport(argv []string, path string, pid int, images []string, status coverage.ExitStatus) *coverage.Report {
	exit := status
	return &coverage.Report{
		Schema:    coverage.Schema,
		Command:   append([]string{}, argv...),
		Exit:      status,
		Host:      status,
		Complete:  true,
		Syscalls:  []coverage.SyscallRow{},
		Sites:     []coverage.Site{},
		Execs:     []coverage.Exec{{Path: path, Argv: append([]string{}, argv...), Interp: loader.Interp(path)}},
		Runs:      []coverage.Run{{Command: append([]string{}, argv...), Exit: status, Complete: true}},
		Processes: []coverage.Process{{Pid: pid, Images: images, Exit: &exit}},
		Errors:    []string{},
	}
}

// passStub lets the native platform's stub (stopped after its own exec)
// run up to the program's exec: it stops there (PTRACE_O_TRACEEXEC)
// before the program's first instruction, where runNative attaches the
// audit. Signals on the way are delivered. done is set, with the status
// to exit with, when the stub ended instead (the program could not be
// executed: it said why).
func passStub(pid int, ws *unix.WaitStatus, wait func() error) (status int, done bool) {
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_EXITKILL); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		fmt.Fprintf(os.Stderr, "vsysbed: PTRACE_SETOPTIONS: %v\n", err)
		return exitstatus.Failed, true
	}
	sig := 0
	for {
		unix.PtraceCont(pid, sig)
		if err := wait(); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: waiting for the native stub: %v\n", err)
			return exitstatus.Failed, true
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), true
		case ws.Signaled():
			return exitstatus.SignalBase + int(ws.Signal()), true
		case !ws.Stopped():
			sig = 0
		case ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			return 0, false
		default:
			sig = int(ws.StopSignal())
		}
	}
}
