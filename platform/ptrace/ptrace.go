// Package ptrace is the ptrace platform (`vsysbed run --platform=ptrace`):
// the guest runs natively as a traced child of the supervisor. A seccomp
// filter, armed by the stub Exec, stops every syscall of the guest tree
// (SECCOMP_RET_TRACE); at every exec the tracer swaps the kernel's vDSO
// for the synthetic one (inject.go), so calls through __kernel_vsyscall
// are told from raw `syscall`s by the address they stop at. Each stop is
// counted into a per-thread shard in the run directory, in the
// control-block layout the in-process platform writes, and the call then
// runs in the real kernel: this platform measures what a syscall costs as
// a trap out of the process (the "binary syscall"), and it is the
// reference the in-process platform's counts are checked against.
// Nothing is emulated; what kernelsim answers or refuses on every
// platform (kernelsim.Answer) it answers here too, and /proc files that
// would show the tracer are views (procview.go).
//
// The package owns the tracee side (Exec) and the tracer (Run); the
// supervisor (package tracer) keeps the run directory, signal forwarding,
// exit mirroring and the report, which it builds from the shards and the
// event log Run leaves.
package ptrace

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/procmaps"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/loader"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tracing"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// TrapMode is the report's trap_mode for a ptrace run.
const TrapMode = "ptrace"

// traceOptions: every stop the platform needs. EXITKILL: if the tracer
// dies, the kernel kills every tracee rather than leave it stopped.
const traceOptions = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACECLONE |
	unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC |
	unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEEXIT | unix.PTRACE_O_EXITKILL

// tracedProcess is one traced process (thread group).
type tracedProcess struct {
	pid    int
	parent int // the traced process that forked it, 0 for the first
	// guest: the process runs guest code (the first process becomes the
	// guest at its exec of PROGRAM; before, it is vsysbed's own stub).
	guest bool
	vdso  uint64 // base of the injected image, 0 before the first exec
	// handlers: what rt_sigaction installed, by signal.
	handlers map[uint64]sigDisposition
	// fault: the last synchronous fault delivered to the process, for the
	// report's fault address when that signal kills it.
	fault struct {
		sig       unix.Signal
		addr, rip uint64
	}
	// free: the control blocks of its exited threads, for its next new
	// ones (rundir.ShardPool explains why counts simply go on there).
	free []*cblock.ControlBlock
	// noNewPrivs: the guest set PR_SET_NO_NEW_PRIVS (kept by fork and
	// exec); the real flag is set for the tracer's filter.
	noNewPrivs bool
}

// tracedThread is one traced thread.
type tracedThread struct {
	tid  int
	proc *tracedProcess
	// traced: the call in progress, when tracing (trace.go).
	traced *tracing.Call
	// inSyscall: resumed with PTRACE_SYSCALL from a counted seccomp stop;
	// the next SIGTRAP|0x80 is the call's exit.
	inSyscall bool
	nr        uint64
	// restart: the last call returned a restart code; the kernel issues
	// it again from there.
	restart restartPoint
	// bypassRip, bypassRsp: where a bypass call stopped (in the image's
	// fallback, return address on the stack) before seccompStop returned
	// it to its caller; 0 for other calls.
	bypassRip, bypassRsp uint64
	// interrupted: the last bypass call came back with a restart code and
	// no signal was delivered since; sigreturnRestart: the one to re-issue
	// when its handler returns (signal.go).
	interrupted, sigreturnRestart *bypassInterrupt
	// handlerRestart: a raw syscall the kernel rewound onto its `syscall`
	// under a guest handler, which its rt_sigreturn resumes: the same call.
	handlerRestart *restartPoint
	// answered: kernelsim answers the current call itself (answer); it
	// was skipped and returns answer.
	answered bool
	answer   int64
	// eintr: the last call returned EINTR and Linux never restarts it;
	// reissue: the tracer re-issued it for an ignored signal, and
	// callDeadline is when its timeout ends (ignored.go).
	eintr        *eintrCall
	reissue      bool
	callDeadline time.Time
	// outerMask: the thread's mask before a call that takes one (known:
	// read); maskHeld: the call's mask is held over its re-issue.
	outerMask            uint64
	outerKnown, maskHeld bool
	// procOpen: the current call is an open the tracer redirected to a
	// /proc view (procview.go).
	procOpen *procOpen
}

// restartPoint is where a call the kernel will restart stops again, and
// the restart code its exit returned (0: re-issued by the tracer).
type restartPoint struct{ rip, rsp, nr, code uint64 }

// tracer is the ptrace platform's state; every method runs on the one locked
// OS thread that is the tracer of every tracee.
type tracer struct {
	dir    string
	tr     *tracing.Tracer // -e trace=, -o, -c: nil when off (trace.go)
	im     *vdsoinject.Image
	layout *vdsoLayout
	events *os.File

	root     int
	procs    map[int]*tracedProcess
	threads  map[int]*tracedThread
	shards   map[int]*cblock.ControlBlock
	unmaps   []func() error
	expected map[int]*tracedProcess // children announced by a fork event, not yet stopped

	rootWS   unix.WaitStatus
	rootDone bool
	started  bool // the first process exec'd PROGRAM

	// conf: the seccomp and no_new_privs fields vsysbed was started with,
	// what a native run's status shows; held: the threads the tracer
	// holds in their group stop.
	conf kernelsim.Confinement
	held map[int]bool
	// stopped: Config.Stopped.
	stopped func(unix.Signal)
}

// Config is one run of the platform.
type Config struct {
	Dir   string    // the run directory: shards and the event log go there
	Argv  []string  // PROGRAM [ARGS...]
	Files []uintptr // the first process's fds (syscall.ProcAttr.Files)
	// StubFlags go to Exec before the program: the caller's signal state
	// and closed fds 0-2, which the stub sets before its execve.
	StubFlags []string
	// Started is called with the first process's pid as soon as it
	// exists (the supervisor forwards signals to it from then on).
	Started func(pid int)
	// Stopped is called when the first process's leader stops in a group
	// stop by sig (Ctrl-Z, SIGSTOP): the supervisor stops as the program
	// would, by the same signal.
	Stopped func(sig unix.Signal)
}

// Result is how a run ended.
type Result struct {
	Pid    int             // the first process
	Status unix.WaitStatus // its end, when Ended
	Ended  bool            // its end was seen
	// Started: it exec'd PROGRAM; if not, the stub failed and said why.
	Started bool
}

// Run starts the program through the stub and traces its tree until no
// tracee is left. The calling goroutine's OS thread is the tracer (every
// ptrace request and wait must come from the thread that forked the first
// tracee): Run locks it for its duration. The shards and the event log
// are complete when it returns. Its error is the platform's own failure;
// the tree is killed then.
func Run(c Config) (Result, error) {
	r, err := newTracer(c.Dir)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	r.stopped = c.Stopped
	self, err := os.Executable()
	if err != nil {
		return Result{}, err
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prefix := append([]string{self, reexec.PtraceExec}, c.StubFlags...)
	pid, cleanup, err := reexec.Start(self, prefix, c.Argv, "", &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: c.Files,
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	defer cleanup()
	if err != nil {
		return Result{}, fmt.Errorf("starting the traced process: %w", err)
	}
	r.root = pid
	if c.Started != nil {
		c.Started(pid)
	}

	if err := r.trace(); err != nil {
		r.killAll()
		return Result{Pid: pid}, err
	}
	return Result{Pid: pid, Status: r.rootWS, Ended: r.rootDone, Started: r.started}, nil
}

func newTracer(dir string) (*tracer, error) {
	im, err := vdsoinject.BuildWith(vdsoinject.Options{NoCounters: true})
	if err != nil {
		return nil, err
	}
	layout, err := newVDSOLayout(im)
	if err != nil {
		return nil, err
	}
	ev, err := os.OpenFile(dir+"/"+rundir.EventsFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r := &tracer{dir: dir, im: im, layout: layout, events: ev,
		procs: map[int]*tracedProcess{}, threads: map[int]*tracedThread{},
		shards: map[int]*cblock.ControlBlock{}, expected: map[int]*tracedProcess{},
		conf: kernelsim.ReadConfinement(), held: map[int]bool{}}
	if err := r.loadTrace(); err != nil {
		ev.Close()
		return nil, err
	}
	return r, nil
}

func (r *tracer) close() {
	for _, u := range r.unmaps {
		u()
	}
	r.unmaps = nil
	r.events.Close()
}

// trace runs the tracer until no tracee is left. Its error is the
// tracer's own failure; the caller kills the tree.
func (r *tracer) trace() error {
	var ws unix.WaitStatus
	if _, err := wait4(r.root, &ws); err != nil {
		return fmt.Errorf("waiting for the traced process: %w", err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("the traced process did not stop at its exec (status %#x)", uint32(ws))
	}
	if err := unix.PtraceSetOptions(r.root, traceOptions); err != nil {
		return fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	p := &tracedProcess{pid: r.root}
	r.procs[r.root] = p
	r.threads[r.root] = &tracedThread{tid: r.root, proc: p}
	if err := r.resume(r.root, 0); err != nil {
		return err
	}
	for {
		tid, err := r.wait(&ws)
		if err == unix.ECHILD {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait4: %w", err)
		}
		if err := r.handle(tid, ws); err != nil {
			return err
		}
	}
}

// handle is one wait status of tracee tid.
func (r *tracer) handle(tid int, ws unix.WaitStatus) error {
	if ws.Exited() || ws.Signaled() {
		r.ended(tid, ws)
		return nil
	}
	if !ws.Stopped() {
		return nil
	}
	th := r.threads[tid]
	if th == nil {
		return r.born(tid)
	}
	sig := ws.StopSignal()
	if sig == unix.SIGTRAP|0x80 {
		return r.syscallExit(th)
	}
	if sig == unix.SIGTRAP {
		switch ws.TrapCause() {
		case unix.PTRACE_EVENT_SECCOMP:
			return r.seccompStop(th)
		case unix.PTRACE_EVENT_EXEC:
			return r.execStop(th)
		case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
			return r.forkStop(th)
		case unix.PTRACE_EVENT_EXIT:
			r.logMaps(th.proc, tid)
			return r.resume(tid, 0)
		case -1, 0:
		default:
			return r.resumeThread(th)
		}
	}
	si, err := getSiginfo(tid)
	if err == unix.EINVAL {
		return r.groupStop(th, sig)
	}
	if err == nil {
		r.noteFault(th, sig, si)
	}
	if sig == unix.SIGCONT && len(r.held) > 0 {
		// A thread of the process that was not stopped took the SIGCONT:
		// the group stop is over for the held ones too.
		if err := r.release(th.proc.pid); err != nil {
			return err
		}
	}
	if th.restart.rip != 0 {
		r.handledRestart(th, sig)
	}
	if th.interrupted != nil {
		if err := r.interruptedBypass(th, sig); err != nil {
			return err
		}
	}
	if th.eintr != nil {
		deliver, err := r.eintrSignal(th, sig)
		if err != nil {
			return err
		}
		if !deliver {
			return r.resume(tid, 0) // ignored: dropped, as natively at its sending
		}
	}
	return r.resume(tid, int(sig)) // a signal for the guest: deliver it
}

// groupStop is a job-control stop (SIGTSTP, SIGSTOP, ...) reported by
// th. The first process's stop is the run's, as on the in-process
// platform: its leader stays stopped and vsysbed stops itself by the
// same signal (Config.Stopped: its parent's waitpid sees WSTOPSIG sig);
// the SIGCONT that continues vsysbed (`fg`) reaches the process too (the
// supervisor forwards it),
// and the leader is resumed here, where the tracer thread resumes. A
// tracee attached with PTRACE_TRACEME cannot wait for that SIGCONT in its
// stop (PTRACE_LISTEN needs PTRACE_SEIZE), so the stops of other threads
// and processes are not held: a thread resumed from one runs on until its
// next syscall stop, which waits for the stopped tracer.
func (r *tracer) groupStop(th *tracedThread, sig unix.Signal) error {
	// Held until a SIGCONT comes (releaseContinued), as natively: every
	// thread stopped, its state T.
	r.held[th.tid] = true
	if th.tid == r.root && r.stopped != nil {
		r.stopped(sig)
	}
	return nil
}

// wait is the next wait status of any tracee. While threads are held in
// group stops it looks every few milliseconds for the SIGCONT that ends
// theirs (releaseContinued).
func (r *tracer) wait(ws *unix.WaitStatus) (int, error) {
	for len(r.held) > 0 {
		tid, err := unix.Wait4(-1, ws, unix.WALL|unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || tid > 0 {
			return tid, err
		}
		if err := r.releaseContinued(); err != nil {
			return 0, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return wait4(-1, ws)
}

// releaseContinued resumes the held threads of every process a SIGCONT
// was sent to. A traced thread in a group stop is in a ptrace stop, which
// SIGCONT does not end (only PTRACE_LISTEN, which needs PTRACE_SEIZE,
// would let the kernel do it); the signal stays pending for the process
// (no stopped thread wants it), where /proc shows it. Resumed, the
// threads take it at their signal-delivery stop, as natively.
func (r *tracer) releaseContinued() error {
	cont := map[int]bool{}
	for tid := range r.held {
		tgid := tid
		if th := r.threads[tid]; th != nil {
			tgid = th.proc.pid
		}
		if !cont[tgid] && contPending(tid) {
			cont[tgid] = true
		}
	}
	for pid := range cont {
		if err := r.release(pid); err != nil {
			return err
		}
	}
	return nil
}

// release resumes the held threads of process pid.
func (r *tracer) release(pid int) error {
	for tid := range r.held {
		th := r.threads[tid]
		if th == nil || th.proc.pid != pid {
			continue
		}
		delete(r.held, tid)
		if err := r.resumeThread(th); err != nil {
			return err
		}
	}
	return nil
}

// contPending: a SIGCONT is pending for thread tid or its process.
func contPending(tid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return false
	}
	bit := uint64(1) << (unix.SIGCONT - 1)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "SigPnd" || k == "ShdPnd") {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && m&bit != 0 {
				return true
			}
		}
	}
	return false
}

// noteFault remembers a fault the kernel raised in guest code (si_code >
// 0: not sent by a process), whose address the report shows if the
// signal kills the guest.
func (r *tracer) noteFault(th *tracedThread, sig unix.Signal, si [128]byte) {
	switch sig {
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE:
	default:
		return
	}
	if code := int32(binary.LittleEndian.Uint32(si[8:])); code <= 0 {
		return
	}
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(th.tid, &regs) != nil {
		return
	}
	f := &th.proc.fault
	f.sig, f.addr, f.rip = sig, binary.LittleEndian.Uint64(si[16:]), regs.Rip
}

// IsGroupStop tells a group stop from a signal-delivery stop of a
// PTRACE_TRACEME tracee: only the latter has siginfo.
func IsGroupStop(tid int) bool {
	_, err := getSiginfo(tid)
	return err == unix.EINVAL
}

// getSiginfo is PTRACE_GETSIGINFO; EINVAL means a group stop.
func getSiginfo(tid int) ([128]byte, error) {
	var si [128]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(&si[0])), 0, 0)
	if e != 0 {
		return si, e
	}
	return si, nil
}

// seccompStop counts one guest syscall and lets the kernel run it,
// stopping again at its exit.
func (r *tracer) seccompStop(th *tracedThread) error {
	if !th.proc.guest {
		return r.resume(th.tid, 0) // vsysbed's own stub, before PROGRAM
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(th.tid, &regs); err != nil {
		return ignoreGone(err)
	}
	nr := regs.Orig_rax
	kind := r.layout.stopKind(th.proc.vdso, regs.Rip)
	// A call the kernel re-issues after a restart code (same place, same
	// stack, same number or restart_syscall) is not a new call.
	rp := th.restart
	restarted := rp.rip != 0 && rp.rip == regs.Rip && rp.rsp == regs.Rsp &&
		(rp.nr == nr || nr == sysRestartSyscall)
	th.restart, th.bypassRip, th.interrupted, th.eintr = restartPoint{}, 0, nil, nil
	if th.reissue {
		th.reissue = false // its deadline stays the first issue's
	} else {
		if th.maskHeld {
			// The re-issued call ended in EINTR and no signal came to
			// this thread: its own mask is due.
			th.maskHeld = false
			setSigmask(th.tid, th.outerMask)
		}
		if _, ok := eintrCalls[nr]; ok {
			th.callDeadline = callDeadline(th.tid, nr, &regs)
			th.noteCallMask(nr, &regs)
		}
	}
	if nr == unix.SYS_RT_SIGACTION {
		r.noteSigaction(th, &regs)
	}
	var site uint64
	switch kind {
	case cblock.KindBypass:
		// As the in-process bypass entry: the site is the return address
		// into the caller, on top of the stack (the image's stubs
		// tail-jump, so nothing was pushed).
		ret, err := readWord(th.tid, regs.Rsp)
		if err != nil {
			return ignoreGone(err)
		}
		site = ret
		// Return to the caller now, before the call runs: the context the
		// kernel builds from (a clone child's start, a signal frame over
		// an interrupted call, rt_sigreturn's ucontext just past the
		// return address) is then the caller's, as the in-process
		// platform's kernelsim makes it — a thread starts at the return
		// address on its new stack, not at the image's `ret` that would
		// pop its entry point off that stack.
		th.bypassRip, th.bypassRsp = regs.Rip, regs.Rsp
		regs.Rip, regs.Rsp = ret, regs.Rsp+8
		if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
			return ignoreGone(err)
		}
	case cblock.KindTrap:
		site = regs.Rip - syscallInsnLen // the instruction, as the trap path records
	}
	if !restarted {
		cb, err := r.shard(th)
		if err != nil {
			return err
		}
		// The in-process vDSO stubs count the number only (no site).
		countCall(cb, nr, site, uint32(kind), kind != cblock.KindVDSO)
	}
	if nr == unix.SYS_EXECVE || nr == unix.SYS_EXECVEAT {
		// The old image is about to go: place its sites first.
		r.logMaps(th.proc, th.tid)
	}
	th.inSyscall, th.nr, th.answered = true, nr, false
	// kernelsim decides first: what it refuses or answers itself on every
	// platform (kernelsim.Answer) never reaches the real kernel. Skip the
	// call (seccomp(2): a tracer sets the number to -1); the result is set
	// again at the exit stop.
	args := kernelsim.Args{regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9}
	if !restarted {
		r.traceEnter(th, nr, args, uint32(kind), site)
	}
	switch nr {
	case unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2:
		if err := r.redirectProcOpen(th, nr, &regs); err != nil {
			return err
		}
	}
	ret, ok := int64(0), false
	if nr == unix.SYS_PRCTL {
		ret, ok = r.noNewPrivs(th, args)
	}
	if !ok {
		ret, ok = kernelsim.Answer(int(int64(nr)), args)
	}
	if ok {
		th.answered, th.answer = true, ret
		regs.Orig_rax = ^uint64(0)
		regs.Rax = uint64(ret)
		if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
			return ignoreGone(err)
		}
	}
	if err := unix.PtraceSyscall(th.tid, 0); err != nil {
		return ignoreGone(err)
	}
	return nil
}

// syscallExit looks at a call's result.
func (r *tracer) syscallExit(th *tracedThread) error {
	if !th.inSyscall {
		return r.resume(th.tid, 0)
	}
	th.inSyscall = false
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(th.tid, &regs); err != nil {
		return ignoreGone(err)
	}
	if err := th.maskAtExit(regs.Rax); err != nil {
		return err
	}
	if th.answered || th.procOpen != nil {
		if th.answered {
			regs.Rax = uint64(th.answer)
			th.answered = false
		}
		r.endProcOpen(th, &regs)
		if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
			return ignoreGone(err)
		}
	}
	r.traceExit(th, regs.Rax)
	switch {
	case isRestartResult(regs.Rax):
		th.restart = restartPoint{rip: regs.Rip, rsp: regs.Rsp, nr: th.nr, code: uint64(-int64(regs.Rax))}
		if th.bypassRip != 0 && th.nr != unix.SYS_RT_SIGRETURN {
			// The kernel re-issues the call by stepping rip back over a
			// `syscall`: put the image's back under it, with the return
			// address on the stack again (the signal frame, if any, is
			// built below the red zone and leaves it intact).
			retAddr := regs.Rip
			regs.Rip, regs.Rsp = th.bypassRip, th.bypassRsp
			th.restart.rip, th.restart.rsp = th.bypassRip, th.bypassRsp
			if err := unix.PtraceSetRegs(th.tid, &regs); err != nil {
				return ignoreGone(err)
			}
			// A handler, if one runs, changes that (signal.go).
			th.interrupted = &bypassInterrupt{code: uint64(-int64(regs.Rax)), nr: th.nr,
				rip: th.bypassRip, rsp: th.bypassRsp, retAddr: retAddr}
		}
	case th.nr == unix.SYS_RT_SIGRETURN:
		if err := r.restartAfterHandler(th, &regs); err != nil {
			return err
		}
	case isErrorResult(regs.Rax) && th.nr < cblock.NrMax:
		cb, err := r.shard(th)
		if err != nil {
			return err
		}
		cb.Errors[th.nr]++
		if regs.Rax == negErrno(unix.EINTR) {
			th.noteEINTR(&regs, th.bypassRip, th.bypassRsp)
		}
	}
	return r.resume(th.tid, 0)
}

// execStop is a tracee's successful exec: the new image gets the
// synthetic vDSO before its first instruction.
func (r *tracer) execStop(th *tracedThread) error {
	tid := th.tid
	if msg, err := unix.PtraceGetEventMsg(tid); err == nil && int(msg) != tid {
		// A non-leader thread exec'd and took over the leader's tid.
		if old := r.threads[int(msg)]; old != nil {
			delete(r.threads, int(msg))
			old.tid = tid
			r.threads[tid] = old
			th = old
		}
	}
	p := th.proc
	if p.pid == r.root && !p.guest {
		r.started = true
	}
	p.guest = true
	p.handlers = resetHandlersAtExec(p.handlers)
	r.traceExit(th, 0) // its exit stop is not waited for: execve returned 0
	th.inSyscall, th.restart, th.bypassRip = false, restartPoint{}, 0
	th.eintr, th.reissue = nil, false

	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", tid))
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", tid))
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	r.log(coverage.Event{Ev: coverage.EvExec, Pid: p.pid, Path: exe, Argv: argv, Interp: loader.Interp(exe)})
	r.logMaps(p, tid)

	if !runnableAt(tid) {
		// The first instruction cannot be fetched (an entry point in no
		// executable mapping): natively the program dies by SIGSEGV
		// before it runs anything, and so it does here, with nothing
		// injected — the injection runs its calls at that very address.
		return r.resume(tid, 0)
	}
	base, err := injectVDSO(tid, r.im, r.layout.size)
	var gone *traceeGoneError
	if errors.As(err, &gone) {
		r.ended(gone.Tid, gone.WS)
		return nil
	}
	if err != nil {
		return err
	}
	p.vdso = base
	r.log(coverage.Event{Ev: coverage.EvMap, Pid: p.pid, Start: coverage.Hex(base),
		End: coverage.Hex(base + r.layout.size), Path: "[vdso]", Prot: "r-x"})
	return r.resume(tid, 0)
}

// runnableAt tells whether tid's next instruction lies in an executable
// mapping other than the kernel's vDSO (which the injection unmaps).
func runnableAt(tid int) bool {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(tid, &regs) != nil {
		return false
	}
	maps, err := procmaps.Read(tid)
	if err != nil {
		return false
	}
	for _, m := range maps {
		if m.Start <= regs.Rip && regs.Rip < m.End {
			return m.Exec && m.Path != "[vdso]"
		}
	}
	return false
}

// forkStop is a clone, fork or vfork event of th: the child is announced
// here and stops on its own (in either order).
func (r *tracer) forkStop(th *tracedThread) error {
	msg, err := unix.PtraceGetEventMsg(th.tid)
	if err == nil && r.threads[int(msg)] == nil {
		r.expected[int(msg)] = th.proc
	}
	return r.resumeThread(th)
}

// born is the first stop (SIGSTOP) of an auto-attached new tracee. Its
// parent comes from the fork event when that came first, else from /proc.
func (r *tracer) born(tid int) error {
	parent := r.expected[tid]
	delete(r.expected, tid)
	tgid, ppid := procIDs(tid)
	if tgid == 0 {
		return r.resume(tid, 0) // vanished
	}
	if parent == nil {
		parent = r.procs[tgid]
		if parent == nil {
			parent = r.procs[ppid]
		}
	}
	if p := r.procs[tgid]; p != nil {
		r.threads[tid] = &tracedThread{tid: tid, proc: p}
	} else {
		p := &tracedProcess{pid: tgid}
		if parent != nil {
			// fork copies the address space, injected vDSO included.
			p.parent, p.guest, p.vdso = parent.pid, parent.guest, parent.vdso
			p.noNewPrivs = parent.noNewPrivs
			p.handlers = map[uint64]sigDisposition{}
			for sig, d := range parent.handlers {
				p.handlers[sig] = d
			}
		}
		r.procs[tgid] = p
		r.threads[tid] = &tracedThread{tid: tid, proc: p}
		if p.guest {
			r.log(coverage.Event{Ev: coverage.EvFork, Pid: p.pid, Parent: p.parent})
		}
	}
	return r.resume(tid, 0) // swallow the attach SIGSTOP
}

// ended is the end of tracee tid; a thread-group leader's end is its
// process's.
func (r *tracer) ended(tid int, ws unix.WaitStatus) {
	th := r.threads[tid]
	delete(r.threads, tid)
	delete(r.expected, tid)
	delete(r.held, tid)
	if th != nil {
		r.endProcOpen(th, nil)
	}
	if th != nil && th.proc.pid != tid {
		// The leader keeps its block: recordExit writes the exit there.
		if cb := r.shards[tid]; cb != nil {
			delete(r.shards, tid)
			th.proc.free = append(th.proc.free, cb)
		}
	}
	if th == nil || th.proc.pid != tid {
		return
	}
	p := th.proc
	delete(r.procs, p.pid)
	if p.guest {
		r.traceEnd(p.pid, ws)
	}
	if p.guest {
		ev := coverage.Event{Ev: coverage.EvExit, Pid: p.pid, Code: ws.ExitStatus()}
		if ws.Signaled() {
			ev.Code, ev.Signal = 0, coverage.SignalName(syscall.Signal(ws.Signal()))
		}
		r.log(ev)
	}
	if p.pid == r.root {
		r.rootWS, r.rootDone = ws, true
		if p.guest {
			r.recordExit(p, ws)
		}
	}
}

// recordExit writes the first process's end into its leader's shard, as
// the in-process platform does: the report takes the fault address and
// instruction from there.
func (r *tracer) recordExit(p *tracedProcess, ws unix.WaitStatus) {
	cb, err := r.shard(&tracedThread{tid: p.pid, proc: p})
	if err != nil {
		return
	}
	e := cblock.Exit{Done: 1, Code: int32(ws.ExitStatus()), SitesDropped: cb.Exit.SitesDropped}
	if ws.Signaled() {
		e.Code, e.Signal = 0, int32(ws.Signal())
		if p.fault.sig == ws.Signal() {
			e.FaultAddr, e.FaultRip = p.fault.addr, p.fault.rip
		}
	}
	cb.Exit = e
}

// shard is th's control block, given at its first counted call: the
// block of an exited thread of its process when there is one, else a new
// shard file.
func (r *tracer) shard(th *tracedThread) (*cblock.ControlBlock, error) {
	if cb := r.shards[th.tid]; cb != nil {
		cb.Pid = uint32(th.proc.pid) // a reused tid counts on in its file
		return cb, nil
	}
	p := th.proc
	var cb *cblock.ControlBlock
	if n := len(p.free); n > 0 {
		cb, p.free = p.free[n-1], p.free[:n-1]
		cblock.Reset(cb)
	} else {
		var unmap func() error
		var err error
		if cb, unmap, err = rundir.CreateShard(r.dir, th.tid); err != nil {
			return nil, err
		}
		r.unmaps = append(r.unmaps, unmap)
	}
	cb.Tid, cb.Pid, cb.TrapMode = uint64(th.tid), uint32(p.pid), cblock.TrapSeccomp
	r.shards[th.tid] = cb
	return cb, nil
}

// logMaps records the executable file mappings of tid's process, so that
// call sites in libraries loaded after the exec can be placed.
func (r *tracer) logMaps(p *tracedProcess, tid int) {
	if !p.guest {
		return
	}
	maps, err := procmaps.Read(tid)
	if err != nil {
		return
	}
	for _, ev := range procmaps.Events(maps) {
		ev.Pid = p.pid
		r.log(ev)
	}
}

func (r *tracer) log(ev coverage.Event) {
	b, err := json.Marshal(ev)
	if err == nil {
		r.events.Write(append(b, '\n'))
	}
}

// resume continues tid with signal sig. A tracee that vanished (killed by
// SIGKILL, its process exec'd) is no error: its end is still to come.
func (r *tracer) resume(tid, sig int) error {
	return ignoreGone(unix.PtraceCont(tid, sig))
}

// resumeThread continues th from an event stop inside a syscall, keeping
// the stop at that syscall's exit.
func (r *tracer) resumeThread(th *tracedThread) error {
	if th.inSyscall {
		return ignoreGone(unix.PtraceSyscall(th.tid, 0))
	}
	return r.resume(th.tid, 0)
}

func ignoreGone(err error) error {
	if err == nil || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return fmt.Errorf("ptrace: %w", err)
}

// killAll kills every traced process and waits for them all.
func (r *tracer) killAll() {
	unix.Kill(r.root, unix.SIGKILL)
	for pid := range r.procs {
		unix.Kill(pid, unix.SIGKILL)
	}
	var ws unix.WaitStatus
	for {
		tid, err := wait4(-1, &ws)
		if err != nil {
			return
		}
		// A dying tracee still stops at PTRACE_EVENT_EXIT.
		if ws.Stopped() {
			unix.PtraceCont(tid, 0)
		}
	}
}

// wait4 waits for pid (-1: any) and every kind of child (__WALL: traced
// threads are not children in the wait sense), retrying EINTR.
func wait4(pid int, ws *unix.WaitStatus) (int, error) {
	for {
		got, err := unix.Wait4(pid, ws, unix.WALL, nil)
		if err != unix.EINTR {
			return got, err
		}
	}
}

// procIDs reads the thread group and parent of tid from /proc; 0, 0 when
// it is gone.
func procIDs(tid int) (tgid, ppid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, 0
	}
	return parseStatusIDs(string(b))
}

// parseStatusIDs takes Tgid and PPid out of a /proc/PID/status text.
func parseStatusIDs(status string) (tgid, ppid int) {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch k {
		case "Tgid":
			tgid = n
		case "PPid":
			ppid = n
		}
	}
	return tgid, ppid
}

// tgidOf is tid's thread group, tid itself when unknown.
func tgidOf(tid int) int {
	if tgid, _ := procIDs(tid); tgid != 0 {
		return tgid
	}
	return tid
}
