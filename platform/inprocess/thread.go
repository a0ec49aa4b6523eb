package inprocess

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tls"
	"github.com/vsysbed/vsysbed/vaspace"
)

// platform is the in-process platform as kernelsim sees it
// (kernelsim.Platform): a guest thread is a locked host thread of this
// process that enters the guest through tls, the trap armed on it.
type platform struct {
	mode   uint8  // tls.TrapSeccomp or tls.TrapSUD
	runDir string // where forked host processes put their shards
	fdBase int    // the host's fds start here
}

// StartThread: the thread never unlocks its OS thread, which has run guest
// code (GS base, signal mask, SUD) and dies with the goroutine. The first
// one raises GOMAXPROCS (threadProcs).
func (platform) StartThread(body func()) {
	threadProcsOnce.Do(raiseProcs)
	go func() {
		runtime.LockOSThread()
		growStack(0)
		body()
	}()
}

// threadStack is the goroutine stack a guest thread's goroutine starts
// with (growStack).
const threadStack = 32 << 10

// growStack grows the calling goroutine's stack to threadStack at once,
// while it holds two frames. A new goroutine's stack starts small, and a
// guest thread's grew by doubling in its first calls into Go, each time
// copied and its frames adjusted under the cgo callback's
// (docs/BENCHMARKS.md, "Thread create+join, GOMAXPROCS").
//
//go:noinline
func growStack(i int) byte {
	var frame [threadStack / 2]byte
	return frame[i]
}

// threadProcs is the GOMAXPROCS of a host process once its guest has a
// second thread. A guest thread in guest code is, to Go's scheduler, a
// goroutine in a cgo call: its P stays with it only while some other P is
// idle, or sysmon hands it off within 20 µs (to a spinning M it may have
// to start), and the call into Go that follows — a trap, a bypass call —
// then waits for a P on the slow path. With as many Ps as CPUs (2 here)
// two guest threads leave none idle: every clone, futex wait and exit
// paid for a P retaken and handed back (docs/BENCHMARKS.md, "Thread
// create+join, GOMAXPROCS"). A P with no goroutine costs nothing but its
// caches; the mark phase's dedicated GC workers (a quarter of the Ps) are
// 2 at 8.
const threadProcs = 8

var threadProcsOnce sync.Once

// raiseProcs sets GOMAXPROCS to threadProcs unless it is more already
// (GOMAXPROCS in the environment, a larger machine). It stops the world
// once, the caller's guest thread in Go and the others in guest code.
func raiseProcs() {
	if runtime.GOMAXPROCS(0) < threadProcs {
		runtime.GOMAXPROCS(threadProcs)
	}
}

// Enter arms the trap on this thread and runs the guest. The seccomp
// filter is the process's, armed once in setup; Syscall User Dispatch is
// per thread, its selector byte in the thread's control block.
func (pl platform) Enter(cb *tls.ControlBlock, ready func(), readyLink *os.File) error {
	if pl.mode == tls.TrapSUD {
		start, end := tls.Region()
		if err := bpf.EnableSUD(start, end-start, &cb.Selector); err != nil {
			return fmt.Errorf("arming Syscall User Dispatch: %w", err)
		}
	}
	ready()
	fd := -1
	if readyLink != nil {
		// Not Fd(), which would put the file in blocking mode: its
		// reader waits in the netpoller (kernelsim.startServingParent).
		rc, err := readyLink.SyscallConn()
		if err != nil {
			return err
		}
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	tls.Run(cb, fd)
	return nil
}

// Release switches Syscall User Dispatch off on this thread before its
// block can go to another thread, which sets its selector to BLOCK while
// Go still runs here.
func (pl platform) Release(*tls.ControlBlock) bool {
	return pl.mode != tls.TrapSUD || bpf.DisableSUD() == nil
}

// Exit ends this host process, the guest's, with the guest's status.
func (platform) Exit(code int, record func()) {
	record()
	os.Exit(code)
}

// Die ends this host process by sig at its default action.
func (platform) Die(sig int, record func()) {
	record()
	tls.DieBySignal(sig)
	select {} // the signal is on its way
}

// Stop stops this host process. SIGSTOP by kill(2), which returns at
// once; the others as the real signal at its default action
// (tls.StopBySignal), so that a parent's waitpid sees WSTOPSIG sig (a
// shell prints "Stopped", not "Stopped (signal)") and in an orphaned
// process group the kernel discards it, as Linux does for these three.
func (platform) Stop(sig int) bool {
	if sig == int(unix.SIGSTOP) {
		unix.Kill(unix.Getpid(), unix.SIGSTOP)
		return false
	}
	tls.StopBySignal(sig)
	return true
}

// ThreadMask is raw: the mask of this OS thread, whatever Go keeps of it.
func (platform) ThreadMask(how int, set uint64) (uint64, unix.Errno) {
	var old uint64
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, uintptr(how), uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	return old, e
}

// Reserve: vaspace.Map.
func (platform) Reserve(length uintptr, prot, flags, fd int, off uint64) (uintptr, unix.Errno) {
	return vaspace.Map(length, prot, flags, fd, off)
}

// ProcFile: a memfd holding content, read from its start.
func (platform) ProcFile(content []byte, cloexec bool) (int, unix.Errno) {
	flags := 0
	if cloexec {
		flags = unix.MFD_CLOEXEC
	}
	fd, err := unix.MemfdCreate("vsysbed-proc", flags)
	if err != nil {
		return -1, errnoOf(err)
	}
	if _, err := unix.Write(fd, content); err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	unix.Seek(fd, 0, 0)
	return fd, 0
}

// CopyToChild: the guest's memory is this process's, at the same
// addresses as in the child; process_vm_writev copies it across. A page
// the guest made unreadable is made readable for the copy.
func (platform) CopyToChild(child int, addr uint64, n int, prot int) error {
	if prot&unix.PROT_READ == 0 {
		unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(n), unix.PROT_READ)
		defer unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(n), uintptr(prot))
	}
	local := []unix.Iovec{{Base: (*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(addr)))}}
	local[0].SetLen(n)
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: n}}
	w, err := unix.ProcessVMWritev(child, local, remote, 0)
	if err != nil {
		return err
	}
	if w != n {
		return io.ErrShortWrite
	}
	return nil
}

// TokenPipe: the write end and a read end of the host's own (opened again
// through /proc/self/fd, with its own O_NONBLOCK: the guest's may block,
// and the guest sets its flags) go above the host's fd base.
func (pl platform) TokenPipe(nonblock, cloexec bool) (int, kernelsim.Token, error) {
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return -1, nil, err
	}
	w, err := unix.FcntlInt(uintptr(pipe[1]), unix.F_DUPFD_CLOEXEC, pl.fdBase+400)
	unix.Close(pipe[1])
	if err != nil {
		unix.Close(pipe[0])
		return -1, nil, err
	}
	unix.SetNonblock(w, true)
	r := pipe[0]
	d, err := unix.Open("/proc/self/fd/"+strconv.Itoa(r), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		d2, err2 := unix.FcntlInt(uintptr(d), unix.F_DUPFD_CLOEXEC, pl.fdBase+400)
		unix.Close(d)
		d, err = d2, err2
	}
	if err != nil {
		unix.Close(r)
		unix.Close(w)
		return -1, nil, err
	}
	if !cloexec {
		unix.FcntlInt(uintptr(r), unix.F_SETFD, 0)
	}
	if nonblock {
		unix.SetNonblock(r, true)
	}
	return r, token{write: w, drain: d}, nil
}

// token is a TokenPipe's host end: its write end and its own read end.
type token struct{ write, drain int }

func (t token) Put() { unix.Write(t.write, []byte{1}) }

func (t token) Take() {
	var b [1]byte
	unix.Read(t.drain, b[:])
}

func (t token) Close() {
	unix.Close(t.write)
	unix.Close(t.drain)
}

// idleThreads is how many threads a fork child's Go runtime starts ahead
// and keeps idle (warmThreads).
const idleThreads = 3

// warmThreads has the Go runtime start n threads now, beside the work of
// adopting the guest, and keep them idle: the channel closes once they
// are. A goroutine started later (the forwarders, the parent's server)
// then finds an idle thread. Without them the runtime clones one when the
// guest is already running: this thread is locked, so a template thread
// does it in the background, and it holds the process's mmap lock over
// the new stack's mprotect; preempted there, it kept the guest's first
// page fault waiting for a millisecond, D in /proc/PID/stat where a
// native fork child is R (semantics guest).
func warmThreads(n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		var locked, ended sync.WaitGroup
		release := make(chan struct{})
		for range n {
			locked.Add(1)
			ended.Add(1)
			go func() {
				defer ended.Done()
				runtime.LockOSThread() // each holds a thread of its own...
				locked.Done()
				<-release
				runtime.UnlockOSThread() // ...which then goes idle
			}()
		}
		locked.Wait()
		close(release)
		ended.Wait()
		close(done)
	}()
	return done
}
