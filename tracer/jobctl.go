package tracer

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
)

// The supervisor's signals (ARCHITECTURE.md, "The tree").
//
// The signals it forwards — the job-control ones (SIGTSTP, SIGTTIN,
// SIGTTOU, SIGCONT) and SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 — are
// blocked on every thread from the start (tls/inherit.c, before Go's
// threads exist; Go is made to leave the first four blocked,
// tls/gosigtab.c) and read from one signalfd by one goroutine, the
// forwarder, which also stops the supervisor when the guest stops
// (stopSelf): so every job-control signal sent to the supervisor before
// the guest stopped is forwarded before the supervisor stops, they are
// forwarded in the order they came, and each with its sender. (Through
// os/signal a SIGTSTP could wait past the supervisor's own stop, after it
// os/signal hands out SIGCONT before SIGTSTP, lowest number first, and it
// tells no sender.) Should the mask not be as expected (another Go), the
// ones not blocked come through os/signal to the same goroutine.
//
// A signal the terminal sent (SI_KERNEL: Ctrl-C, Ctrl-Z, a hang-up) went
// to the whole foreground process group, the host processes included,
// and is not forwarded. A kill (SI_USER) may have been sent to the group
// or to the supervisor alone, which the supervisor cannot tell apart: it
// forwards it, and to an in-process host marked with the original sender
// (kernelsim/jobctl.go), which takes a forward and a direct copy of one
// signal for one. A SIGCONT a host process sends to tell the supervisor
// it was continued (kernelsim.ForwardMark) is not forwarded.

// forwardedSignals are the signals the supervisor forwards.
var forwardedSignals = []unix.Signal{
	unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT,
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
}

// A stop request: stop the supervisor by sig unless still says the guest
// no longer is stopped.
type stopRequest struct {
	sig   unix.Signal
	still func() bool
	done  chan struct{}
}

// forwarder is the one goroutine that forwards the supervisor's signals
// and stops the supervisor.
type forwarder struct {
	sigs  chan os.Signal
	sfd   int // -1: no signalfd (the signals come through os/signal)
	stops chan stopRequest

	mu     sync.Mutex
	target int  // 0: not forwarding (yet, or any more)
	marked bool // forward with the original sender, for kernelsim
}

// the forwarder of this supervisor (stopSelf's).
var jobs *forwarder

// superviseTree makes this process the child subreaper of everything the
// guest starts (no orphan escapes the wait) and starts the forwarder.
func superviseTree() (*forwarder, func()) {
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	f := &forwarder{sigs: make(chan os.Signal, 16), sfd: -1, stops: make(chan stopRequest)}
	// Blocked by tls/inherit.c on every thread; the ones a thread does
	// not have blocked (another Go) os/signal takes instead.
	var cur, set unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_BLOCK, nil, &cur)
	for _, s := range forwardedSignals {
		if bit := uint64(1) << (uint(s) - 1); cur.Val[0]&bit != 0 {
			set.Val[0] |= bit
		} else {
			signal.Notify(f.sigs, s)
		}
	}
	if set.Val[0] != 0 {
		if fd, err := unix.Signalfd(-1, &set, unix.SFD_CLOEXEC|unix.SFD_NONBLOCK); err == nil {
			f.sfd = fd
		} else {
			for _, s := range forwardedSignals {
				signal.Notify(f.sigs, s)
			}
		}
	}
	jobs = f
	go f.loop()
	return f, func() { signal.Stop(f.sigs) }
}

// forwardSignals forwards to pid (the guest, or the host process running
// it; marked for an in-process host) until stop is called. Once pid is
// gone, the rest of the tree gets them: every live descendant of the
// supervisor (orphans are ours, as a subreaper), so that a tree whose
// first process has exited (a daemon, a hung child) still ends.
func forwardSignals(f *forwarder, pid int, marked bool) (stop func()) {
	f.mu.Lock()
	f.target, f.marked = pid, marked
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.target = 0
		f.mu.Unlock()
	}
}

// stopSelf stops the supervisor by sig, mirroring the guest's stop, once
// every signal sent to the supervisor before is forwarded; it returns
// after the SIGCONT. still (nil: always) says whether the guest is still
// stopped: a guest continued meanwhile (`kill -CONT` of its pid) is not
// mirrored any more.
func stopSelf(sig unix.Signal, still func() bool) {
	if jobs == nil {
		unix.Kill(os.Getpid(), unix.SIGSTOP)
		return
	}
	done := make(chan struct{})
	jobs.stops <- stopRequest{sig: sig, still: still, done: done}
	<-done
}

func (f *forwarder) loop() {
	// Its own thread: the stop is raised on it, with sig unblocked there.
	runtime.LockOSThread()
	ready := make(chan struct{})
	if f.sfd >= 0 {
		go func() {
			pfd := []unix.PollFd{{Fd: int32(f.sfd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
					return
				}
				ready <- struct{}{}
				<-ready // the loop read what there was
			}
		}()
	}
	for {
		select {
		case s := <-f.sigs:
			f.send(s.(syscall.Signal), nil)
		case <-ready:
			f.drain()
			ready <- struct{}{}
		case r := <-f.stops:
			f.drain()
			if r.still == nil || r.still() {
				raiseStop(r.sig)
			}
			close(r.done)
		}
	}
}

// drain forwards what the signalfd holds, in order.
func (f *forwarder) drain() {
	if f.sfd < 0 {
		return
	}
	var buf [128 * 16]byte
	for {
		n, err := unix.Read(f.sfd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+128 <= n; off += 128 {
			info := (*unix.SignalfdSiginfo)(unsafe.Pointer(&buf[off]))
			f.send(syscall.Signal(info.Signo), info)
		}
	}
}

const (
	siKernel = 0x80
	siQueue  = -1
)

// send forwards one signal; info is its siginfo when the signalfd gave it.
func (f *forwarder) send(sig syscall.Signal, info *unix.SignalfdSiginfo) {
	var readNs int64
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		readNs = ts.Nano()
	}
	f.mu.Lock()
	pid, marked := f.target, f.marked
	f.mu.Unlock()
	if pid == 0 {
		return
	}
	code, from, uid := int32(0), uint32(os.Getpid()), uint32(os.Getuid())
	if info != nil {
		code, from, uid = info.Code, info.Pid, info.Uid
		if code == siKernel {
			return // the terminal's, to the group: the host processes have it
		}
		if code == siQueue && uint32(info.Ptr>>32) == kernelsim.ForwardMark {
			return // a host process telling us it was continued
		}
	}
	deliver := func(p int) error {
		if !marked {
			return unix.Kill(p, sig)
		}
		si := kernelsim.ForwardedInfo(int(sig), code, from, uid, readNs)
		_, _, e := unix.RawSyscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(p), uintptr(sig), uintptr(unsafe.Pointer(&si[0])))
		if e != 0 {
			return e
		}
		return nil
	}
	if deliver(pid) == nil {
		return
	}
	for _, d := range descendants(os.Getpid()) {
		deliver(d)
	}
}

// raiseStop stops the supervisor by sig at its default action, on this
// thread (the only one where it is unblocked, for the while), so that
// its parent's waitpid sees the guest's stop signal.
func raiseStop(sig unix.Signal) {
	if sig == unix.SIGSTOP || sig == unix.SIGKILL {
		unix.Tgkill(os.Getpid(), unix.Gettid(), unix.SIGSTOP)
		return
	}
	var dfl, old [4]uint64 // struct kernel_sigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		unix.Tgkill(os.Getpid(), unix.Gettid(), unix.SIGSTOP)
		return
	}
	var set, oldset unix.Sigset_t
	set.Val[0] = 1 << (uint(sig) - 1)
	unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, &oldset)
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	unix.PthreadSigmask(unix.SIG_SETMASK, &oldset, nil)
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
}
