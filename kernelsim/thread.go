package kernelsim

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

const threadFlags = unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND

// clone starts a guest thread (ARCHITECTURE.md, "Threads"): the platform
// starts a host thread, which gets its own control block and shard and
// enters the guest
// at the syscall's return point with rax=0, the child stack, FS from
// CLONE_SETTLS and the parent's other registers. A clone from the bypass
// entry resumes at the caller's return address with the callee-saved
// registers the entry recorded.
func (t *Task) clone(flags, newsp, ptid, ctid, tlsv uint64) int64 {
	switch {
	case flags&unix.CLONE_THREAD == 0:
		// fork, vfork, posix_spawn's CLONE_VM|CLONE_VFORK: a new process.
		return t.fork(flags, newsp, ptid, ctid, tlsv)
	case flags&threadFlags != threadFlags:
		return -int64(unix.EINVAL)
	}
	if errno := t.P.nprocCheck(t.P.limitsCopy(), false); errno != 0 {
		return -int64(errno)
	}
	parent := t.CB
	regs := parent.Trap
	if parent.Kind == cblock.KindBypass {
		ret, err := readU64(parent.GuestSP)
		if err != nil {
			return errnoOf(err)
		}
		regs = cblock.Regs{
			Rbx: regs.Rbx, Rbp: regs.Rbp, R12: regs.R12, R13: regs.R13, R14: regs.R14, R15: regs.R15,
			Rsp: parent.GuestSP + 8, Rip: ret, Rflags: 0x202,
		}
	}
	regs.Rax = 0
	if newsp != 0 {
		regs.Rsp = newsp
	}
	fs := parent.GuestFS
	if flags&unix.CLONE_SETTLS != 0 {
		fs = tlsv
	}
	started := new(threadStart)
	name := threadName()
	t.P.plat.StartThread(func() { t.P.runThread(t, regs, fs, flags, ptid, ctid, name, started) })
	return started.wait()
}

// runThread is the life of one guest thread after the first, on the host
// thread the platform started for it.
func (p *Process) runThread(parent *Task, regs cblock.Regs, fs, flags, ptid, ctid uint64, name string, started *threadStart) {
	SetThreadName(name) // a new thread has its creator's name
	tid := unix.Gettid()
	cb, err := p.threadBlock(parent, regs, fs)
	if err != nil {
		started.send(-int64(unix.EAGAIN))
		return
	}
	t := p.NewTask(cb)
	// A thread that never ran is no thread: forget it, keep its block.
	abandon := func(errno int64) {
		p.mu.Lock()
		p.live--
		delete(p.tasks, cb)
		p.mu.Unlock()
		p.shards.Put(cb)
		started.send(errno)
	}
	t.sigmask = parent.sigmask
	if flags&unix.CLONE_CHILD_CLEARTID != 0 {
		t.tidAddress = ctid
	}
	// Both tid words are written before either thread runs on, as the
	// kernel does: musl's thread list lock relies on new->tid being set.
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		if err := writeU32(ptid, uint32(tid)); err != nil {
			abandon(errnoOf(err))
			return
		}
	}
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		writeU32(ctid, uint32(tid))
	}
	if t.enter(func() { started.send(int64(tid)) }) != nil {
		abandon(-int64(unix.EAGAIN))
	}
}

// Run runs the task's guest thread on the calling OS thread, which must
// be locked and stay so, until it leaves the guest; an exited thread's
// control block then goes back to the process for its next thread. An
// error means the trap could not be armed: the guest never ran.
func (t *Task) Run() error { return t.enter(nil) }

// enter is how every guest thread starts — the first, each new thread, a
// vfork child: the platform arms the trap on the calling host thread and
// runs the guest until it leaves, ready having told whoever waits that
// the thread is there (a fork child also tells its parent, which goes on
// only then). Then the thread has left (left).
func (t *Task) enter(ready func()) error {
	l := t.readyLink // a fork child's: the platform tells the parent
	t.readyLink = nil
	err := t.P.plat.Enter(t.CB, func() {
		if ready != nil {
			ready()
		}
	}, l)
	if err != nil {
		return err
	}
	t.left()
	return nil
}

// left ends a thread that has left the guest for good (exit, or stopped
// by an execve); the goroutine ends after it (the main thread blocks).
// vsysbed_run already blocked the relayed signals again and zeroed GS
// base, so no handler on this OS thread finds the block any more; what
// the relay recorded in it since the thread's last look goes on to the
// process (handOnHostSignals); Syscall User Dispatch is switched off first,
// because the kernel would go on reading this thread's selector byte in
// the block, which the next thread sets to BLOCK while Go still runs
// here. A block whose selector cannot be released is kept out of the
// pool (one shard more, nothing wrong). The tid word is cleared last, so
// that a joiner that goes on to create a thread finds the block free.
func (t *Task) left() {
	p := t.P
	t.handOnHostSignals()
	// A vfork child's thread is off its parent's children already
	// (vforkLeave); before its block can serve another thread, make sure.
	p.forgetVforkChild(t)
	if p.plat.Release(t.CB) {
		p.shards.Put(t.CB)
	}
	if addr := t.clearTID; addr != 0 {
		var zero [4]byte
		if writeGuest(addr, zero[:]) == nil {
			machine.Syscall(unix.SYS_FUTEX, &Args{addr, futexWake, 1})
		}
	}
}

// handOnHostSignals takes what the relay recorded on this thread after its
// last look at its signals (an exit's retarget, or none for a thread
// execve stopped): the kernel puts a process-directed signal on any thread
// that does not block it, this one too until vsysbed_run blocked them
// again on its way out, and the block, about to serve another thread,
// keeps the record nowhere else. The thread is no longer one of its
// process's, so absorbHostSignals queues such a signal for the process
// and kicks the thread that takes it; the mask stays Go's (offGuest).
func (t *Task) handOnHostSignals() {
	p := t.P
	p.mu.Lock()
	t.offGuest = true
	t.absorbHostSignals()
	p.mu.Unlock()
}

// VSYSBED_EXIT_PAUSE=1 holds a thread that leaves the guest 1 ms after
// its last look at its signals, before it blocks the relayed ones again,
// so that a signal surely reaches it there (e2e/guests/sigexit.c, which
// lost it without handOnHostSignals).
var exitPauseOn = os.Getenv("VSYSBED_EXIT_PAUSE") == "1"

func exitPause() {
	if exitPauseOn {
		time.Sleep(time.Millisecond)
	}
}

func writeU32(addr uint64, v uint32) error {
	b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return writeGuest(addr, b[:])
}

// threadBlock gets the calling OS thread a control block — an exited
// thread's (its counts kept) or a new shard — and prepares it as the
// block of a new guest thread (or vfork child) of parent that starts with
// registers regs and FS base fs.
func (p *Process) threadBlock(parent *Task, regs cblock.Regs, fs uint64) (*cblock.ControlBlock, error) {
	cb, _, err := p.shards.Get(unix.Gettid())
	if err != nil {
		return nil, err
	}
	if err := entry.Prepare(cb, p.trapMode); err != nil {
		p.shards.Put(cb)
		return nil, err
	}
	cb.Trap = regs
	cblock.CopyThreadState(cb, parent.CB)
	cb.GuestFS = fs
	return cb, nil
}
