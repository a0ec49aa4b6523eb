package tracer

// What the guest inherits from vsysbed's caller. Run natively, the
// program would get from its execve every fd of its caller that is not
// close-on-exec, at the same number, the caller's ignored signals and its
// blocked mask. vsysbed stands between the two: its own runtime changes
// its signal state before main (tls.StartSignals has the state from
// before), and os/exec puts a child's extra files at 3 and up — over the
// caller's fds there — and dups them through scratch numbers above those,
// which closes the caller's fds at these numbers too (what the supervisor
// did before). So the supervisor records the inheritance first
// and hands it on: the fds at their numbers, the signal state as flags of
// the hidden subcommands, which apply it (kernelsim for the in-process
// guest, a raw rt_sigaction/rt_sigprocmask before execve for a native
// one).

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls"
)

// inheritance is what an execve from vsysbed's caller would keep.
type inheritance struct {
	fds     []int  // open and not close-on-exec, ascending
	ignored uint64 // bit N-1: signal N is SIG_IGN
	mask    uint64 // blocked signals of the caller's thread
}

// recordInheritance reads this process's inheritance. Every fd the Go
// runtime and vsysbed open is close-on-exec — but for /dev/null on a
// closed fd 0-2 (tls.StartStdioClosed) — so the fds that are not are the
// caller's: they can be read at any time before the first child starts
// (the signal state cannot: see tls.StartSignals).
func recordInheritance() inheritance {
	var in inheritance
	in.ignored, in.mask, _ = tls.StartSignals()
	closed := tls.StartStdioClosed()
	for _, fd := range openInheritedFDs() {
		if fd < 3 && closed&(1<<fd) != 0 {
			continue // the runtime's /dev/null, not the caller's
		}
		in.fds = append(in.fds, fd)
	}
	return in
}

// openInheritedFDs lists the fds of this process an execve keeps.
func openInheritedFDs() []int {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return []int{0, 1, 2} // no /proc: at least what os/exec passed
	}
	names, _ := dir.Readdirnames(-1)
	self := int(dir.Fd())
	var fds []int
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == self {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, fd)
		}
	}
	dir.Close()
	sort.Ints(fds)
	return fds
}

// ignoreAsTheCallerDid makes the supervisor ignore the signals its caller
// ignored, as the program it stands for would: Go's runtime installed its
// own handlers over them, so a SIGQUIT or SIGUSR1 sent to vsysbed's pid
// would kill it (SIGQUIT with a goroutine dump), and a write to a broken
// stderr would end it by SIGPIPE, where the program carries on. Not the
// signals the supervisor forwards to the guest (tracer/jobctl.go), whose own
// disposition decides; not SIGCHLD, whose SIG_IGN would reap the host
// process before the supervisor could wait for it; not Go's own SIGURG
// and SIGPROF. The children get their signal state from the inheritance,
// not from this.
func ignoreAsTheCallerDid(in inheritance) {
	for sig := 1; sig <= 64; sig++ {
		if in.ignored&(1<<(sig-1)) == 0 {
			continue
		}
		switch syscall.Signal(sig) {
		case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, // forwarded
			syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT,
			syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPROF, syscall.SIGKILL, syscall.SIGSTOP:
			continue
		}
		signal.Ignore(syscall.Signal(sig))
	}
}

// closedFD in a Files list of syscall.ForkExec closes that number in the
// child.
const closedFD = ^uintptr(0)

// sameNumbers is the Files list of a child that gets fds at their own
// numbers, the others closed: a native execve's view.
func sameNumbers(fds []int) []uintptr {
	if len(fds) == 0 {
		return nil
	}
	files := make([]uintptr, fds[len(fds)-1]+1)
	for i := range files {
		files[i] = closedFD
	}
	for _, fd := range fds {
		files[fd] = uintptr(fd)
	}
	return files
}

// hostFiles is the Files list of the host process: the inherited fds at
// their numbers, but 0-2 — which must be /dev/null (null) while Go's
// runtime starts in the host, see inprocess.StdioFD — moved to stdioFD..+2,
// and the audit's gate, when there is one, at stdioFD+3. An inherited fd
// at stdioFD or above would sit among the host's own fds, which the guest
// never sees: it is left out and returned in dropped.
func hostFiles(fds []int, null uintptr, stdioFD int, gate uintptr) (files []uintptr, dropped []int) {
	n := stdioFD + 3
	if gate != closedFD {
		n++
	}
	files = make([]uintptr, n)
	for i := range files {
		files[i] = closedFD
	}
	files[0], files[1], files[2] = null, null, null
	for _, fd := range fds {
		switch {
		case fd < 0:
		case fd <= 2:
			files[stdioFD+fd] = uintptr(fd)
		case fd < stdioFD:
			files[fd] = uintptr(fd)
		default:
			dropped = append(dropped, fd)
		}
	}
	if gate != closedFD {
		files[stdioFD+3] = gate
	}
	return files, dropped
}

// signalFlags are the flags that carry the signal state to a hidden
// subcommand (`__host`, `__ptrace-exec`).
func (in inheritance) signalFlags() []string {
	return []string{"--sigign", fmt.Sprintf("%#x", in.ignored), "--sigmask", fmt.Sprintf("%#x", in.mask)}
}

// stubFlags are signalFlags and, for `__ptrace-exec`, the fds 0-2 it
// must close before its execve: it is a Go program, whose runtime opens
// /dev/null on them when they arrive closed.
func (in inheritance) stubFlags() []string {
	closed := 7
	for _, fd := range in.fds {
		if fd < 3 {
			closed &^= 1 << fd
		}
	}
	return append(in.signalFlags(), "--close-stdio", strconv.Itoa(closed))
}
