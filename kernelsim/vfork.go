package kernelsim

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// vfork (ARCHITECTURE.md, "Processes"), and every clone without CLONE_THREAD that shares
// memory (posix_spawn's CLONE_VM|CLONE_VFORK): nothing is copied. The
// child host process is started up front — it supplies the pid — and
// waits; the child itself runs on a new thread of this process, in the
// parent's memory, so whatever it writes (posix_spawn's exec error) the
// parent reads, as on Linux. That thread first takes a private copy of
// the fd table and of cwd/umask (unshare(CLONE_FILES|CLONE_FS)): the
// child's open, close, dup2 and chdir then apply to its copy, at the
// numbers the guest sees, and the parent's stay as they were. Its signal
// mask is its task's, its dispositions a copy of the parent's; setsid and
// setpgid are carried out at once by the child host process, which is the
// process they name. At execve the child host process receives the fd
// table (SCM_RIGHTS), cwd, umask, mask, ignored signals and the new image's
// path, argv and envp, and performs the exec itself; at _exit it exits
// with the status. Then the thread ends and the parent, suspended until
// then when CLONE_VFORK asked for it, returns the child's pid.

// identityCalls answer differently on a vfork child's thread: while one
// runs, they take the kernel route (the routes are per process), and the
// parent's own calls pass through from there.
var identityCalls = []int{
	unix.SYS_GETPID, unix.SYS_GETPPID, unix.SYS_GETTID, unix.SYS_GETPGRP,
	unix.SYS_GETPGID, unix.SYS_GETSID, unix.SYS_SETSID, unix.SYS_SETPGID,
	unix.SYS_SETRLIMIT, unix.SYS_GETRLIMIT, unix.SYS_PRLIMIT64,
	unix.SYS_PERSONALITY,
}

// identityFast is the table's route of each identity call (filled at init:
// the table refers to the fork handlers, which refer to this).
var identityFast = map[int]bool{}

func init() {
	for _, nr := range identityCalls {
		identityFast[nr] = table[nr].Route == Fast
	}
}

// vforkChild is a guest process running on one of its parent's threads.
type vforkChild struct {
	pid     int       // the child host process: the guest's pid and tid
	host    VforkHost // the child host process, which acts for the child
	actions [nsig + 1]sigaction
	pending pendingSet          // its process-directed signals: none (the host's are the parent's)
	limits  map[int]unix.Rlimit // virtual limits (rlimit.go): the child's own
	persona uint64              // its personality (persona.go): its own
}

// VforkExec is what the child host process needs to perform a vfork
// child's execve: the fds come after it, in FDs order, then the cwd.
// kernelsim fills in the guest's state; the platform, which knows the
// child's thread, its fd table (FDs) and umask (VforkHost.Exec).
type VforkExec struct {
	Path       string
	Argv, Envp []string
	FDs        []ForkFD
	Umask      int
	Mask       uint64
	Ignored    uint64 // bit sig-1: signals the child ignores (exec keeps them)
	Routes     map[int]bool
	Limits     map[int]unix.Rlimit
	Persona    uint64
	Conf       Confinement
	Comm       string // the name execve gives the process
	FDFloor    int    // above every guest fd: where the child's own fds may go
}

// vforkLeft unwinds a vfork child's thread out of a handler that cannot
// return normally (a fatal signal): Dispatch recovers it.
type vforkLeft struct{}

func (t *Task) vfork(flags, newsp, ptid, ctid, tlsv uint64) int64 {
	p := t.P
	regs, err := t.childRegs(newsp)
	if err != nil {
		return errnoOf(err)
	}
	fs := t.CB.GuestFS
	if flags&unix.CLONE_SETTLS != 0 {
		fs = tlsv
	}
	if errno := p.nprocCheck(p.limitsCopy(), true); errno != 0 {
		return -int64(errno)
	}
	child, host, errno := p.plat.StartVfork()
	if errno != 0 {
		return -int64(errno)
	}
	vc := &vforkChild{pid: child, host: host, limits: t.P.limitsCopy(), persona: t.P.personaOf()}
	p.mu.Lock()
	vc.actions = p.sig.actions
	p.mu.Unlock()
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		writeU32(ptid, uint32(child))
	}
	p.vforkRoutes(1)
	started := make(chan int64, 1)
	left := make(chan struct{})
	p.plat.StartChildThread(func(err error) { p.runVforkChild(t, vc, err, regs, fs, flags, ctid, started, left) })
	r := <-started
	// The child's thread has its own copy of the link by now (or failed).
	host.Close()
	if r < 0 {
		p.forkFailed(child, errors.New("starting the vfork child's thread: "+unix.Errno(-r).Error()))
		p.vforkRoutes(-1)
		return r
	}
	if flags&unix.CLONE_VFORK != 0 {
		<-left // as Linux: until the child execs or exits
	}
	return int64(child)
}

// runVforkChild is the life of a vfork child's thread, on the host thread
// the platform started for it with the child's own fd table and cwd
// (unshareErr when it could not).
func (p *Process) runVforkChild(parent *Task, vc *vforkChild, unshareErr error, regs cblock.Regs, fs, flags, ctid uint64, started chan<- int64, left chan<- struct{}) {
	defer close(left)
	if unshareErr != nil {
		started <- errnoOf(unshareErr)
		return
	}
	cb, err := p.threadBlock(parent, regs, fs)
	if err != nil {
		started <- -int64(unix.EAGAIN)
		return
	}
	// The block is one of this process's (its pid stays ours, and it goes
	// back to our pool when the child leaves): everything the child runs
	// on this thread runs in our memory, so our address map is the one
	// that names its call sites. Its exit is recorded by its own host
	// process, in that process's block.
	// A fault in the child's code is the child's alone: kernelsim applies
	// the child's own disposition (tls/entry.c's fault handler would
	// otherwise kill this host process, the parent's).
	cb.Flags |= cblock.FlagVfork
	t := p.newVforkTask(parent, cb, vc)
	defer p.vforkRoutes(-1)
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		writeU32(ctid, uint32(vc.pid))
	}
	ready := func() {
		go p.watchVforkChild(t, vc)
		started <- int64(vc.pid)
	}
	if t.enter(ready) != nil {
		p.forgetVforkChild(t)
		if p.plat.Release(cb) {
			p.shards.Put(cb)
		}
		started <- -int64(unix.EAGAIN)
	}
}

// newVforkTask makes vc, a vfork child of parent, the task of block cb
// (on a host thread of p, not one of p's threads): its host process, its
// dispositions, queue and personality are its own.
func (p *Process) newVforkTask(parent *Task, cb *cblock.ControlBlock, vc *vforkChild) *Task {
	t := &Task{P: p, CB: cb, wake: make(chan struct{}, 1), guest: vc, host: vc.host,
		actions: &vc.actions, shared: &vc.pending, persona: &vc.persona}
	t.sigmask = parent.sigmask
	t.altstack = parent.altstack // Linux keeps it for CLONE_VFORK
	p.mu.Lock()
	p.vforkTasks[cb] = t
	p.mu.Unlock()
	return t
}

// forgetVforkChild takes t off this process's vfork children as its
// thread leaves the guest (vforkLeave), before Task.left gives its block
// back for another thread.
func (p *Process) forgetVforkChild(t *Task) {
	p.mu.Lock()
	if p.vforkTasks[t.CB] == t {
		delete(p.vforkTasks, t.CB)
	}
	p.mu.Unlock()
}

// watchVforkChild ends the child's thread if its host process dies first
// (a signal sent to the child's pid: see vforkChild.syscall): the parent then
// goes on, and its wait reports how the child died.
func (p *Process) watchVforkChild(t *Task, vc *vforkChild) {
	vc.host.Wait()
	// The child's thread may have left long ago (at its exec), and its
	// block may be another thread's by now: only the same task counts.
	p.mu.Lock()
	running := p.vforkTasks[t.CB] == t
	tid := int(t.CB.Tid)
	if running {
		t.exiting = true
		atomic.StoreUint32(&t.CB.SigPending, 1)
	}
	p.mu.Unlock()
	if running {
		select {
		case t.wake <- struct{}{}:
		default:
		}
		kick(tid)
	}
}

// vforkRoutes counts the vfork children running on our threads and sends
// the identity calls through Go while there is one.
func (p *Process) vforkRoutes(delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.vforks += delta
	switch {
	case delta > 0 && p.vforks == delta:
		for _, nr := range identityCalls {
			entry.SetRoute(nr, false)
		}
	case delta < 0 && p.vforks == 0:
		for _, nr := range identityCalls {
			fast := identityFast[nr]
			if f, ok := p.routes[nr]; ok {
				fast = f
			}
			entry.SetRoute(nr, fast && !p.trace.Traces(nr))
		}
	}
}

// dispatch is Dispatch for a vfork child's thread (dispatchVfork).
func (vc *vforkChild) dispatch(t *Task, cb *cblock.ControlBlock) { t.dispatchVfork(cb) }

// dispatchVfork is Dispatch for a vfork child's thread: a fatal signal
// unwinds out of the handler to here, and the thread leaves the guest.
func (t *Task) dispatchVfork(cb *cblock.ControlBlock) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(vforkLeft); !ok {
				panic(r)
			}
		}
	}()
	if t.exiting {
		// Its host process is gone (killed): nothing is left to run.
		t.vforkLeave()
		return
	}
	t.dispatch(cb)
}

// The vfork child's answers to the core (guestProcess): its pid is its
// host process's and its only thread's tid; the thread it runs on, its
// fd table (a private copy) and its memory (its parent's) are not its
// process's own.
func (vc *vforkChild) ids(*cblock.ControlBlock) (int, int) { return vc.pid, vc.pid }
func (vc *vforkChild) ownsThreads() bool                   { return false }
func (vc *vforkChild) ownsFiles() bool                     { return false }
func (vc *vforkChild) ownsMemory() bool                    { return false }

// syscall answers the calls whose meaning depends on the process for
// a vfork child; ok=false lets the table handle nr.
//
// Signals: kill(2) aimed at the child's pid reaches its host process, which
// takes the host's default action (it runs no guest code yet: a catching
// or ignoring disposition the child set is not consulted), and the watcher
// then ends this thread. Signals the parent's host process receives stay
// the parent's.
func (vc *vforkChild) syscall(t *Task, nr int, a *Args) (int64, bool) {
	self := func(who uint64) bool { w := int(int32(who)); return w == 0 || w == vc.pid }
	if nr == unix.SYS_GETRLIMIT || nr == unix.SYS_SETRLIMIT || nr == unix.SYS_PRLIMIT64 {
		// The virtual limits (rlimit.go) are the child's own copy; the
		// others are its host process's (below).
		isSelf := func(who int) bool { return self(uint64(uint32(who))) }
		setLimit := func(res int, l unix.Rlimit) { vc.limits[res] = l }
		if ret, ok := rlimitCall(nr, a, vc.limits, isSelf, setLimit); ok {
			return ret, true
		}
	}
	switch nr {
	case unix.SYS_GETPID, unix.SYS_GETTID:
		return int64(vc.pid), true
	case unix.SYS_GETPPID:
		return int64(pid), true
	case unix.SYS_GETPGRP:
		return vc.host.Getpgid(), true
	case unix.SYS_GETPGID:
		if self(a[0]) {
			return vc.host.Getpgid(), true
		}
	case unix.SYS_GETSID:
		if self(a[0]) {
			return vc.host.Getsid(), true
		}
	case unix.SYS_SETSID:
		return vc.host.Setsid(), true
	case unix.SYS_SETPGID:
		if self(a[0]) {
			pg := int64(int32(a[1]))
			if pg == 0 {
				pg = int64(vc.pid)
			}
			return vc.host.Setpgid(pg), true
		}
	case unix.SYS_GETRLIMIT, unix.SYS_SETRLIMIT:
		// Limits are per process: the child's are its host process's,
		// which the exec'd image then runs with (prlimit on our child).
		var b Args
		b[0], b[1] = uint64(vc.pid), a[0]
		if nr == unix.SYS_SETRLIMIT {
			b[2] = a[1]
		} else {
			b[3] = a[1]
		}
		return passthrough(unix.SYS_PRLIMIT64, &b), true
	case unix.SYS_PRLIMIT64:
		if self(a[0]) {
			b := *a
			b[0] = uint64(vc.pid)
			return passthrough(unix.SYS_PRLIMIT64, &b), true
		}
	case unix.SYS_KILL:
		target := int(int32(a[0]))
		if target == 0 {
			// Its process group, which setpgid may have changed.
			pg := vc.host.Getpgid()
			if pg < 0 {
				return pg, true
			}
			b := *a
			b[0] = uint64(uint32(-pg))
			return passthrough(unix.SYS_KILL, &b), true
		}
		return passthrough(unix.SYS_KILL, a), true
	case unix.SYS_EXIT, unix.SYS_EXIT_GROUP:
		vc.host.Exit(int(a[0]&0xff), nil)
		t.vforkLeave()
		return 0, true
	case unix.SYS_WAIT4, unix.SYS_WAITID:
		return -int64(unix.ECHILD), true // the host's children are the parent's
	case unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_CLONE, unix.SYS_CLONE3:
		// A vfork child that forks or starts threads before execve: not
		// supported (no libc or runtime we run does it).
		return -int64(unix.EAGAIN), true
	case unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_READLINK, unix.SYS_READLINKAT:
		return t.vforkProcPath(vc, nr, a)
	}
	return 0, false
}

// vforkProcPath sends /proc/self/{fd,fdinfo,cwd} to the child thread's own
// view (VforkHost.FilesView): /proc/self is the thread group leader's,
// whose fd table and cwd are the parent's.
func (t *Task) vforkProcPath(vc *vforkChild, nr int, a *Args) (int64, bool) {
	pathArg := 0
	if nr == unix.SYS_OPENAT || nr == unix.SYS_READLINKAT {
		pathArg = 1
	}
	path, err := readString(a[pathArg], 4096)
	if err != nil {
		return 0, false
	}
	if strings.HasPrefix(path, "/proc/") && t.P.hostFDPath(path) {
		return errNoEntry, true
	}
	rest, ok := strings.CutPrefix(path, "/proc/self/")
	if !ok {
		rest, ok = strings.CutPrefix(path, "/proc/"+strconv.Itoa(vc.pid)+"/")
	}
	if !ok {
		return 0, false
	}
	// Its only task is itself.
	rest = strings.TrimPrefix(rest, "task/"+strconv.Itoa(vc.pid)+"/")
	switch first, _, _ := strings.Cut(rest, "/"); first {
	case "fd", "fdinfo", "cwd":
	default:
		return 0, false
	}
	p, err := unix.BytePtrFromString(vc.host.FilesView(rest))
	if err != nil {
		return 0, false
	}
	b := *a
	b[pathArg] = uint64(uintptr(unsafe.Pointer(p)))
	r := passthrough(nr, &b)
	runtime.KeepAlive(p)
	return r, true
}

// vforkLeave makes the child's thread leave the guest after this call;
// it is no longer one of this process's vfork children.
func (t *Task) vforkLeave() {
	t.P.forgetVforkChild(t)
	t.CB.Flags |= cblock.FlagLeave
	t.CB.Flags &^= cblock.FlagResume
}

// leaveForOtherProcess follows a Host.Exit or Die that returned: the
// task's host process is another than this thread's (a vfork child's),
// so the thread leaves the guest, unwinding out of whatever handler
// ended the process (dispatchVfork recovers).
func (t *Task) leaveForOtherProcess() {
	t.vforkLeave()
	panic(vforkLeft{})
}

// exec hands a checked execve over to the child host process: past
// this point the child's thread has nothing left to do.
func (vc *vforkChild) exec(t *Task, path, comm string, argv, envp []string) int64 {
	st := &VforkExec{Path: path, Comm: comm, Argv: argv, Envp: envp, Mask: t.sigmask, Routes: t.P.routes, Limits: vc.limits, Persona: vc.persona, Conf: t.P.confinement, FDFloor: entry.FDHigh() + 1}
	st.Conf.Undumpable = false // exec makes the process dumpable again
	for sig := 1; sig <= nsig; sig++ {
		if vc.actions[sig].handler == sigIgn {
			st.Ignored |= bit(sig)
		}
	}
	// The child host process is past the point of no return once it has
	// this; if it is gone, the child died (its wait status says how).
	// The call's trace record goes first: once the host process has the
	// request, the new image's own records may follow at any moment.
	if errno := vc.host.Exec(st, func() { t.traceAhead(0) }); errno != 0 {
		return -int64(errno)
	}
	t.vforkLeave()
	return 0
}
