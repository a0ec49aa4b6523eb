package kernelsim

import (
	"runtime"

	"golang.org/x/sys/unix"

	"vsysbed/bpf"
	"vsysbed/coverage"
	"vsysbed/tls"
)

const threadFlags = unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND

// clone starts a guest thread (DESIGN §5): a new goroutine locks a fresh
// OS thread, gets its own control block and shard, and enters the guest
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
	parent := t.CB
	regs := parent.Trap
	if parent.Kind == tls.KindBypass {
		ret, err := readU64(parent.GuestSP)
		if err != nil {
			return errnoOf(err)
		}
		regs = tls.Regs{
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
	started := make(chan int64, 1)
	go t.P.runThread(t, regs, fs, flags, ptid, ctid, threadName(), started)
	return <-started
}

// runThread is the life of one guest thread after the first. It never
// unlocks its OS thread: the thread has run guest code (GS, signal mask)
// and dies with the goroutine.
func (p *Process) runThread(parent *Task, regs tls.Regs, fs, flags, ptid, ctid uint64, name string, started chan<- int64) {
	runtime.LockOSThread()
	SetThreadName(name) // a new thread has its creator's name
	tid := unix.Gettid()
	cb, err := p.threadBlock(parent, regs, fs)
	if err != nil {
		started <- -int64(unix.EAGAIN)
		return
	}
	t := p.NewTask(cb)
	t.sigmask = parent.sigmask
	if flags&unix.CLONE_CHILD_CLEARTID != 0 {
		t.tidAddress = ctid
	}
	// Both tid words are written before either thread runs on, as the
	// kernel does: musl's thread list lock relies on new->tid being set.
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		if err := writeU32(ptid, uint32(tid)); err != nil {
			started <- errnoOf(err)
			return
		}
	}
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		writeU32(ctid, uint32(tid))
	}
	if p.trapMode == tls.TrapSUD {
		start, end := tls.Region()
		if err := bpf.EnableSUD(start, end-start, &cb.Selector); err != nil {
			started <- -int64(unix.EAGAIN)
			return
		}
	}
	started <- int64(tid)
	tls.Run(cb)
}

func writeU32(addr uint64, v uint32) error {
	b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return writeGuest(addr, b[:])
}

// threadBlock opens the calling OS thread's shard and prepares it as the
// control block of a new guest thread (or vfork child) of parent that
// starts with registers regs and FS base fs.
func (p *Process) threadBlock(parent *Task, regs tls.Regs, fs uint64) (*tls.ControlBlock, error) {
	cb, _, err := coverage.OpenShard(coverage.ShardPath(p.runDir, unix.Gettid()))
	if err != nil {
		return nil, err
	}
	if err := tls.Prepare(cb, p.trapMode); err != nil {
		return nil, err
	}
	cb.Trap = regs
	tls.CopyThreadState(cb, parent.CB)
	cb.GuestFS = fs
	return cb, nil
}
