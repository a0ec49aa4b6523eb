package kernelsim

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Platform is what kernelsim asks of the platform below the guest for the
// host threads its tasks run on, and for the host resources its handlers
// need besides the Machine's memory and calls (ARCHITECTURE.md, "The
// kernel and its platform"). kernelsim decides what a new thread is — its
// control block, registers, mask, tid words — and what its leaving means;
// the platform gives it a host thread, arms the trap there and runs guest
// code on it. A Process gets its platform from Config.Platform
// (platform/inprocess hands in its own; the unit tests a fake,
// platform_test.go).
type Platform interface {
	// StartThread runs body on a new host thread, locked to it for good:
	// a thread that has run guest code (GS base, signal mask, SUD) dies
	// with it.
	StartThread(body func())
	// Enter runs cb's guest thread on the calling host thread until it
	// leaves the guest for good: it arms the trap for cb on this thread,
	// calls ready, and runs guest code. It returns an error, without
	// calling ready, when the trap cannot be armed. A readyLink is a fork
	// child's link to its parent: the platform writes "ready\n" on it as
	// the last step before the guest's first instruction (the parent's
	// fork returns then; a native child is runnable from that moment, so
	// nothing between may sleep), and ends the process with
	// exitstatus.Failed if it cannot.
	Enter(cb *cblock.ControlBlock, ready func(), readyLink *os.File) error
	// Release disarms the trap on the calling host thread, whose guest
	// has left; false means cb must not serve another thread (the kernel
	// may still read its SUD selector there).
	Release(cb *cblock.ControlBlock) bool
	// StartProcess starts a child host process for a new guest process
	// (fork, vfork) and returns its pid, the guest's new pid, and the
	// link to it: its host process adopts the guest's state from the
	// other end (AdoptFork).
	StartProcess() (pid int, link *os.File, errno unix.Errno)

	// StartVfork starts the host process of a vfork child (vfork.go),
	// whose pid is the child's, and returns it: it waits, carrying out
	// what the child does to its own process, while the child runs on a
	// thread of this one (StartChildThread) until its execve or exit.
	StartVfork() (pid int, host VforkHost, errno unix.Errno)
	// StartChildThread is StartThread for a vfork child: the new thread
	// first takes a private copy of the fd table, cwd and umask, so that
	// the child's open, close, dup2 and chdir apply to its own, at the
	// numbers the guest sees; body gets the error when it could not.
	StartChildThread(body func(err error))

	// Host: a process's own threads end and stop their host process
	// through the platform.
	Host

	// ThreadMask changes the calling host thread's own signal mask as
	// rt_sigprocmask(how, set) does and returns the old one: kernelsim
	// holds the relayed signals off the thread while it takes their
	// records (absorbHostSignals) and around a call made with the
	// guest's temporary mask (pwait.go).
	ThreadMask(how int, set uint64) (old uint64, errno unix.Errno)
	// Reserve maps length bytes where the kernel would choose the place
	// for the guest (mmap without MAP_FIXED, mremap's move, shmat at 0):
	// inside the guest's window (vaspace), never where a fork child's
	// host memory may go.
	Reserve(length uintptr, prot, flags, fd int, off uint64) (uintptr, unix.Errno)
	// ProcFile returns a new fd the guest reads content from, as from
	// the /proc file kernelsim answers with it (close-on-exec when
	// cloexec).
	ProcFile(content []byte, cloexec bool) (int, unix.Errno)
	// CopyToChild copies [addr, addr+n) of the guest's memory into the
	// same range of fork child pid's host process, which has it mapped
	// writable (fork.go's streamMemory); prot is the range's protection
	// here (a page the guest made unreadable is still copied).
	CopyToChild(pid int, addr uint64, n int, prot int) error
	// TokenPipe makes a pipe whose read end, fd (O_NONBLOCK and
	// O_CLOEXEC as asked), is the guest's, readable exactly while tok
	// has put its byte in: a signalfd (signalfd.go). tok's fds are the
	// host's, out of the guest's numbers.
	TokenPipe(nonblock, cloexec bool) (fd int, tok Token, err error)
	// MemFile returns a new memfd named name of size bytes, close-on-exec,
	// in the host's fds: the memory behind a shared anonymous mapping,
	// which fork children map too (shmem.go).
	MemFile(name string, size uint64) (int, unix.Errno)
}

// Token is the host's end of a TokenPipe.
type Token interface {
	Put()  // the byte in: the read end is readable
	Take() // the byte out (without blocking, whatever the read end's flags)
	Close()
}

// Host is the host process that stands for a guest process, as one of
// the guest's threads sees it: what ending and stopping the process do.
// A process's own threads have the Platform; a vfork child's thread, which
// runs on a thread of its parent's host process, has its VforkHost
// (Task.host). kernelsim decides when; the host decides what it means.
type Host interface {
	// Exit and Die end the host process, with status code or by signal
	// sig at its default action. The host calls record first, on the
	// calling thread, when the thread is the process's own: it writes
	// the exit where the report finds it (the control block, the event
	// log). They return only when the thread is not the process's (a
	// vfork child's, whose host process records its own exit): the
	// thread then leaves the guest.
	Exit(code int, record func())
	Die(sig int, record func())
	// Stop carries out stop signal sig's default action and reports
	// whether it returned because the stopped process was continued, so
	// that kernelsim discards the stops pending since (Linux's SIGCONT).
	Stop(sig int) (continued bool)
}

// VforkHost is a vfork child's host process as the child's thread sees
// it. Its calls are made on that thread (the link to it is in the
// thread's own fd table), but Close and Wait, which the parent calls.
type VforkHost interface {
	// Host: Exit and Die end the child (its host process exits with
	// status code, or dies by signal sig) and return; Stop stops the
	// child's host process (by SIGSTOP, whatever sig) and returns false.
	Host
	// Setsid and Setpgid run in the child's host process, the process
	// they name; Getpgid and Getsid ask about it. The result is raw
	// (-errno; ESRCH when it is gone).
	Setsid() int64
	Setpgid(pgid int64) int64
	Getpgid() int64
	Getsid() int64
	// Exec hands a checked execve over: st, completed with the calling
	// thread's own fds (st.FDs), cwd and umask, which the host process
	// installs before it loads the image (AdoptVforkExec). It calls
	// sending once the request can no longer fail, right before the host
	// process may get it.
	Exec(st *VforkExec, sending func()) unix.Errno
	// FilesView is the path at which the calling thread's own fd table,
	// fdinfo and cwd are seen, followed by rest ("fd/3", "cwd"): the
	// child's /proc/self/{fd,fdinfo,cwd}, where /proc/self shows the
	// parent's.
	FilesView(rest string) string
	// Wait returns once the child's host process has ended.
	Wait()
	// Close drops the parent's own copy of the link.
	Close()
}
