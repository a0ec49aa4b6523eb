// Package kernelsim is the Go kernel that guest syscalls enter: one table
// of every x86-64 syscall (its route, handler and a note, the
// compatibility documentation), the emulation of the calls that would
// corrupt the host if passed through (ARCHITECTURE.md, "What kernelsim owns"), and guards on the calls
// that may only touch guest-owned resources.
package kernelsim

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tracing"
)

// Process is the kernel's view of one guest process (one host process).
type Process struct {
	mu sync.Mutex

	tamper *tampering      // --inject rules and --personality (tamper.go); nil: none
	trace  *tracing.Tracer // nil: tracing off (trace.go)

	Exe  string   // the guest image: /proc/self/exe names it
	Argv []string // /proc/self/cmdline
	Envp []string // /proc/self/environ
	Auxv []uint64 // /proc/self/auxv, as (type, value) pairs

	Events *rundir.EventLog

	// childLinks: the links to fork children that have not called execve,
	// for their setpgid (setpgid.go); parentLink: this fork child's link
	// to its parent, until its execve.
	childLinks map[int]*childLink
	parentLink *os.File

	// brk: the emulated break, inside a PROT_NONE reservation.
	brkStart, brkCur, brkMax uint64

	vmas vmaSet
	// rewrite: the stub pages of rewritten call sites (rewrite.go); only
	// the process's one guest thread touches it.
	rewrite rewriteState

	// HostFDBase: fds at or above it may belong to the host.
	HostFDBase int

	sig signalState

	// Fatal is set when the guest did something vsysbed cannot run yet.
	Fatal string

	// Threads: the platform that runs them (platform.go), where new
	// threads' shards go and how they trap. shards reuses the blocks of
	// exited threads (rundir.ShardPool).
	plat     Platform
	runDir   string
	trapMode uint8
	shards   *rundir.ShardPool
	tasks    map[*cblock.ControlBlock]*Task // the process's threads
	// vforkTasks are the vfork children running on host threads of this
	// process (vfork.go): processes of their own, not among its threads.
	vforkTasks map[*cblock.ControlBlock]*Task
	live       int // guest threads that have not exited
	onExit     []func()

	checkExec func(path string, argv, envp []string) error
	exec      func(path string, argv, envp []string) (*Image, error)

	vdsoBase, vdsoEnd uint64
	stack             [2]uint64           // the main thread's stack: "[stack]" in maps (procmaps.go)
	routes            map[int]bool        // route overrides, for forked children
	limits            map[int]unix.Rlimit // virtual resource limits (rlimit.go), set by the guest
	vforks            int                 // vfork children running on our threads (vfork.go)
	persona           uint64              // the guest's personality(2) (persona.go)
	sigfds            map[int]*signalfd   // the guest's signalfds, by read end (signalfd.go)
	relayTid          int                 // the thread that takes what Go's threads cannot (NewTask, retarget)
	lazyMaps          map[int]lazyMaps    // maps files not read yet (procmaps.go)
	confinement       Confinement         // status's seccomp fields at start (procstatus.go)
	childAutoReap     bool                // the host's SIGCHLD has SA_NOCLDWAIT (signal.go)
	shmem             map[int]uint64      // memfds behind shared anonymous mappings, fd → inode (shmem.go)
	shmemGC           int                 // collect unused memfds when there are this many
}

// Task is one guest thread: its control block and per-thread state.
type Task struct {
	P  *Process
	CB *cblock.ControlBlock

	tidAddress uint64 // CLONE_CHILD_CLEARTID / set_tid_address
	// readyLink: a fork child's link to its parent, told "ready" as Run
	// enters the guest (AdoptFork).
	readyLink *os.File
	// clearTID: the thread exited (exit(2)); the tid word to zero and wake
	// once it has left the guest and given its control block back.
	clearTID   uint64
	robustList uint64
	sigmask    uint64
	timerHeld  uint64 // timer signals left blocked on the host thread while the guest blocks them
	altstack   altstack
	pending    pendingSet
	wake       chan struct{} // a signal was queued for the task: sigsuspend & co.

	savedMask    uint64 // rt_sigsuspend's mask to restore after the handler
	hasSavedMask bool
	restarts     []*bypassRestart // interrupted bypass calls, by frame
	exiting      bool             // execve elsewhere stops this thread
	offGuest     bool             // left the guest for good: its host thread keeps the relayed signals blocked (handOnHostSignals)
	sigwaitSet   uint64           // rt_sigtimedwait's set while it waits (wakeSigwaiters)

	// host is the host process that stands for the task's process: the
	// platform, for the process's own threads (Platform.Host).
	host Host
	// The task's process's dispositions, queue of process-directed
	// signals and personality (read and written under p.mu): p's, but a
	// vfork child's own.
	actions *[nsig + 1]sigaction
	shared  *pendingSet
	persona *uint64

	// guest answers for the task's guest process where that depends on
	// how it is hosted (guestproc.go): ownProcess, or the vfork child a
	// thread runs in its parent's memory (vfork.go).
	guest guestProcess

	injectSeen map[[2]int]uint64 // calls of each (--inject rule, syscall) on this thread (tamper.go)
	tampered   string            // what --inject or --personality did to the current call (Tampered)
	// injectedReturn: the current call's result is an --inject rule's
	// (afterSyscall neither restarts nor hides its EINTR).
	injectedReturn bool
	// traced: the record of the call in progress while tracing, until
	// it is written (trace.go).
	traced *tracing.Call
}

// Image is a program image mapped for the guest (platform/inprocess's loader).
type Image struct {
	Exe        string // the program file: /proc/self/exe names it
	Argv, Envp []string
	Auxv       []uint64 // (type, value) pairs, as on the stack
	Entry, SP  uint64
	BrkStart   uint64
	BrkMax     uint64
	Mappings   [][2]uint64 // guest-owned ranges [start, end): image, stack, brk, vDSO
	VDSOBase   uint64      // the synthetic vDSO [VDSOBase, VDSOEnd): a fork re-creates it here
	VDSOEnd    uint64
	Stack      [2]uint64 // the main thread's stack [start, end), without its guard page
}

// Config describes a freshly loaded guest.
type Config struct {
	Image
	HostFDBase int
	Events     *rundir.EventLog
	RunDir     string   // new threads' shards go here
	TrapMode   uint8    // cblock.TrapSeccomp or cblock.TrapSUD
	Platform   Platform // starts and enters the guest's threads (platform.go)

	// Limits are the guest's virtual limits at start (rlimit.go) where
	// they are not the host process's own (RaiseHostNproc).
	Limits map[int]unix.Rlimit

	// Personality is the guest's personality(2) at start (persona.go).
	Personality uint64
	// Confinement: status's seccomp fields as vsysbed was started.
	Confinement Confinement

	// GuestFDs are the guest's open fds when the caller knows them (a fork
	// child: installFDs), so that NewProcess need not list /proc/self/fd
	// for the guest's fd table size (~0.1 ms of a fork's adoption).
	GuestFDs []int

	// execve: CheckExec answers what Exec would fail with before anything
	// is torn down; Exec maps the new image.
	CheckExec func(path string, argv, envp []string) error
	Exec      func(path string, argv, envp []string) (*Image, error)
}

// NewProcess creates the kernel state for a guest and applies the route
// table to the entry trampolines; overrides maps syscall numbers to a
// forced route (true = fast) for benchmarks and experiments.
func NewProcess(c Config, overrides map[int]bool) *Process {
	tamper := loadTampering(c.RunDir)
	overrides = tamper.withRoutes(overrides)
	p := &Process{
		Exe: c.Exe, Argv: c.Argv, Envp: c.Envp, Auxv: c.Auxv,
		Events:   c.Events,
		brkStart: c.BrkStart, brkCur: c.BrkStart, brkMax: c.BrkMax,
		HostFDBase:  c.HostFDBase,
		checkExec:   c.CheckExec,
		exec:        c.Exec,
		vdsoBase:    c.VDSOBase,
		vdsoEnd:     c.VDSOEnd,
		stack:       c.Stack,
		routes:      overrides,
		limits:      map[int]unix.Rlimit{},
		runDir:      c.RunDir,
		plat:        c.Platform,
		trapMode:    c.TrapMode,
		shards:      rundir.NewShardPool(c.RunDir),
		tasks:       map[*cblock.ControlBlock]*Task{},
		vforkTasks:  map[*cblock.ControlBlock]*Task{},
		persona:     c.Personality,
		confinement: c.Confinement,
		tamper:      tamper,
	}
	for res, l := range c.Limits {
		p.limits[res] = l
	}
	for _, m := range c.Mappings {
		p.vmas.add(m[0], m[1])
	}
	if c.BrkMax > c.BrkStart {
		p.vmas.add(c.BrkStart, c.BrkMax)
	}
	applyFDArgs(c.HostFDBase, c.GuestFDs)
	entry.SetExeIno(hostExeIno())
	entry.SetProcDev(procDevice())
	applyTimed()
	for _, row := range Table() {
		fast := row.Route == Fast
		f, overridden := overrides[row.Nr]
		if overridden {
			fast = f
		}
		entry.SetRoute(row.Nr, fast)
		if row.Checked && !overridden {
			entry.SetRouteChecked(row.Nr)
		}
	}
	if tr, err := tracing.Load(c.RunDir, c.HostFDBase, Name); err != nil && p.Events != nil {
		p.Events.Error("tracing: " + err.Error())
	} else if tr != nil {
		p.trace = tr
		p.tracedRoutes()
	}
	return p
}

// NewTask binds a control block (a guest thread) to the process.
func (p *Process) NewTask(cb *cblock.ControlBlock) *Task {
	t := &Task{P: p, CB: cb, wake: make(chan struct{}, 1), host: p.plat, guest: ownProcess{},
		actions: &p.sig.actions, shared: &p.sig.pending, persona: &p.persona}
	t.altstack.Flags = ssDisable
	p.mu.Lock()
	p.tasks[cb] = t
	p.live++
	if p.relayTid == 0 {
		// The first thread (NewTask runs on it) takes the host signals
		// Go's threads cannot hand on (Entry.SetRelayTid).
		p.relayTid = unix.Gettid()
		entry.SetRelayTid(p.relayTid)
	}
	p.mu.Unlock()
	return t
}

// eachTask calls f for every task on p's host threads: its own threads
// and the vfork children running on them (caller holds p.mu).
func (p *Process) eachTask(f func(*Task)) {
	for _, t := range p.tasks {
		f(t)
	}
	for _, t := range p.vforkTasks {
		f(t)
	}
}

// exitProcess ends the guest process with status code, from any thread:
// the exit record goes to this thread's shard and the event log first
// (every count is already in the shards), then the host process exits
// with the guest's status, taking every guest thread with it.
func (t *Task) exitProcess(code int) {
	t.traceEnd(code&0xff, 0)
	t.host.Exit(code&0xff, func() {
		// Every other thread leaves first, so that none is cut off
		// between two of its counters and the shards add up.
		t.P.stopOtherThreads(t)
		cb := t.CB
		cb.Exit.Code = int32(code & 0xff)
		cb.Exit.Done = 1
		if t.P.Events != nil {
			t.P.Events.Exit(int(cb.Exit.Code), 0)
		}
		t.P.runOnExit()
	})
	t.leaveForOtherProcess()
}

// OnExit registers f to run just before the guest process ends, from
// whichever thread ends it (a CPU profile to flush, say).
func (p *Process) OnExit(f func()) {
	p.mu.Lock()
	p.onExit = append(p.onExit, f)
	p.mu.Unlock()
}

func (p *Process) runOnExit() {
	p.mu.Lock()
	fs := p.onExit
	p.onExit = nil
	p.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// notSupported stops the guest with a one-line explanation: the call needs
// a later part of vsysbed (threads, processes, signal delivery).
func (t *Task) notSupported(what string) int64 {
	msg := "not supported yet: " + what
	t.P.Fatal = msg
	if t.P.Events != nil {
		t.P.Events.Error(msg)
	}
	fmt.Fprintln(os.Stderr, "vsysbed: "+msg)
	t.exitProcess(exitstatus.Failed)
	return -int64(unix.ENOSYS)
}

func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
