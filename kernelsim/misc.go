package kernelsim

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"vsysbed/tls"
)

const futexWake = 1 // FUTEX_WAKE, shared: the kernel's own CLEARTID wake

const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

// sysArchPrctl: FS is per-thread guest state (the trampolines load it on
// every return to the guest); GS belongs to the host (it points at the
// control block).
func sysArchPrctl(t *Task, a *Args) int64 {
	switch a[0] {
	case archSetFS:
		if a[1] >= 1<<47 {
			return -int64(unix.EPERM)
		}
		t.CB.GuestFS = a[1]
		return 0
	case archGetFS:
		if err := writeU64(a[1], t.CB.GuestFS); err != nil {
			return errnoOf(err)
		}
		return 0
	case archGetGS:
		if err := writeU64(a[1], 0); err != nil {
			return errnoOf(err)
		}
		return 0
	case archSetGS:
		return -int64(unix.EPERM)
	}
	return -int64(unix.EINVAL)
}

func sysSetTidAddress(t *Task, a *Args) int64 {
	t.tidAddress = a[0]
	return int64(t.CB.Tid)
}

func sysSetRobustList(t *Task, a *Args) int64 {
	if a[1] != 24 { // sizeof(struct robust_list_head)
		return -int64(unix.EINVAL)
	}
	t.robustList = a[0]
	return 0
}

func sysGetRobustList(t *Task, a *Args) int64 {
	if a[0] != 0 && int(int32(a[0])) != int(t.CB.Tid) {
		return passthrough(unix.SYS_GET_ROBUST_LIST, a)
	}
	if err := writeU64(a[1], t.robustList); err != nil {
		return errnoOf(err)
	}
	if err := writeU64(a[2], 24); err != nil {
		return errnoOf(err)
	}
	return 0
}

func sysExitGroup(t *Task, a *Args) int64 {
	t.exitProcess(int(a[0]))
	return 0
}

// sysExit ends one thread; the last one ends the process with its status.
func sysExit(t *Task, a *Args) int64 {
	p := t.P
	p.mu.Lock()
	p.live--
	last := p.live == 0
	delete(p.tasks, t.CB)
	p.mu.Unlock()
	if last {
		t.exitProcess(int(a[0]))
	}
	// CLONE_CHILD_CLEARTID is done in Task.left, once the thread is off
	// its control block: the joiner's next pthread_create then finds the
	// block free. Linux too clears the word only as the thread is torn
	// down (mm_release), after it ran its last user instruction.
	t.clearTID = t.tidAddress
	t.CB.Flags |= tls.FlagLeave
	return 0
}

func sysFork(t *Task, a *Args) int64 { return t.fork(0, 0, 0, 0, 0) }

func sysVfork(t *Task, a *Args) int64 { return t.fork(unix.CLONE_VFORK, 0, 0, 0, 0) }

func sysClone(t *Task, a *Args) int64 {
	// clone(flags, newsp, parent_tid, child_tid, tls)
	return t.clone(a[0], a[1], a[2], a[3], a[4])
}

// sysClone3 reads struct clone_args; the child's stack pointer is
// stack+stack_size, as the kernel computes it.
func sysClone3(t *Task, a *Args) int64 {
	size := a[1]
	if size < 64 || size > 4096 {
		return -int64(unix.EINVAL)
	}
	var b [88]byte
	n := min(int(size), len(b))
	if err := readGuest(a[0], b[:n]); err != nil {
		return errnoOf(err)
	}
	flags, childTID, parentTID := le64(b[0:]), le64(b[16:]), le64(b[24:])
	stack, stackSize, tlsv := le64(b[40:]), le64(b[48:]), le64(b[56:])
	if exitSignal := le64(b[32:]); exitSignal != 0 && flags&unix.CLONE_THREAD != 0 {
		return -int64(unix.EINVAL)
	}
	sp := uint64(0)
	if stack != 0 {
		sp = stack + stackSize
	}
	return t.clone(flags, sp, parentTID, childTID, tlsv)
}

const (
	prGetSeccomp        = 21
	prSetSeccomp        = 22
	prSetMM             = 35
	prSetNoNewPrivs     = 38
	prGetNoNewPrivs     = 39
	prSetSyscallUserDsp = 59
)

// sysPrctl refuses what would change the host's own confinement.
func sysPrctl(t *Task, a *Args) int64 {
	if ret, ok := prctlAnswer(*a); ok {
		return ret
	}
	return passthrough(unix.SYS_PRCTL, a)
}

func sysProcessVMWritev(t *Task, a *Args) int64 {
	if int(int32(a[0])) == pid {
		return -int64(unix.EPERM)
	}
	return passthrough(unix.SYS_PROCESS_VM_WRITEV, a)
}

// procSelfFile names the /proc/self file a path refers to ("exe",
// "auxv"...), or "" when the path is anything else. The process is the
// host's, so these describe the host unless kernelsim answers.
func procSelfFile(path string) string {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return ""
	}
	who, file, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(file, "/") {
		return ""
	}
	if who != "self" && who != "thread-self" && who != strconv.Itoa(pid) {
		return ""
	}
	return file
}

func (t *Task) readlinkAt(dirfd int64, pathAddr, buf, size uint64, nr int, a *Args) int64 {
	path, err := readString(pathAddr, 4096)
	if err != nil {
		return errnoOf(err)
	}
	if procSelfFile(path) != "exe" {
		return passthrough(nr, a)
	}
	if int64(size) <= 0 {
		return -int64(unix.EINVAL)
	}
	b := []byte(t.P.Exe)
	if uint64(len(b)) > size {
		b = b[:size]
	}
	if err := writeGuest(buf, b); err != nil {
		return errnoOf(err)
	}
	return int64(len(b))
}

func sysReadlink(t *Task, a *Args) int64 {
	return t.readlinkAt(unix.AT_FDCWD, a[0], a[1], a[2], unix.SYS_READLINK, a)
}

func sysReadlinkat(t *Task, a *Args) int64 {
	return t.readlinkAt(int64(a[0]), a[1], a[2], a[3], unix.SYS_READLINKAT, a)
}

// openProc opens the guest's view of a /proc/self file, or returns ok=false
// to let the call pass through.
func (t *Task) openProc(path string, flags uint64) (int64, bool) {
	var content []byte
	switch procSelfFile(path) {
	case "cmdline":
		content = nulJoin(t.P.Argv)
	case "environ":
		content = nulJoin(t.P.Envp)
	case "personality":
		content = []byte(fmt.Sprintf("%08x\n", t.personality()))
	case "auxv":
		content = make([]byte, 8*len(t.P.Auxv))
		for i, v := range t.P.Auxv {
			put64(content[8*i:], v)
		}
	case "mem":
		if flags&(unix.O_WRONLY|unix.O_RDWR) != 0 {
			return -int64(unix.EACCES), true
		}
		return 0, false
	case "exe":
		fd, err := unix.Open(t.P.Exe, int(flags), 0)
		if err != nil {
			return errnoOf(err), true
		}
		return int64(fd), true
	default:
		return 0, false
	}
	fd, err := unix.MemfdCreate("vsysbed-proc", memfdFlags(flags))
	if err != nil {
		return errnoOf(err), true
	}
	if _, err := unix.Write(fd, content); err != nil {
		unix.Close(fd)
		return errnoOf(err), true
	}
	unix.Seek(fd, 0, 0)
	return int64(fd), true
}

func memfdFlags(openFlags uint64) int {
	if openFlags&unix.O_CLOEXEC != 0 {
		return unix.MFD_CLOEXEC
	}
	return 0
}

func nulJoin(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

func sysOpen(t *Task, a *Args) int64 {
	if path, err := readString(a[0], 4096); err == nil && strings.HasPrefix(path, "/proc/") {
		if r, ok := t.openProc(path, a[1]); ok {
			return r
		}
	}
	return passthrough(unix.SYS_OPEN, a)
}

func sysOpenat(t *Task, a *Args) int64 {
	path, err := readString(a[1], 4096)
	if err == nil && strings.HasPrefix(path, "/proc/") {
		if r, ok := t.openProc(path, a[2]); ok {
			return r
		}
	}
	r := passthrough(unix.SYS_OPENAT, a)
	if r >= 0 && err == nil && isFDDir(path) {
		t.P.mu.Lock()
		t.P.fdDirs[int(r)] = true
		t.P.mu.Unlock()
	}
	return r
}

// sysGetdents64 hides the host's fds from a listing of /proc/self/fd.
func sysGetdents64(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_GETDENTS64, a)
	fd := int(int32(a[0]))
	t.P.mu.Lock()
	isFDDir := t.P.fdDirs[fd]
	t.P.mu.Unlock()
	if r <= 0 || !isFDDir {
		return r
	}
	buf := make([]byte, r)
	if err := readGuest(a[1], buf); err != nil {
		return errnoOf(err)
	}
	out := buf[:0]
	for off := 0; off+19 <= len(buf); {
		reclen := int(buf[off+16]) | int(buf[off+17])<<8
		if reclen == 0 || off+reclen > len(buf) {
			break
		}
		name := cstring(buf[off+19 : off+reclen])
		if n, err := strconv.Atoi(name); err != nil || !t.P.isHostFD(n) {
			out = append(out, buf[off:off+reclen]...)
		}
		off += reclen
	}
	if err := writeGuest(a[1], out); err != nil {
		return errnoOf(err)
	}
	return int64(len(out))
}

// The host's fds sit in a reserved high range; the guest may not close or
// replace them (fd numbers below the range are exactly Linux's).

func (p *Process) isHostFD(fd int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hostFDs[fd]
}

func sysClose(t *Task, a *Args) int64 {
	fd := int(int32(a[0]))
	if t.P.isHostFD(fd) {
		return -int64(unix.EBADF)
	}
	r := passthrough(unix.SYS_CLOSE, a)
	if r == 0 {
		t.P.mu.Lock()
		delete(t.P.fdDirs, fd)
		t.P.mu.Unlock()
	}
	return r
}

func sysDup2(t *Task, a *Args) int64 {
	if t.P.isHostFD(int(int32(a[1]))) || t.P.isHostFD(int(int32(a[0]))) {
		return -int64(unix.EBADF)
	}
	return passthrough(unix.SYS_DUP2, a)
}

func sysDup3(t *Task, a *Args) int64 {
	if t.P.isHostFD(int(int32(a[1]))) || t.P.isHostFD(int(int32(a[0]))) {
		return -int64(unix.EBADF)
	}
	return passthrough(unix.SYS_DUP3, a)
}

func sysCloseRange(t *Task, a *Args) int64 {
	first, last := uint32(a[0]), uint32(a[1])
	base := uint32(t.P.HostFDBase)
	if first > last {
		return -int64(unix.EINVAL)
	}
	if first >= base {
		return 0
	}
	b := *a
	b[1] = uint64(min(last, base-1))
	return passthrough(unix.SYS_CLOSE_RANGE, &b)
}

func readlinkHost(path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// sysWait4 passes through and tells the report how the collected child
// ended: a child that died without writing its own exit (killed by
// SIGKILL, say) is still accounted for.
func sysWait4(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_WAIT4, a)
	if r > 0 && a[1] != 0 && t.P.Events != nil {
		var b [4]byte
		if readGuest(a[1], b[:]) == nil {
			ws := unix.WaitStatus(le32(b[:]))
			switch {
			case ws.Exited():
				t.P.Events.Reaped(int(r), ws.ExitStatus(), 0)
			case ws.Signaled():
				t.P.Events.Reaped(int(r), 0, ws.Signal())
			}
		}
	}
	return r
}

// isFDDir: path names this process's /proc/self/fd directory, however
// spelled ("/proc/self/fd/", "/proc/PID/fd", "/proc/thread-self/fd").
func isFDDir(path string) bool { return procSelfFile(filepath.Clean(path)) == "fd" }
