package kernelsim

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// siginfo is the 128-byte siginfo_t a guest handler receives.
type siginfo [128]byte

// si_code values.
const (
	siUser   = 0
	siKernel = 0x80
	siTkill  = -6
	siTimer  = -2
)

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// userInfo is the siginfo of kill/tgkill from the guest itself.
func userInfo(sig int, code int32) siginfo {
	var si siginfo
	put32(si[0:], uint32(sig))
	put32(si[8:], uint32(code))
	put32(si[16:], uint32(pid))
	put32(si[20:], uint32(os.Getuid()))
	return si
}

// faultInfo is the siginfo of a synchronous fault.
func faultInfo(sig int, code int32, addr uint64) siginfo {
	var si siginfo
	put32(si[0:], uint32(sig))
	put32(si[8:], uint32(code))
	put64(si[16:], addr)
	return si
}

// pendingSet is a set of pending signals with their siginfo: standard
// signals coalesce, real-time ones (32 and up) queue.
type pendingSet struct {
	mask  uint64
	infos map[int][]siginfo
}

func bit(sig int) uint64 { return 1 << (sig - 1) }

func (ps *pendingSet) add(sig int, si siginfo) {
	if ps.infos == nil {
		ps.infos = map[int][]siginfo{}
	}
	if isTimerInfo(si) {
		// A POSIX timer has one signal: while it is pending, expiries
		// add to its overrun (Linux's preallocated sigqueue).
		for i, old := range ps.infos[sig] {
			if isTimerInfo(old) && le32(old[16:]) == le32(si[16:]) {
				o := int64(int32(le32(old[20:]))) + 1 + int64(int32(le32(si[20:])))
				put32(ps.infos[sig][i][20:], uint32(min(o, 1<<31-1)))
				return
			}
		}
	}
	if sig < 32 && ps.mask&bit(sig) != 0 {
		return
	}
	ps.infos[sig] = append(ps.infos[sig], si)
	ps.mask |= bit(sig)
}

func isTimerInfo(si siginfo) bool { return int32(le32(si[8:])) == siTimer }

// threadTimers: the POSIX timers made with SIGEV_THREAD_ID, whose signal
// is for one thread (sysTimerCreate).
var threadTimers sync.Map // timer id (int32) → true

func isThreadTimer(si siginfo) bool {
	_, ok := threadTimers.Load(int32(le32(si[16:])))
	return ok
}

// timerOverruns: each POSIX timer's overrun as of its signal's last
// dequeue, which timer_getoverrun answers (Linux's it_overrun_last).
var timerOverruns sync.Map // timer id (int32) → overrun (int64)

func (ps *pendingSet) take(sig int) siginfo {
	q := ps.infos[sig]
	si := q[0]
	if isTimerInfo(si) {
		timerOverruns.Store(int32(le32(si[16:])), int64(int32(le32(si[20:]))))
	}
	if len(q) == 1 {
		delete(ps.infos, sig)
		ps.mask &^= bit(sig)
	} else {
		ps.infos[sig] = q[1:]
	}
	return si
}

// drop forgets every pending instance of sig.
func (ps *pendingSet) drop(sig int) {
	delete(ps.infos, sig)
	ps.mask &^= bit(sig)
}

// lowest returns the lowest-numbered signal in mask, synchronous ones
// first as Linux does, or 0.
func lowest(mask uint64) int {
	for _, s := range []int{int(unix.SIGSEGV), int(unix.SIGBUS), int(unix.SIGILL), int(unix.SIGTRAP), int(unix.SIGFPE), int(unix.SIGSYS)} {
		if mask&bit(s) != 0 {
			return s
		}
	}
	for s := 1; s <= nsig; s++ {
		if mask&bit(s) != 0 {
			return s
		}
	}
	return 0
}

// Default actions (signal(7)).
type defaultAction int

const (
	actTerm defaultAction = iota
	actIgnore
	actStop
	actCont
)

func defaultOf(sig int) defaultAction {
	switch unix.Signal(sig) {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return actIgnore
	case unix.SIGCONT:
		return actCont
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return actStop
	}
	return actTerm
}

// discards: a signal sent to t (the main thread for a process-directed
// one) is dropped at once. An ignored signal is, unless t blocks it: the
// disposition may change before it is unblocked (Linux's sig_ignored).
func (p *Process) discards(sig int, t *Task) bool {
	return p.ignored(sig) && (t == nil || t.sigmask&bit(sig) == 0)
}

func (p *Process) ignored(sig int) bool {
	h := p.sig.actions[sig].handler
	return h == sigIgn || (h == sigDfl && (defaultOf(sig) == actIgnore || defaultOf(sig) == actCont))
}

// mainTask is the thread whose mask decides for a process-directed signal
// (caller holds p.mu): the main thread, else any.
func (p *Process) mainTask() *Task {
	var any *Task
	for _, t := range p.tasks {
		if int(t.CB.Tid) == pid {
			return t
		}
		any = t
	}
	return any
}

func (p *Process) taskByTid(tid int) *Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tasks {
		if int(t.CB.Tid) == tid {
			return t
		}
	}
	return nil
}

// send queues sig for the process (target nil) or one thread, and makes a
// thread that can take it look at it: from is the sending guest thread
// (it checks on its own way back), nil for host signals.
func (p *Process) send(from, target *Task, sig int, si siginfo) {
	p.mu.Lock()
	p.flushOpposed(sig)
	to := target
	if to == nil {
		to = p.mainTask()
	}
	if p.discards(sig, to) {
		p.mu.Unlock()
		return
	}
	if target == nil {
		p.sig.pending.add(sig, si)
		p.wakeSigwaiters(sig)
		target = p.pickThread(sig, from)
	} else {
		target.pending.add(sig, si)
	}
	p.armSignalfds()
	if target == nil {
		p.mu.Unlock()
		return // blocked everywhere: it waits for an unblock
	}
	atomic.StoreUint32(&target.CB.SigPending, 1)
	// The tid while the task is surely alive: once it exits, its block
	// (and Tid) may be another new thread's.
	tid := int(target.CB.Tid)
	p.mu.Unlock()
	select {
	case target.wake <- struct{}{}:
	default:
	}
	if target != from {
		kick(tid)
	}
}

// flushOpposed is Linux's prepare_signal for job control, whatever the
// dispositions: a SIGCONT discards the pending stop signals, a stop
// signal a pending SIGCONT. A stop that arrives twice (Ctrl-Z reaches the
// host process directly and through the supervisor) thus cannot stop the
// guest again after the `fg`. p.mu is held.
func (p *Process) flushOpposed(sig int) {
	var drop []int
	switch defaultOf(sig) {
	case actCont:
		drop = []int{int(unix.SIGSTOP), int(unix.SIGTSTP), int(unix.SIGTTIN), int(unix.SIGTTOU)}
	case actStop:
		drop = []int{int(unix.SIGCONT)}
	}
	for _, s := range drop {
		p.sig.pending.drop(s)
		p.eachTask(func(t *Task) { t.pending.drop(s) })
	}
}

// pickThread chooses the thread that takes a process-directed signal, as
// Linux's complete_signal does: the main thread if it does not block it
// (programs rely on that: Python runs its handlers there and expects its
// blocking waits to be interrupted), else the sender, else any thread that
// does not block it (lowest tid, so the choice is stable).
func (p *Process) pickThread(sig int, from *Task) *Task {
	var best *Task
	for _, t := range p.tasks {
		if t.sigmask&bit(sig) != 0 {
			continue
		}
		switch {
		case int(t.CB.Tid) == pid:
			return t
		case t == from:
			best = t
		case best == nil || best != from && t.CB.Tid < best.CB.Tid:
			best = t
		}
	}
	return best
}

// absorbHostSignals moves the host signals tls's relay handler recorded on
// this thread into the guest's queues (caller holds p.mu). The kernel put
// a process-directed signal on whichever host thread it chose: it goes to
// the process's queue, for the thread pickThread chooses, so that it
// survives this thread's exit. A tgkill from outside is this thread's own,
// and so is the signal of a timer made with SIGEV_THREAD_ID (musl's
// SIGEV_THREAD timers wait for theirs with sigwaitinfo; timer_create
// records which timers those are).
func (t *Task) absorbHostSignals() {
	if atomic.LoadUint64(&t.CB.HostSig) == 0 && t.timerHeld == 0 {
		return
	}
	// The relay handler runs on this thread (the one whose block it
	// writes): held off while the bits and their siginfo are taken, so
	// that a timer's overrun it adds to a pending record is not lost.
	old, _ := t.P.plat.ThreadMask(unix.SIG_BLOCK, ^uint64(0)&^hostKept)
	bits := atomic.SwapUint64(&t.CB.HostSig, 0)
	var infos [nsig]siginfo
	for sig := 1; sig <= nsig; sig++ {
		if bits&bit(sig) != 0 {
			infos[sig-1] = siginfo(t.CB.HostInfo[sig-1])
		}
	}
	// The relay kept each real-time signal it recorded blocked until now
	// (tls/entry.c): the next one queued may come — but for a POSIX
	// timer's signal the guest blocks. That one stays blocked on the host
	// thread (timerHeld), where the kernel keeps it pending and counts its
	// expiries as overrun, as Linux does for the guest; each absorb takes
	// the kernel's copy (pullHeld) into the guest's queue, which merges
	// it. Unblocked, a fast timer interrupted the thread at every expiry
	// (a 10 µs timer: 30,000 host signals in a 0.3 s sleep, which under
	// load never ended).
	prev := t.timerHeld
	for sig := 32; sig <= nsig; sig++ {
		if bits&bit(sig) != 0 && isTimerInfo(infos[sig-1]) {
			t.timerHeld |= bit(sig)
		}
	}
	pulled := pullHeld(t.timerHeld)
	t.timerHeld &= t.sigmask
	if t.offGuest {
		// Off the guest for good: the relayed signals stay blocked, as on
		// all Go's threads (handOnHostSignals), none unblocked for a next.
		t.P.plat.ThreadMask(unix.SIG_SETMASK, old)
	} else {
		t.P.plat.ThreadMask(unix.SIG_SETMASK, old&^(bits&rtSignals|prev)|t.timerHeld)
	}
	// A stop signal and a SIGCONT recorded together: the stop came later
	// (a SIGCONT that came after a stop cleared it as it was recorded,
	// tls/entry.c), so the SIGCONT is taken first and the stop stands.
	order := make([]heldSignal, 0, 8)
	if bits&bit(int(unix.SIGCONT)) != 0 {
		order = append(order, heldSignal{int(unix.SIGCONT), infos[unix.SIGCONT-1]})
	}
	for sig := 1; sig <= nsig; sig++ {
		if bits&bit(sig) != 0 && sig != int(unix.SIGCONT) {
			order = append(order, heldSignal{sig, infos[sig-1]})
		}
	}
	order = append(order, pulled...) // after the records: they came later
	for _, h := range order {
		sig := h.sig
		// The siginfo the kernel gave the host: sender, timer value.
		si, second := fromOutside(sig, h.si)
		if second {
			continue // one signal to the group, directly and forwarded
		}
		code := int32(le32(si[8:]))
		thread := (code == siTkill || code == siTimer && isThreadTimer(si)) && t.guest.ownsThreads()
		// Linux's prepare_signal, for a signal the relay took as for one
		// sent through os/signal or by the guest (send).
		t.P.flushOpposed(sig)
		if sig == int(unix.SIGCONT) {
			continuedNotice()
		}
		switch {
		case t.P.discards(sig, t):
		case thread:
			t.pending.add(sig, si)
		default:
			// A vfork child's signals were sent to its parent's host
			// process: the parent's too.
			t.P.sig.pending.add(sig, si)
			t.P.wakeSigwaiters(sig)
			if o := t.P.pickThread(sig, nil); o != nil && o != t {
				t.P.kickLocked(o)
			}
		}
	}
	t.P.armSignalfds()
}

// heldSignal is a signal pullHeld took from the host kernel's queues.
type heldSignal struct {
	sig int
	si  siginfo
}

// pullHeld takes, without waiting, what the host kernel keeps pending for
// this thread (its own queue, then the process's) of the signals in set:
// the timer signals the relay left blocked (absorbHostSignals).
func pullHeld(set uint64) []heldSignal {
	if set == 0 {
		return nil
	}
	var out []heldSignal
	// The call has the addresses only (hostCall).
	var pin runtime.Pinner
	defer pin.Unpin()
	arg := new(struct {
		set  uint64
		zero unix.Timespec
		si   siginfo
	})
	pin.Pin(arg)
	arg.set = set
	for range 64 { // bounded: a sender faster than this loop waits for the next absorb
		arg.si = siginfo{}
		r, e := hostCall(unix.SYS_RT_SIGTIMEDWAIT, uint64(uintptr(unsafe.Pointer(&arg.set))), uint64(uintptr(unsafe.Pointer(&arg.si))), uint64(uintptr(unsafe.Pointer(&arg.zero))), 8)
		if e != 0 || r == 0 || r > nsig {
			break
		}
		out = append(out, heldSignal{int(r), arg.si})
	}
	return out
}

// rtSignals are the real-time signals, 32 to 64.
const rtSignals = uint64(0xffffffff80000000)

// wakeSigwaiters wakes the threads waiting in rt_sigtimedwait for sig,
// just queued for the process (caller holds p.mu): pickThread passes
// over a thread that blocks it, and their 10 ms look made every signal
// that all threads block wait 5 ms on average (sigroute: 3 s for 500).
func (p *Process) wakeSigwaiters(sig int) {
	for _, o := range p.tasks {
		if o.sigwaitSet&bit(sig) != 0 {
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}
	}
}

// kickLocked makes thread o look at its queues (caller holds p.mu, so o
// has not exited and its block is its own).
func (p *Process) kickLocked(o *Task) {
	atomic.StoreUint32(&o.CB.SigPending, 1)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	kick(int(o.CB.Tid))
}

// retarget runs as thread t leaves (caller holds p.mu, t no longer among
// p.tasks): what the relay recorded on t, and a process-directed signal
// t was chosen for, goes to a thread that remains (Linux's
// retarget_shared_pending).
func (p *Process) retarget(t *Task) {
	t.absorbHostSignals()
	if p.relayTid == unix.Gettid() {
		for _, o := range p.tasks {
			if o.CB.Tid != 0 {
				p.relayTid = int(o.CB.Tid)
				entry.SetRelayTid(p.relayTid)
				break
			}
		}
	}
	for sig := 1; sig <= nsig; sig++ {
		if p.sig.pending.mask&bit(sig) == 0 {
			continue
		}
		if o := p.pickThread(sig, nil); o != nil {
			p.kickLocked(o)
		}
	}
}

// dequeue takes the next deliverable signal of t (thread queue first).
func (t *Task) dequeue(allowed uint64) (int, siginfo, bool) {
	p := t.P
	p.mu.Lock()
	defer p.mu.Unlock()
	t.absorbHostSignals()
	if sig := lowest(t.pending.mask & allowed); sig != 0 {
		si := t.pending.take(sig)
		p.armSignalfds()
		return sig, si, true
	}
	if sig := lowest(t.shared.mask & allowed); sig != 0 {
		si := t.shared.take(sig)
		p.armSignalfds()
		return sig, si, true
	}
	atomic.StoreUint32(&t.CB.SigPending, 0)
	return 0, siginfo{}, false
}

// takeCFault moves a signal the C handlers recorded (SIGPIPE for a
// handler) into the thread's queue.
func (t *Task) takeCFault() {
	cb := t.CB
	if cb.FaultSig == int32(unix.SIGPIPE) {
		t.P.mu.Lock()
		t.pending.add(int(unix.SIGPIPE), userInfo(int(unix.SIGPIPE), siUser))
		t.P.mu.Unlock()
		cb.FaultSig = 0
	}
}

// noRestart: calls Linux never restarts after a handler ran (they return
// -ERESTARTNOHAND or -ERESTART_RESTARTBLOCK).
var noRestart = map[int]bool{
	unix.SYS_NANOSLEEP: true, unix.SYS_CLOCK_NANOSLEEP: true, unix.SYS_PAUSE: true,
	unix.SYS_RT_SIGSUSPEND: true, unix.SYS_POLL: true, unix.SYS_PPOLL: true,
	unix.SYS_SELECT: true, unix.SYS_PSELECT6: true, unix.SYS_EPOLL_WAIT: true,
	unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true, unix.SYS_RT_SIGTIMEDWAIT: true,
	unix.SYS_IO_GETEVENTS: true, unix.SYS_SEMTIMEDOP: true,
}

// afterSyscall runs on the way back from syscall nr with result ret:
// deliver a pending signal (building the handler's frame over the context
// the syscall returns to, restarted when SA_RESTART says so), or redo a
// call a kick interrupted with nothing left to deliver.
func (t *Task) afterSyscall(cb *cblock.ControlBlock, nr int, a *Args, ret int64) int64 {
	t.takeCFault()
	for {
		sig, si, ok := t.dequeue(^t.sigmask)
		if !ok {
			// An EINTR --inject answered is the guest's result, not a
			// host interruption to hide (tamper.go).
			if ret != -int64(unix.EINTR) || t.injectedReturn {
				return ret
			}
			if t.hasSavedMask && isPwait(nr) {
				// sysPwait saw a signal its temporary mask lets through,
				// and another thread took it: back to the original mask.
				t.sigmask, t.hasSavedMask = t.savedMask, false
				return ret
			}
			// A host signal (the kick, a signal relayed for the guest, a
			// signal the guest ignores or blocks) interrupted the call and
			// nothing runs a handler: on Linux it was never interrupted.
			// Restart it, timed calls with what is left of their timeout.
			switch r, timed := t.restartTimed(nr, a, cb.CallStart, callReq(cb)); {
			case timed:
				ret = r
			case nr == unix.SYS_PAUSE || nr == unix.SYS_RT_SIGSUSPEND:
				// ERESTARTNOHAND: with no handler to run (a stop and
				// its SIGCONT, a signal ignored by default) Linux
				// issues them again, under the thread's own mask.
				if t.hasSavedMask {
					t.sigmask, t.hasSavedMask = t.savedMask, false
				}
				ret = t.syscall(nr, a)
			case noRestart[nr]:
				return ret // none left: not restarted here
			default:
				ret = passthrough(nr, a)
			}
			if ret == -int64(unix.EINTR) {
				continue
			}
			return ret
		}
		act := t.action(sig)
		if act.handler == sigDfl || act.handler == sigIgn {
			t.defaultAction(sig)
			continue
		}
		restart := ret == -int64(unix.EINTR) && act.flags&saRestart != 0 && !noRestart[nr] && !t.injectedReturn
		ctx, br, err := t.returnContext(cb, nr, a, ret, restart)
		if err == nil {
			err = t.setupFrame(cb, sig, si, act, ctx)
		}
		if err == nil && br != nil {
			br.frame = cb.Trap.Rsp + ucOff // setupFrame pointed rsp at the frame
			t.noteRestart(br)
		}
		if err != nil {
			t.dieBy(int(unix.SIGSEGV))
		}
		if !restart {
			// The frame carries the call's result: the one the guest
			// sees when its handler returns. (The C entry counts those
			// it returns itself; this one never gets back there.)
			countError(cb, nr, ret)
		}
		return ret
	}
}

// interrupted runs when a kick or a guest-handled fault stopped the thread
// at an arbitrary instruction: cb.Trap is the context to resume.
func (t *Task) interrupted(cb *cblock.ControlBlock) {
	if sig := int(cb.FaultSig); sig != 0 && sig != int(unix.SIGPIPE) {
		si := faultInfo(sig, cb.FaultCode, cb.FaultAddr)
		cb.FaultSig = 0
		act := t.action(sig)
		// A fault that is blocked or ignored kills, as force_sig does.
		if act.handler == sigDfl || act.handler == sigIgn || t.sigmask&bit(sig) != 0 {
			t.dieBy(sig)
		}
		if err := t.setupFrame(cb, sig, si, act, cb.Trap); err != nil {
			t.dieBy(int(unix.SIGSEGV))
		}
		return
	}
	t.takeCFault()
	t.deliverAt(cb, cb.Trap)
}

// deliverAt delivers the next deliverable signal over context ctx, if any.
func (t *Task) deliverAt(cb *cblock.ControlBlock, ctx cblock.Regs) {
	for {
		sig, si, ok := t.dequeue(^t.sigmask)
		if !ok {
			return
		}
		act := t.action(sig)
		if act.handler == sigDfl || act.handler == sigIgn {
			t.defaultAction(sig)
			continue
		}
		if err := t.setupFrame(cb, sig, si, act, ctx); err != nil {
			t.dieBy(int(unix.SIGSEGV))
		}
		return
	}
}

// action is sig's disposition for t's process.
func (t *Task) action(sig int) sigaction {
	t.P.mu.Lock()
	defer t.P.mu.Unlock()
	return t.actions[sig]
}

// defaultAction applies sig's default action (the handler is SIG_DFL, or
// SIG_IGN for a signal queued before it was ignored).
func (t *Task) defaultAction(sig int) {
	if t.action(sig).handler == sigIgn {
		return
	}
	switch defaultOf(sig) {
	case actIgnore, actCont:
	case actStop:
		if t.host.Stop(sig) {
			// Continued: the SIGCONT discarded the stops pending then
			// (its relay record may still be on another thread).
			t.P.mu.Lock()
			t.P.flushOpposed(int(unix.SIGCONT))
			t.P.mu.Unlock()
		}
	default:
		t.dieBy(sig)
	}
}

// dieBy ends the guest process by signal sig, as its default action: the
// exit is recorded first, then the host process dies by the same signal.
func (t *Task) dieBy(sig int) {
	t.traceEnd(0, sig)
	t.host.Die(sig, func() {
		cb := t.CB
		cb.Exit.Signal = int32(sig)
		cb.Exit.Done = 1
		if t.P.Events != nil {
			t.P.Events.Exit(0, unix.Signal(sig))
		}
		t.P.runOnExit()
	})
	t.leaveForOtherProcess()
}

// returnContext is where the guest continues after syscall nr: the trap
// path's saved registers with Linux's syscall results, or for a bypass
// call the caller's return address with the callee-saved registers the
// entry recorded. restart points a raw syscall back at its instruction,
// as Linux does. A bypass call is reported interrupted at its return
// address with -EINTR even when it will restart — that is the point a
// libc's cancellation handler recognises (musl checks the interrupted pc
// against __cp_begin/__cp_end) — and restarts at rt_sigreturn if the
// handler left that context as it was (see bypassRestart).
func (t *Task) returnContext(cb *cblock.ControlBlock, nr int, a *Args, ret int64, restart bool) (cblock.Regs, *bypassRestart, error) {
	if cb.Kind == cblock.KindTrap || cb.Kind == cblock.KindPatched { // a patched call resumes as a trap
		ctx := cb.Trap
		ctx.Rax, ctx.Rcx, ctx.R11 = uint64(ret), ctx.Rip, ctx.Rflags
		if !restart {
			return ctx, nil, nil
		}
		ctx.Rip -= 2
		ctx.Rax = uint64(nr)
		return ctx, &bypassRestart{again: true, retAddr: ctx.Rip, guestSP: ctx.Rsp}, nil
	}
	retAddr, err := readU64(cb.GuestSP)
	if err != nil {
		return cblock.Regs{}, nil, err
	}
	tr := cb.Trap
	ctx := cblock.Regs{Rbx: tr.Rbx, Rbp: tr.Rbp, R12: tr.R12, R13: tr.R13, R14: tr.R14, R15: tr.R15,
		Rax: uint64(ret), Rip: retAddr, Rsp: cb.GuestSP + 8, Rflags: 0x202}
	if !restart {
		return ctx, nil, nil
	}
	return ctx, &bypassRestart{nr: nr, args: *a, guestSP: cb.GuestSP, retAddr: retAddr}, nil
}

// bypassRestart is a bypass call to re-issue when the handler returns to
// the context it interrupted — or, again, a call whose context already
// issues it again (a raw syscall rewound onto its `syscall`, a restarted
// call a later signal interrupted before it entered).
type bypassRestart struct {
	frame   uint64 // the frame's ucontext, as rt_sigreturn finds it
	nr      int
	args    Args
	guestSP uint64 // the call's stack: return address, then a6 (again: rsp)
	retAddr uint64 // again: rip
	again   bool
}

// apply turns the restored context into the call again: __kernel_vsyscall
// re-entered with the original arguments, its return address and seventh
// argument still on the guest's stack. true: the thread resumes on the
// interrupted call, which the entry must not count a second time.
func (r *bypassRestart) apply(ctx *cblock.Regs) bool {
	if r.again {
		return ctx.Rip == r.retAddr && ctx.Rsp == r.guestSP
	}
	if ctx.Rip != r.retAddr || ctx.Rsp != r.guestSP+8 || int64(ctx.Rax) != -int64(unix.EINTR) {
		return false // the handler went elsewhere (a cancellation, a longjmp)
	}
	ctx.Rip, ctx.Rsp = uint64(entry.BypassEntry()), r.guestSP
	ctx.Rdi, ctx.Rsi, ctx.Rdx, ctx.Rcx, ctx.R8, ctx.R9 = uint64(r.nr), r.args[0], r.args[1], r.args[2], r.args[3], r.args[4]
	return true
}

// maxRestarts bounds t.restarts: the record of a handler that leaves by
// longjmp is dropped only by a later rt_sigreturn from a frame above it,
// and a program that always leaves its handlers so never makes one.
const maxRestarts = 64

// noteRestart records r for its frame's rt_sigreturn, the oldest record
// making room.
func (t *Task) noteRestart(r *bypassRestart) {
	if len(t.restarts) >= maxRestarts {
		t.restarts = append(t.restarts[:0], t.restarts[len(t.restarts)-maxRestarts+1:]...)
	}
	t.restarts = append(t.restarts, r)
}

// countError counts call nr's result ret when it is an error, as the C
// entry's count_result does for the calls it returns.
func countError(cb *cblock.ControlBlock, nr int, ret int64) {
	if ret >= -4095 && ret <= -1 && nr >= 0 && nr < cblock.NrMax {
		cb.Errors[nr]++
	}
}

// waitSignal blocks the calling guest thread until a signal in allowed is
// queued for it or its process; a kick ends the host wait early too.
func (t *Task) waitSignal(allowed uint64) {
	// A host signal relayed to this thread lands in cb.HostSig while the
	// thread waits here in Go, where nothing can wake it: look every 10 ms.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		t.P.mu.Lock()
		t.absorbHostSignals()
		ready := (t.pending.mask|t.P.sig.pending.mask)&allowed != 0
		t.P.mu.Unlock()
		if ready {
			return
		}
		select {
		case <-t.wake:
		case <-tick.C:
		}
	}
}

func sysPause(t *Task, a *Args) int64 {
	t.waitSignal(^t.sigmask)
	return -int64(unix.EINTR)
}

// sysRtSigsuspend waits with a temporary mask; the handler's frame saves
// the original one, which rt_sigreturn then restores.
func sysRtSigsuspend(t *Task, a *Args) int64 {
	if a[1] != 8 {
		return -int64(unix.EINVAL)
	}
	m, err := readU64(a[0])
	if err != nil {
		return errnoOf(err)
	}
	old := t.sigmask
	t.sigmask = m &^ unblockable
	t.waitSignal(^t.sigmask)
	t.savedMask, t.hasSavedMask = old, true
	return -int64(unix.EINTR)
}

// sysRtSigtimedwait takes a signal from set (blocked ones included) without
// running a handler. A signal outside set that would run a handler or end
// the process interrupts it (EINTR; the delivery follows), as on Linux.
func sysRtSigtimedwait(t *Task, a *Args) int64 {
	if a[3] != 8 {
		return -int64(unix.EINVAL)
	}
	set, err := readU64(a[0])
	if err != nil {
		return errnoOf(err)
	}
	set &^= unblockable
	var timeout <-chan time.Time
	if a[2] != 0 {
		ts, err := readTimespec(a[2])
		if err != nil {
			return errnoOf(err)
		}
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return -int64(unix.EINVAL)
		}
		timer := time.NewTimer(time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec))
		defer timer.Stop()
		timeout = timer.C
	}
	// Woken for a signal of set queued for the process, which every
	// thread may block (wakeSigwaiters), as Linux's sigtimedwait takes
	// its set out of the mask while it waits. A host signal relayed to
	// this thread lands in cb.HostSig while it waits here in Go, where
	// nothing wakes it: look every 10 ms.
	t.P.mu.Lock()
	t.sigwaitSet = set
	t.P.mu.Unlock()
	defer func() {
		t.P.mu.Lock()
		t.sigwaitSet = 0
		t.P.mu.Unlock()
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if sig, si, ok := t.dequeue(set); ok {
			return t.sigwaitResult(sig, si, a[1])
		}
		if t.deliverableUnder(t.sigmask | set) { // a caught signal outside set
			return -int64(unix.EINTR)
		}
		select {
		case <-timeout:
			return -int64(unix.EAGAIN)
		case <-t.wake:
		case <-tick.C:
		}
	}
}

func (t *Task) sigwaitResult(sig int, si siginfo, infoAddr uint64) int64 {
	if infoAddr != 0 {
		if err := writeGuest(infoAddr, si[:]); err != nil {
			return errnoOf(err)
		}
	}
	return int64(sig)
}

// hostSignals are the signals the host process can receive from outside
// (terminal, kill, timers) that belong to the guest. Go's own (SIGURG,
// SIGPROF), the trap's SIGSYS, glibc's internal 32 and 33 and the kick
// stay out. SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP are in: Go sends
// the ones another process sent with kill() here (a real fault in Go code
// still crashes the host, and a guest's is handled in tls's C handler).
// The real-time signals are out too: they never reach os/signal (tls's
// relay takes them on guest threads), and a signal os/signal has is
// unblocked on its thread, which would take them from the kernel's queue
// out of order (tls/inherit.c blocks them on every one of Go's threads).
// So are the job-control signals and the ones the supervisor forwards
// (cblock.RelayOnly), for their order and their siginfos.
func hostSignals() []os.Signal {
	var out []os.Signal
	for s := 1; s < 32; s++ {
		switch syscall.Signal(s) {
		case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGSYS, syscall.SIGURG, syscall.SIGPROF:
			continue
		}
		if cblock.RelayOnly(s) {
			continue // blocked on Go's threads: the relay takes them (tls/entry.h)
		}
		if s == 32 || s == 33 || s == cblock.KickSignal {
			continue
		}
		out = append(out, syscall.Signal(s))
	}
	return out
}

var (
	hostSignalsOnce sync.Once
	hostSignalCh    chan os.Signal
)

// CatchHostSignals starts taking the guest's host signals into a queue
// that ForwardHostSignals later hands to the guest: a host process calls
// it first thing, so that a signal sent while it starts (a fork child
// killed at once by its parent) waits for the guest's dispositions instead
// of meeting Go's (a SIGSEGV sent with kill() would crash the runtime
// with a goroutine dump).
//
// SIGCHLD waits for ForwardHostSignals: before the guest runs it cannot
// have children, and the host's own (the start-up probe) are not its.
func CatchHostSignals() chan os.Signal {
	hostSignalsOnce.Do(func() {
		hostSignalCh = make(chan os.Signal, 256)
		var early []os.Signal
		for _, s := range hostSignals() {
			if s != syscall.SIGCHLD {
				early = append(early, s)
			}
		}
		signal.Notify(hostSignalCh, early...)
	})
	return hostSignalCh
}

// ForwardHostSignals makes signals sent to the host process the guest's:
// queued process-directed, with the guest's disposition deciding (a
// default Ctrl-C kills the guest by SIGINT, as natively).
// forwardedUpTo: for each signal number, the count of Go's handler's
// (Entry.GoSignalsSeen) that ForwardHostSignals has put into the guest's
// queues.
var forwardedUpTo [nsig + 1]atomic.Uint64

// settleChildSignal runs after a wait collected a child. On Linux the
// SIGCHLD of its end is queued before the wait returns, so a handler runs
// on the way out of the wait; here the host's SIGCHLD goes through Go's
// handler and os/signal, and the wait could return first: a shell's
// handler then ran after its next wait4(WNOHANG), which made one more
// (busybox sh, found by diff-run). It waits, bounded, until what Go's
// handler has seen is in the guest's queue; only when the guest has a
// SIGCHLD handler (otherwise nothing shows when it comes).
func (t *Task) settleChildSignal() {
	const sig = int(unix.SIGCHLD)
	p := t.P
	p.mu.Lock()
	h := p.sig.actions[sig].handler
	p.mu.Unlock()
	if h == sigDfl || h == sigIgn {
		return
	}
	// Queued but not yet taken by the thread the kernel chose (which may
	// wait for a CPU): taken from the host kernel's queue now
	// (rt_sigpending would not say: it reports blocked signals only).
	for _, h := range pullHeld(bit(sig)) {
		if info, second := fromOutside(sig, h.si); !second {
			p.send(nil, nil, sig, info)
		}
	}
	target := entry.GoSignalsSeen(sig)
	for deadline := time.Now().Add(20 * time.Millisecond); forwardedUpTo[sig].Load() < target && time.Now().Before(deadline); {
		time.Sleep(20 * time.Microsecond)
	}
}

func (p *Process) ForwardHostSignals() {
	ch := CatchHostSignals()
	signal.Notify(ch, hostSignals()...)
	// It returns once the forwarder runs: the thread Go starts for a new
	// goroutine is cloned in the background (this thread is locked), and
	// the clone holds the process's mmap lock, against which the guest's
	// first page fault would wait (D in /proc/PID/stat where a native
	// process is R).
	started := make(chan struct{})
	go func() {
		close(started)
		for s := range ch {
			sig := int(s.(syscall.Signal))
			// os/signal merges what arrived before it was read: this one
			// stands for all Go's handler had seen by now.
			upTo := entry.GoSignalsSeen(sig)
			info := siginfo(entry.GoSiginfo(sig))
			if int(le32(info[0:])) != sig {
				info = userInfo(sig, siKernel) // arrived before tls's handlers
			}
			info, second := fromOutside(sig, info)
			if second {
				continue // one signal to the group, directly and forwarded
			}
			// A fatal default action ends the process, as Linux's
			// complete_signal does, when a thread does not block the
			// signal (blocked everywhere, it waits in the queue for a
			// sigwait or an unblock). The thread that takes it ends the
			// process at its next safe point, which the kick makes soon:
			// ended from here, the process could die between two counter
			// updates of a call on that thread. Should it not get there
			// (a host call the kick cannot interrupt), it ends from here.
			p.mu.Lock()
			dfl := p.sig.actions[sig].handler == sigDfl
			taker := p.pickThread(sig, nil)
			p.mu.Unlock()
			p.send(nil, nil, sig, info)
			if sig < len(forwardedUpTo) {
				forwardedUpTo[sig].Store(upTo)
			}
			if dfl && defaultOf(sig) == actTerm && taker != nil {
				go func(sig int) {
					time.Sleep(2 * time.Second)
					p.mu.Lock()
					still := p.pickThread(sig, nil)
					dflNow := p.sig.actions[sig].handler == sigDfl
					p.mu.Unlock()
					if still != nil && dflNow {
						still.dieBy(sig)
					}
				}(sig)
			}
		}
	}()
	<-started
}
