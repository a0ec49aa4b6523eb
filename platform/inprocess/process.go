package inprocess

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
	"github.com/vsysbed/vsysbed/internal/reexec"
	"github.com/vsysbed/vsysbed/tls"
)

// The first byte on the link tells a child host process what it is.
const (
	kindFork  = 'f' // receives a copy of the guest (kernelsim.AdoptFork)
	kindVfork = 'v' // waits for its vfork child's execve or exit (awaitVfork)
)

// StartProcess starts a fork child's host process. The next spare is
// started at ForkSent, while the child adopts the state: started here, its
// ForkExec came before the state was even sent.
func (pl platform) StartProcess() (int, *os.File, unix.Errno) {
	pid, link, errno := pl.startHost(kindFork)
	if errno != 0 {
		pl.refillPool()
	}
	return pid, link, errno
}

// ForkSent: the fork StartProcess served has sent its state, or failed
// (kernelsim.ForkSentNotifier). Still on the forking guest thread, in the fork
// call (refillPool says why).
func (pl platform) ForkSent() {
	pl.refillPool()
}

// startHost starts a child host process — a re-exec of vsysbed as
// reexec.Fork — with the link to it at its fd 3 (ForkChild moves it), and
// tells it its kind; or takes a spare started ahead (pool.go). The caller
// has the next spare started (refillPool).
func (pl platform) startHost(kind byte) (int, *os.File, unix.Errno) {
	if pid, link, ok := pl.takeSpare(pl.hostFlags()); ok {
		if fdpass.SendAll(link, []byte{kind}) == nil {
			return pid, link, 0
		}
		link.Close()
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err.(unix.Errno)
	}
	// The link is the host's: keep it out of the guest's fd numbers. (One
	// *os.File only, on the final number: a second one's finalizer would
	// close whatever has its number by then, a guest fd perhaps.) The
	// child puts its end at the same number, which no guest fd has: this
	// process holds it.
	linkFD := pair[0]
	if hfd, err := unix.FcntlInt(uintptr(pair[0]), unix.F_DUPFD_CLOEXEC, pl.fdBase+100); err == nil {
		unix.Close(pair[0])
		linkFD = hfd
	}
	args := append(pl.hostFlags(), "--link-fd", strconv.Itoa(linkFD))
	// 0-2 of the new host process are /dev/null (see adoptStdio); the
	// guest's fds arrive over the link.
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(linkFD)
		unix.Close(pair[1])
		return 0, nil, err.(unix.Errno)
	}
	child, err := forkExecHost(func() (int, error) {
		return syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(pair[1])},
		})
	})
	unix.Close(null)
	unix.Close(pair[1])
	if err != nil {
		unix.Close(linkFD)
		return 0, nil, unix.EAGAIN
	}
	link := os.NewFile(uintptr(linkFD), "fork")
	if err := fdpass.SendAll(link, []byte{kind}); err != nil {
		link.Close()
		unix.Kill(child, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(child, &ws, 0, nil)
		return 0, nil, unix.EAGAIN
	}
	return child, link, 0
}

// hostFlags is a child host process's command line but its link.
func (pl platform) hostFlags() []string {
	args := []string{"vsysbed", reexec.Fork, "--rundir", pl.runDir, "--trap", trapName(pl.mode)}
	if tls.Rewriting() {
		args = append(args, "--rewrite")
	}
	if !tls.Timing() {
		args = append(args, "--timing-off")
	}
	return args
}

func trapName(mode uint8) string {
	if mode == tls.TrapSUD {
		return "sud"
	}
	return "seccomp"
}

// forkExecHost runs start (a syscall.ForkExec of a host process) on a
// thread with the host children's personality. Go's fork leaves the
// thread with the mask its M started with (runtime.AfterFork), which on a
// guest thread is not the one tls.vsysbed_run set: the real-time signals
// the relay takes would stay blocked (tls/inherit.c), so it is put back.
func forkExecHost(start func() (int, error)) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if e := setForkedPersonality(); e != 0 {
		return 0, e
	}
	var mask uint64
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, uintptr(unsafe.Pointer(&mask)), 8, 0, 0)
	defer unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	return start()
}
