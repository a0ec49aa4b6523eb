// Package inprocess is the in-process platform: the host process. It
// loads one guest into this process (loader), gives it the synthetic vDSO
// (vdsoinject), arms the trap (bpf: seccomp or Syscall User Dispatch),
// binds its thread to a control block in the run directory (tls, rundir)
// and runs it until it exits, with kernelsim answering its syscalls. The supervisor (tracer)
// starts it as a re-exec of the vsysbed binary.
package inprocess

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/internal/probecache"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/loader"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls"
	"github.com/vsysbed/vsysbed/vaspace"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// Options say what to run and how.
type Options struct {
	RunDir string
	Trap   string // "seccomp" or "sud"
	// Rewrite: rewrite trapped call sites lazily (--rewrite=lazy; a fork
	// child is told so by its parent, whatever its own flag).
	Rewrite bool
	Routes  map[int]bool // forced routes: true = fast
	Argv    []string     // PROGRAM [ARGS...], PROGRAM as the user gave it

	// NoTiming: time no call (--timing=off; a fork child is told so by
	// its parent).
	NoTiming bool

	// CPUProfile: profile the host process (runtime/pprof) into this file
	// while the guest runs; proves Go's SIGPROF keeps working beside it.
	CPUProfile string

	// Gate: when set, the supervisor passes a pipe at fd GateFD(StdioFD)
	// and the host waits for one byte on it before anything else, so that
	// an audit can attach before the guest's first syscall.
	Gate bool

	// LinkFD: a fork child's link to its parent goes to this number (the
	// parent's end has it, so no guest fd does).
	LinkFD int

	// Spare: a fork child's host process started ahead of the fork
	// (pool.go): it makes nothing in the run directory that the report
	// reads until a fork is handed to it.
	Spare bool

	// StdioFD is where the supervisor passes the guest's fds 0-2 (see
	// adoptStdio); 0 means FDBase().
	StdioFD int

	// Ignored and Mask are the signal state vsysbed's caller started it
	// with (bit N-1 for signal N): the guest starts with these signals
	// ignored and this mask, as its execve would have left it.
	Ignored, Mask uint64
}

// GateFD is where the gate pipe arrives: after the guest's stdio.
func GateFD(stdioFD int) int { return stdioFD + 3 }

// AuditSocket is the unix socket, in the run directory, where an audited
// run's supervisor takes forked host processes in: each connects, and
// waits for one byte, before its guest runs — the gate of a fork child.
// It exists only while an audit runs.
const AuditSocket = "audit.sock"

// auditGate makes a forked host process wait until the supervisor's audit
// counts it (when the run is audited): a child running unaudited guest
// code would hide its escapes. The peer's pid comes from SO_PEERCRED.
func auditGate(runDir string) error {
	path := filepath.Join(runDir, AuditSocket)
	if _, err := os.Lstat(path); err != nil {
		return nil // not audited
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// Bounded: a supervisor that never answers must not hang the tree.
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("connecting to the audit: %w", err)
	}
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for the audit: %w", err)
		}
		if n != 1 {
			return errors.New("the audit closed the gate without counting this process")
		}
		return nil
	}
}

func fail(code int, format string, args ...any) int {
	fmt.Fprintln(os.Stderr, loader.Printable(fmt.Sprintf("vsysbed: "+format, args...)))
	return code
}

// host is what every host process sets up before a guest runs in it.
type host struct {
	o    Options
	base int // the host's fds start here
	// persona is the personality this process was started with: the
	// guest's, before the host changes its own threads' (kernelsim).
	persona uint64
	conf    kernelsim.Confinement // status's seccomp fields before ours
	nproc   unix.Rlimit           // the guest's RLIMIT_NPROC (kernelsim.RaiseHostNproc)
	events  *rundir.EventLog
	cb      *tls.ControlBlock
	mode    uint8
	ld      *imageLoader
	stop    func() // flushes the CPU profile, if any
}

// setup prepares this process to host a guest: fds, event log, the
// calling thread's control block, handlers, the trap filter (which
// snapshots the host's code: everything mapped executable after it
// traps) and the vDSO image.
func setup(o Options) (*host, int) {
	runtime.LockOSThread() // the guest thread is this one, for good
	h := &host{o: o, mode: tls.TrapSeccomp, persona: hostPersonality(), nproc: kernelsim.RaiseHostNproc()}
	if o.Trap == "sud" {
		h.mode = tls.TrapSUD
	}
	h.base = reserveHostFDs()
	watchSupervisor(o.RunDir, h.base)
	var err error
	if h.events, err = rundir.OpenEventLog(filepath.Join(o.RunDir, "events.jsonl"), h.base); err != nil {
		return nil, fail(exitstatus.Failed, "%v", err)
	}
	if err := h.openShard(); err != nil {
		return nil, fail(exitstatus.Failed, "%v", err)
	}
	// Before the handlers: starting the profiler must not re-install Go's
	// SIGPROF handler over the wrapper.
	if o.CPUProfile != "" {
		tls.SetGoProfiling(true)
		if h.stop, err = startProfile(o.CPUProfile); err != nil {
			return nil, fail(exitstatus.Failed, "%v", err)
		}
	}
	tls.SetRewrite(o.Rewrite)
	tls.SetTiming(!o.NoTiming)
	if err := tls.InstallHandlers(); err != nil {
		return nil, fail(exitstatus.Failed, "%v", err)
	}
	h.conf = kernelsim.ReadConfinement()
	if o.Trap != "sud" {
		rundir.HostMarks.Mark(rundir.PhaseProbe, rundir.Now(), "")
		if err := installSeccomp(); err != nil {
			return nil, fail(exitstatus.Failed, "arming the seccomp trap: %v", err)
		}
	}
	rundir.HostMarks.Mark(rundir.PhaseVDSO, rundir.Now(), "")
	vdsoImg, err := vdsoinject.Build()
	if err != nil {
		return nil, fail(exitstatus.Failed, "%v", err)
	}
	targets, err := vdsoinject.HostVDSO()
	if err != nil {
		targets = map[vdsoinject.Target]uintptr{} // the image's fallbacks trap instead
	}
	tls.SetHostClock(targets[vdsoinject.ClockGettime])
	targets[vdsoinject.KernelVsyscall] = tls.BypassEntry()
	h.ld = &imageLoader{vdso: vdsoImg, targets: targets, events: h.events}
	return h, 0
}

// openShard creates the calling thread's control block; a spare's has
// no name yet (rundir.CreateSpareShard).
func (h *host) openShard() error {
	var err error
	if h.o.Spare {
		h.cb, _, err = rundir.CreateSpareShard(h.o.RunDir, os.Getpid())
	} else {
		h.cb, _, err = rundir.CreateShard(h.o.RunDir, unix.Gettid())
	}
	if err != nil {
		return err
	}
	return tls.Prepare(h.cb, h.mode)
}

func (h *host) config() kernelsim.Config {
	return kernelsim.Config{
		HostFDBase: h.base, Events: h.events,
		RunDir: h.o.RunDir, TrapMode: h.mode,
		Platform: platform{mode: h.mode, runDir: h.o.RunDir, fdBase: h.base},
		Exec:     h.ld.load, CheckExec: h.ld.check,
		Personality: h.persona,
		Confinement: h.conf,
		Limits:      map[int]unix.Rlimit{unix.RLIMIT_NPROC: h.nproc},
	}
}

// run enters the guest on this thread as task t. The guest process ends
// in kernelsim (exit_group, the last thread's exit, a fatal signal), which
// exits the host process; t.Run returns only when the main thread exited
// while other guest threads go on, as Linux keeps a process whose leader
// is gone (its control block then serves a later thread): this thread
// waits for them.
func (h *host) run(t *kernelsim.Task) int {
	proc := t.P
	if h.stop != nil {
		proc.OnExit(h.stop)
	}
	tls.SetKernel(proc.Dispatch)
	proc.ForwardHostSignals()
	if err := t.Run(); err != nil {
		return fail(exitstatus.Failed, "%v", err)
	}
	select {}
}

// adoptStdio moves the guest's fds 0-2 from stdioFD.. to 0, 1, 2. The
// supervisor passes every other inherited fd at its own number, but the
// host process's own 0, 1 and 2 start as /dev/null: Go's os package
// registers a non-blocking fd 0-2 with its netpoller at start-up, and the
// epoll and eventfd fds that creates would take the lowest free numbers —
// numbers the guest's open() must get. With /dev/null there nothing is
// registered; the real stdio then replaces it. A number missing at
// stdioFD+i was closed in vsysbed's caller, so the guest starts without
// fd i, as it would natively.
func adoptStdio(stdioFD int) {
	for i := 0; i < 3; i++ {
		if unix.Dup3(stdioFD+i, i, 0) == nil {
			unix.Close(stdioFD + i)
		} else {
			unix.Close(i)
		}
	}
}

// FDBase is where a host process's own fds start: 1000, so that the
// guest's fd numbers are Linux's, or a little below a hard RLIMIT_NOFILE
// under 1024 (Go's runtime raises the soft limit to the hard one, in the
// supervisor and in every host process alike).
func FDBase() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1024 {
		return int(lim.Cur) - 24
	}
	return 1000
}

// Main runs the guest and returns its exit status. A guest killed by a
// signal takes the host process with it (the supervisor sees the signal).
func Main(o Options) int {
	detachArgs(&o)
	if o.StdioFD <= 2 {
		o.StdioFD = FDBase()
	}
	adoptStdio(o.StdioFD)
	if o.Gate {
		var b [1]byte
		unix.Read(GateFD(o.StdioFD), b[:])
		unix.Close(GateFD(o.StdioFD))
	}
	if len(o.Argv) == 0 {
		return fail(exitstatus.Failed, "no program given")
	}
	h, code := setup(o)
	if h == nil {
		return code
	}
	path, err := loader.LookPath(o.Argv[0], os.Getenv("PATH"))
	if err != nil {
		return execFailure(h.events, err)
	}
	rundir.HostMarks.Mark(rundir.PhaseLoad, rundir.Now(), "")
	guest, err := h.ld.load(path, o.Argv, os.Environ())
	if err != nil {
		return execFailure(h.events, err)
	}
	c := h.config()
	c.Image = *guest
	proc := kernelsim.NewProcess(c, o.Routes)
	t := proc.NewTask(h.cb)
	proc.InheritSignals(t, o.Ignored, o.Mask)
	tls.SetInitialState(h.cb, uintptr(guest.Entry), uintptr(guest.SP))
	rundir.HostMarks.Flush(h.events)
	h.events.Phase(rundir.PhaseGuest, rundir.Now(), "")
	return h.run(t)
}

// ForkChild is a host process started by a guest fork or vfork: fd 3 is
// the link to the parent, which sends the guest's state, or for vfork the
// child's requests and finally its execve (adopt).
func ForkChild(o Options) int {
	warmed := warmThreads(idleThreads)
	detachArgs(&o)
	// The parent's guest fds that were not close-on-exec came through the
	// exec of this process; those in the host's range would pass for our
	// own host fds and keep pipes open forever. The guest's fds arrive over
	// the link, so nothing up there is ours yet.
	unix.CloseRange(uint(FDBase()), ^uint(0), 0)
	if o.Spare {
		// And below: a spare lives on, and an end of a guest's pipe
		// held here would keep its reader from EOF. 0-2 are /dev/null,
		// 3 the link.
		unix.CloseRange(4, uint(FDBase()-1), 0)
	}
	// The link first leaves fd 3, which the guest's fds may need, for the
	// number the parent's end has: no guest fd can have it.
	link := o.LinkFD
	var err error
	if link > 3 {
		err = unix.Dup3(3, link, unix.O_CLOEXEC)
	} else {
		link, err = unix.FcntlInt(3, unix.F_DUPFD_CLOEXEC, 1500)
	}
	if err != nil {
		return fail(exitstatus.Failed, "fork child: no link to the parent: %v", err)
	}
	unix.Close(3)
	if !o.Spare { // a spare's parent has no audit (poolUsable)
		if err := auditGate(o.RunDir); err != nil {
			return fail(exitstatus.Failed, "fork child: %v", err)
		}
	}
	h, code := setup(o)
	if h == nil {
		return code
	}
	linkFile := os.NewFile(uintptr(link), "fork")
	if o.Spare {
		kernelsim.WarmAdopt()
		if kernelsim.PrimeAdopt(linkFile) != nil || !awaitHandoff(linkFile, h.base) {
			return 0 // discarded, or the parent is gone: nothing to say
		}
		if err := rundir.NameSpareShard(o.RunDir, os.Getpid(), unix.Gettid()); err != nil {
			h.events.Error("fork child: naming the shard: " + err.Error())
			return fail(exitstatus.Failed, "%v", err)
		}
	}
	mapVDSO := func(base uint64) error {
		_, err := h.ld.vdso.MapAt(uintptr(base), h.ld.targets)
		return err
	}
	h.events.Fork(os.Getppid())
	_, t, err := adopt(linkFile, h.cb, h.config(), mapVDSO)
	if err != nil {
		// Our stderr is /dev/null: the event log carries the reason.
		h.events.Error("fork child: " + err.Error())
		return fail(exitstatus.Failed, "fork: %v", err)
	}
	<-warmed
	return h.run(t)
}

// adopt takes the guest's new process in, as the parent's first byte on
// the link says: a copy of the guest (fork) or a vfork child's execve.
func adopt(link *os.File, cb *tls.ControlBlock, c kernelsim.Config, mapVDSO func(base uint64) error) (*kernelsim.Process, *kernelsim.Task, error) {
	var kind [1]byte
	if _, err := io.ReadFull(link, kind[:]); err != nil {
		return nil, nil, err
	}
	if kind[0] == kindVfork {
		return awaitVfork(link, cb, c)
	}
	return kernelsim.AdoptFork(link, cb, c, mapVDSO)
}

// detachArgs copies every string that points into this process's argument
// area, which kernelsim.SetProcessTitle overwrites with the guest's
// command line: Go's os.Args and the options parsed from them.
func detachArgs(o *Options) {
	for i := range os.Args {
		os.Args[i] = strings.Clone(os.Args[i])
	}
	for i := range o.Argv {
		o.Argv[i] = strings.Clone(o.Argv[i])
	}
	o.RunDir, o.Trap, o.CPUProfile = strings.Clone(o.RunDir), strings.Clone(o.Trap), strings.Clone(o.CPUProfile)
}

// imageLoader maps a program image for the guest: a fresh synthetic vDSO
// and the program with its interpreter, logged for the coverage report.
// It serves the first image and every execve.
type imageLoader struct {
	vdso    *vdsoinject.Image
	targets map[vdsoinject.Target]uintptr
	events  *rundir.EventLog
}

func (l *imageLoader) check(path string, argv, envp []string) error {
	return loader.Check(loader.Spec{Path: path, Argv: argv, Envp: envp})
}

func (l *imageLoader) load(path string, argv, envp []string) (*kernelsim.Image, error) {
	// In the guest's address window, like everything of the guest's.
	size := uintptr(len(l.vdso.Data)+4095) &^ 4095
	at, e := vaspace.Map(size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
	if e != 0 {
		return nil, fmt.Errorf("placing the vDSO: %w", e)
	}
	unix.Syscall(unix.SYS_MUNMAP, at, size, 0)
	vdso, err := l.vdso.MapAt(at, l.targets)
	if err != nil {
		return nil, fmt.Errorf("mapping the vDSO: %w", err)
	}
	guest, err := loader.Load(loader.Spec{Path: path, Argv: argv, Envp: envp, VDSOBase: vdso.Base})
	if err != nil {
		vdso.Unmap()
		return nil, err
	}
	l.events.Exec(guest.Path, guest.Argv, guest.Interp)
	// Linux names the process after the file it executes (a script's own
	// name, not its interpreter's).
	kernelsim.SetThreadName(filepath.Base(path))
	kernelsim.SetProcessTitle(guest.Argv)
	im := &kernelsim.Image{
		Exe: guest.Path, Argv: guest.Argv, Envp: guest.Envp,
		Entry: uint64(guest.Entry), SP: uint64(guest.SP),
		BrkStart: uint64(guest.BrkStart), BrkMax: uint64(guest.BrkMax),
		Mappings: [][2]uint64{{uint64(vdso.Base), uint64(vdso.Base + vdso.Size)}},
		VDSOBase: uint64(vdso.Base),
		VDSOEnd:  uint64(vdso.Base + vdso.Size),
		Stack:    [2]uint64{uint64(guest.StackStart), uint64(guest.StackEnd)},
	}
	for _, m := range guest.Mappings {
		im.Mappings = append(im.Mappings, [2]uint64{uint64(m.Start), uint64(m.End)})
		if m.Path != "" && m.Path[0] == '/' {
			l.events.Map(uint64(m.Start), uint64(m.End), m.Offset, m.Prot, m.Path)
		}
	}
	l.events.Map(uint64(vdso.Base), uint64(vdso.Base+vdso.Size), 0, unix.PROT_READ|unix.PROT_EXEC, "[vdso]")
	for _, e := range guest.Auxv {
		im.Auxv = append(im.Auxv, e.Type, e.Val)
	}
	return im, nil
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// installSeccomp arms the trap filter: every syscall from outside the
// host's code traps. A seccomp filter survives execve, so the host
// processes a guest fork starts (re-execs of this binary) run under it
// too: they are started without address randomisation, so that their
// code lies at ranges known in advance — measured once by a probe run —
// which the filter also allows.
func installSeccomp() error {
	ranges, err := bpf.HostCodeRanges()
	if err != nil {
		return err
	}
	if !noRandomize() {
		children, err := forkChildRanges()
		if err != nil {
			return fmt.Errorf("probing the layout of forked host processes: %w%s", err, NprocHint(err))
		}
		ranges = append(ranges, children...)
	} else {
		rundir.HostMarks.Mark(rundir.PhaseProbed, rundir.Now(), "not needed")
	}
	prog, err := bpf.TrapFilter(ranges)
	if err != nil {
		return err
	}
	filter, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	return bpf.InstallTrapFilter(filter)
}

// execFailure reports a program that cannot be executed the way a shell
// does: 127 when it does not exist, 126 when it is not executable.
func execFailure(events *rundir.EventLog, err error) int {
	line, status := loader.Refusal(err)
	events.Error(loader.Printable(err.Error()))
	fmt.Fprintln(os.Stderr, line)
	return status
}

// reserveHostFDs keeps the host's own fds out of the guest's numbering:
// every fd the host holds while the guest runs (Go's netpoller, the event
// log) is placed at or above the returned base, so the guest's first
// open() gets 3 as on Linux. Go opens its epoll and eventfd on first use
// at the lowest free numbers, so the low numbers are filled with
// placeholders while that happens.
func reserveHostFDs() int {
	base := FDBase()
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return base
	}
	// Fill only the free numbers: fds the guest inherited stay where they are.
	held := holdBelow(null, base)
	if r, w, err := os.Pipe(); err == nil { // initialises the netpoller
		r.Close()
		w.Close()
	}
	closeHeld(held)
	unix.Close(null)
	return base
}

// scmMaxFD is the most fds one SCM_RIGHTS message carries (Linux's
// SCM_MAX_FD).
const scmMaxFD = 253

// holdBelow fills every free fd number below base with a copy of null and
// returns them, ascending. The copies come in by SCM_RIGHTS, up to 253 a
// recvmsg, each at the lowest free number as F_DUPFD's would: ~1000
// fcntl calls, each through the inherited trap filter, were ~0.6 ms of
// CPU in every host process (a spare's start-up, on a tight fork loop's
// path under load); four messages are a tenth of it. What the messages
// cannot place (a socket refused, fds in flight over the user's limit)
// the fcntl loop fills.
func holdBelow(null, base int) []int {
	var held []int
	if sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		held = receiveBelow(sp, null, base)
		unix.Close(sp[0])
		unix.Close(sp[1])
	}
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			break
		}
		if fd >= base {
			unix.Close(fd)
			break
		}
		held = append(held, fd)
	}
	sort.Ints(held) // the socket pair's two numbers come free before the loop
	return held
}

// receiveBelow sends null to itself over the socket pair sp and receives
// the copies until one lands at base or above (closed again: lowest free
// means every number below the highest received is taken). The batch is
// never larger than the numbers left below base, so it overshoots only
// past fds already open there.
func receiveBelow(sp [2]int, null, base int) []int {
	var held []int
	high := null // every number below the lowest free one is taken
	for high+1 < base {
		n := min(scmMaxFD, base-1-high)
		fds := make([]int, n)
		for i := range fds {
			fds[i] = null
		}
		if err := unix.Sendmsg(sp[0], []byte{0}, unix.UnixRights(fds...), nil, 0); err != nil {
			return held
		}
		oob := make([]byte, unix.CmsgSpace(4*n))
		_, oobn, _, _, err := unix.Recvmsg(sp[1], make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return held
		}
		got, done := parseHeld(oob[:oobn], base)
		held = append(held, got...)
		if done || len(got) < n {
			return held
		}
		high = got[len(got)-1]
	}
	return held
}

// parseHeld returns the received fds below base, closing the others;
// done when there were any.
func parseHeld(oob []byte, base int) (got []int, done bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, true
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if fd < base {
				got = append(got, fd)
				continue
			}
			unix.Close(fd)
			done = true
		}
	}
	sort.Ints(got)
	return got, done
}

// closeHeld closes the placeholder fds, ascending, with one close_range
// per run of consecutive numbers: ~1000 close calls were a millisecond of
// every run's start-up. The inherited fds between runs stay open.
func closeHeld(held []int) {
	for i := 0; i < len(held); {
		j := i
		for j+1 < len(held) && held[j+1] == held[j]+1 {
			j++
		}
		if unix.CloseRange(uint(held[i]), uint(held[j]), 0) != nil {
			for _, fd := range held[i : j+1] {
				unix.Close(fd)
			}
		}
		i = j + 1
	}
}

func noRandomize() bool {
	return hostPersonality()&ForkedHostPersonality == ForkedHostPersonality
}

// forkChildRanges turns address randomisation off for the processes this
// one starts (personality is inherited; this process's own layout is
// fixed already) and asks a probe run where their code will be — or the
// probe cache, which keeps that answer per binary and system
// (internal/probecache).
func forkChildRanges() ([]bpf.Range, error) {
	if e := setForkedPersonality(); e != 0 {
		return nil, e
	}
	ranges, cached, err := probecache.Ranges("/proc/self/exe", hostPersonality(), runProbe)
	note := "probed"
	if cached {
		note = "cached"
	}
	rundir.HostMarks.Mark(rundir.PhaseProbed, rundir.Now(), note)
	return ranges, err
}

// runProbe re-executes this binary as the probe, with this thread's
// personality, and reads the ranges it prints.
func runProbe() ([]bpf.Range, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	null, err := os.Open("/dev/null")
	if err != nil {
		w.Close()
		return nil, err
	}
	defer null.Close()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"vsysbed", reexec.Probe}, &syscall.ProcAttr{
		Files: []uintptr{null.Fd(), w.Fd(), null.Fd()},
	})
	w.Close()
	if err != nil {
		return nil, err
	}
	out, _ := io.ReadAll(r)
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	var ranges []bpf.Range
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rg bpf.Range
		if _, err := fmt.Sscanf(line, "%x %x", &rg.Start, &rg.End); err == nil {
			ranges = append(ranges, rg)
		}
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("the probe printed no ranges (status %v)", ws)
	}
	return ranges, nil
}

// Probe prints this process's executable ranges, one "start end" per line.
func Probe() int {
	ranges, err := bpf.HostCodeRanges()
	if err != nil {
		return fail(exitstatus.Failed, "%v", err)
	}
	for _, r := range ranges {
		fmt.Printf("%x %x\n", r.Start, r.End)
	}
	return 0
}

// NprocHint explains an EAGAIN from starting a process or thread: the
// user's RLIMIT_NPROC, which a host process takes about 10 of (Go's
// threads besides the guest's).
func NprocHint(err error) string {
	if !errors.Is(err, unix.EAGAIN) {
		return ""
	}
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &l) != nil || l.Cur == unix.RLIM_INFINITY {
		return ""
	}
	return fmt.Sprintf(" (ulimit -u is %d: every guest process is a host process of about 10 threads)", l.Cur)
}
