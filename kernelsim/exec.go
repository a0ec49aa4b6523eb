package kernelsim

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// execve in the same host process (ARCHITECTURE.md, "Processes"): check the new image, then —
// past the point of no return — stop the other guest threads, unmap the
// old guest, map the new image with a new vDSO, reset what exec resets,
// and resume the calling thread at the new entry point. The pid, the
// ignored signals, the mask and the pending signals stay.

// maxArgs is where an argv or envp array must be refused before its
// strings are read: with as many pointers, 8 bytes each, the largest
// argument room execve ever gives (loader.ArgLimit: 6 MiB) is used up.
// The exact limit is the loader's (Check), the same as the top level's.
const maxArgs = 6 << 20 / 8

// readStringArray reads a NULL-terminated array of string pointers.
func readStringArray(addr uint64) ([]string, error) {
	var out []string
	if addr == 0 {
		return out, nil
	}
	for i := uint64(0); ; i++ {
		if i >= maxArgs {
			return nil, unix.E2BIG
		}
		p, err := readU64(addr + 8*i)
		if err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := readString(p, 128<<10)
		if err != nil {
			if errors.Is(err, unix.EFAULT) {
				return nil, err
			}
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}

func sysExecve(t *Task, a *Args) int64 {
	path, err := readString(a[0], 4096)
	if err != nil {
		return errnoOf(err)
	}
	return t.execve(path, a[1], a[2])
}

// sysExecveat resolves dirfd through /proc/self/fd, as fexecve does.
func sysExecveat(t *Task, a *Args) int64 {
	dirfd, flags := int32(a[0]), a[4]
	path, err := readString(a[1], 4096)
	if err != nil {
		return errnoOf(err)
	}
	switch {
	case path == "" && flags&unix.AT_EMPTY_PATH != 0:
		path = "/proc/self/fd/" + strconv.Itoa(int(dirfd))
	case path == "":
		return -int64(unix.ENOENT)
	case !strings.HasPrefix(path, "/") && dirfd != unix.AT_FDCWD:
		path = "/proc/self/fd/" + strconv.Itoa(int(dirfd)) + "/" + path
	}
	return t.execve(path, a[2], a[3])
}

func (t *Task) execve(path string, argvAddr, envpAddr uint64) int64 {
	p := t.P
	argv, err := readStringArray(argvAddr)
	if err != nil {
		return errnoOf(err)
	}
	envp, err := readStringArray(envpAddr)
	if err != nil {
		return errnoOf(err)
	}
	if p.exec == nil {
		return t.notSupported("execve")
	}
	// Linux names the process after the file as execve was given it (a
	// script's own name; "exe" for /proc/self/exe, which busybox checks).
	comm := filepath.Base(path)
	if procSelfFile(path) == "exe" || t.viaProcExe(unix.AT_FDCWD, path) {
		// The host's /proc/self/exe is vsysbed, in every spelling (busybox
		// re-execs itself this way; a symlink may lead there too).
		path = p.Exe
	}
	if err := p.checkExec(path, argv, envp); err != nil {
		return errnoOf(err)
	}

	return t.guest.exec(t, path, comm, argv, envp)
}

// execInPlace is execve past its checks in a process's own thread: the
// host process loads the new image in place of the old.
func (t *Task) execInPlace(path, comm string, argv, envp []string) int64 {
	p := t.P
	// The point of no return.
	p.stopOtherThreads(t)
	p.closeParentLink() // the parent's setpgid of us is EACCES from now on
	p.mu.Lock()
	old := p.vmas.r
	p.vmas.r = nil
	p.mu.Unlock()
	p.rewrite.reset() // its pages go with the rest
	for _, r := range old {
		machine.Syscall(unix.SYS_MUNMAP, &Args{r[0], r[1] - r[0]})
		if p.Events != nil {
			p.Events.Unmap(r[0], r[1])
		}
	}
	p.closeShmem()
	im, err := p.exec(path, argv, envp)
	if err != nil {
		// Linux kills a process whose new image fails to map this late.
		if p.Events != nil {
			p.Events.Error("execve " + path + ": " + err.Error())
		}
		t.dieBy(int(unix.SIGKILL))
	}

	SetThreadName(comm)
	p.mu.Lock()
	p.Exe, p.Argv, p.Envp, p.Auxv = im.Exe, im.Argv, im.Envp, im.Auxv
	p.vdsoBase, p.vdsoEnd = im.VDSOBase, im.VDSOEnd
	p.stack = im.Stack
	p.brkStart, p.brkCur, p.brkMax = im.BrkStart, im.BrkStart, im.BrkMax
	for _, m := range im.Mappings {
		p.vmas.add(m[0], m[1])
	}
	if im.BrkMax > im.BrkStart {
		p.vmas.add(im.BrkStart, im.BrkMax)
	}
	// Caught signals go back to their default; ignored ones stay ignored.
	for sig := 1; sig <= nsig; sig++ {
		if h := p.sig.actions[sig].handler; h != sigDfl && h != sigIgn {
			p.sig.actions[sig] = sigaction{}
			entry.SetDisposition(sig, cblock.DispositionDefault)
		}
	}
	p.syncChildReaping() // a SIGCHLD handler's SA_NOCLDWAIT went with it
	p.confinement.Undumpable = false
	p.mu.Unlock()
	p.closeOnExec()

	t.altstack = altstack{Flags: ssDisable}
	t.tidAddress, t.robustList = 0, 0
	t.restarts = nil
	t.hasSavedMask = false
	cb := t.CB
	cb.GuestFS = 0
	cblock.SetInitialState(cb, uintptr(im.Entry), uintptr(im.SP))
	cb.Flags |= cblock.FlagResume
	return 0
}

// closeOnExec closes the guest's O_CLOEXEC descriptors.
func (p *Process) closeOnExec() {
	for _, fd := range fdNumbers("/proc/self/fd") {
		if isHostFD(fd) {
			continue
		}
		if flags, err := hostFcntl(fd, unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
			if hostClose(fd) == nil {
				entry.MarkGuestFD(fd, false)
			}
		}
	}
}

// stopOtherThreads ends every guest thread but t, as execve and
// exit_group do on Linux: each is kicked, leaves the guest at its next
// look at its signals, and its goroutine ends with its OS thread.
func (p *Process) stopOtherThreads(t *Task) {
	p.mu.Lock()
	var others []*Task
	var tids []int // read now: an exited thread's block may be reused
	for _, o := range p.tasks {
		if o != t {
			o.exiting = true
			atomic.StoreUint32(&o.CB.SigPending, 1)
			others = append(others, o)
			tids = append(tids, int(o.CB.Tid))
		}
	}
	p.mu.Unlock()
	for i, o := range others {
		select {
		case o.wake <- struct{}{}:
		default:
		}
		kick(tids[i])
	}
	if len(others) == 0 {
		return
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		p.mu.Lock()
		n := p.live
		p.mu.Unlock()
		if n <= 1 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// leaveIfExiting ends the thread when execve stopped it.
func (t *Task) leaveIfExiting() bool {
	if !t.exiting {
		return false
	}
	p := t.P
	p.mu.Lock()
	if p.tasks[t.CB] != t {
		// Not one of p's threads (any more): a vfork child's, or one that
		// exited as execve stopped it.
		p.mu.Unlock()
		t.vforkLeave()
		return true
	}
	p.live--
	delete(p.tasks, t.CB)
	p.mu.Unlock()
	t.CB.Flags |= cblock.FlagLeave
	t.CB.Flags &^= cblock.FlagResume
	return true
}
