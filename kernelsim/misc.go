package kernelsim

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

const futexWake = 1 // FUTEX_WAKE, shared: the kernel's own CLEARTID wake

// taskSizeMax is the end of the user address space (TASK_SIZE_MAX: the
// last page below 1<<47 is never the user's), the first FS base
// ARCH_SET_FS refuses.
const taskSizeMax = 1<<47 - pageSize

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
		if a[1] >= taskSizeMax {
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
	if !last {
		p.retarget(t)
	}
	p.mu.Unlock()
	if last {
		t.exitProcess(int(a[0]))
	}
	// CLONE_CHILD_CLEARTID is done in Task.left, once the thread is off
	// its control block: the joiner's next pthread_create then finds the
	// block free. Linux too clears the word only as the thread is torn
	// down (mm_release), after it ran its last user instruction.
	t.clearTID = t.tidAddress
	t.CB.Flags |= cblock.FlagLeave
	return 0
}

func sysFork(t *Task, a *Args) int64 { return t.fork(0, 0, 0, 0, 0) }

func sysVfork(t *Task, a *Args) int64 { return t.fork(unix.CLONE_VFORK, 0, 0, 0, 0) }

func sysClone(t *Task, a *Args) int64 {
	// clone(flags, newsp, parent_tid, child_tid, tls)
	if e := cloneFlagsCheck(a[0]); e != 0 {
		return e
	}
	return t.clone(a[0], a[1], a[2], a[3], a[4])
}

// sysClone3 reads struct clone_args; the child's stack pointer is
// stack+stack_size, as the kernel computes it.
// clone3's struct clone_args: the sizes Linux knows, and flags that only
// clone3 takes.
const (
	cloneArgsSizeVer0  = 64
	cloneArgsSize      = 88 // CLONE_ARGS_SIZE_VER2: flags … cgroup
	cloneClearSighand  = 1 << 32
	cloneIntoCgroup    = 1 << 33
	cloneLegacyFlags   = 0xffffffff
	cloneSignalBits    = 0xff // CSIGNAL
	cloneDetached      = 0x00400000
	cloneNewtime       = 0x00000080
	maxPidNamespaceLvl = 32
)

func sysClone3(t *Task, a *Args) int64 {
	size := a[1]
	// copy_clone_args_from_user: a struct larger than a page is E2BIG,
	// one below the first version EINVAL, and a larger one than the
	// kernel knows must be zero beyond what it knows (E2BIG).
	if size > pageSize {
		return -int64(unix.E2BIG)
	}
	if size < cloneArgsSizeVer0 {
		return -int64(unix.EINVAL)
	}
	raw := make([]byte, size)
	if err := readGuest(a[0], raw); err != nil {
		return errnoOf(err)
	}
	for _, c := range raw[min(size, cloneArgsSize):] {
		if c != 0 {
			return -int64(unix.E2BIG)
		}
	}
	var b [cloneArgsSize]byte
	copy(b[:], raw)
	flags, childTID, parentTID := le64(b[0:]), le64(b[16:]), le64(b[24:])
	exitSignal := le64(b[32:])
	stack, stackSize, tlsv := le64(b[40:]), le64(b[48:]), le64(b[56:])
	setTID, setTIDSize, cgroup := le64(b[64:]), le64(b[72:]), le64(b[80:])
	switch {
	case setTIDSize > maxPidNamespaceLvl,
		setTID == 0 && setTIDSize > 0,
		setTID != 0 && setTIDSize == 0,
		exitSignal&^cloneSignalBits != 0 || exitSignal > nsig,
		flags&cloneIntoCgroup != 0 && (cgroup > 1<<31-1 || size < cloneArgsSize),
		// clone3_args_valid
		flags&^(cloneLegacyFlags|cloneClearSighand|cloneIntoCgroup) != 0,
		flags&(cloneDetached|(cloneSignalBits&^cloneNewtime)) != 0,
		flags&(unix.CLONE_SIGHAND|cloneClearSighand) == unix.CLONE_SIGHAND|cloneClearSighand,
		flags&(unix.CLONE_THREAD|unix.CLONE_PARENT) != 0 && exitSignal != 0,
		stack == 0 && stackSize != 0,
		stack != 0 && stackSize == 0:
		return -int64(unix.EINVAL)
	}
	if e := cloneFlagsCheck(flags); e != 0 {
		return e
	}
	sp := uint64(0)
	if stack != 0 {
		sp = stack + stackSize
	}
	return t.clone(flags&cloneLegacyFlags, sp, parentTID, childTID, tlsv)
}

// cloneFlagsCheck is copy_process's check of flag combinations, for clone
// and clone3 alike: EINVAL.
func cloneFlagsCheck(flags uint64) int64 {
	switch {
	case flags&(unix.CLONE_NEWNS|unix.CLONE_FS) == unix.CLONE_NEWNS|unix.CLONE_FS,
		flags&(unix.CLONE_NEWUSER|unix.CLONE_FS) == unix.CLONE_NEWUSER|unix.CLONE_FS,
		flags&unix.CLONE_THREAD != 0 && flags&unix.CLONE_SIGHAND == 0,
		flags&unix.CLONE_SIGHAND != 0 && flags&unix.CLONE_VM == 0:
		return -int64(unix.EINVAL)
	}
	return 0
}

const (
	prGetSeccomp        = 21
	prSetSeccomp        = 22
	prSetMM             = 35
	prGetDumpable       = 3
	prSetDumpable       = 4
	prSetNoNewPrivs     = 38
	prGetNoNewPrivs     = 39
	prSetSyscallUserDsp = 59
)

// sysPrctl refuses what would change the host's own confinement.
func sysPrctl(t *Task, a *Args) int64 {
	if ret, ok := t.P.noNewPrivs(*a); ok {
		return ret
	}
	if ret, ok := t.P.dumpable(*a); ok {
		return ret
	}
	if ret, ok := prctlAnswer(*a); ok {
		return ret
	}
	return passthrough(unix.SYS_PRCTL, a)
}

// noNewPrivs answers PR_SET_NO_NEW_PRIVS and PR_GET_NO_NEW_PRIVS with the
// guest's own flag: the host set its own for the trap filter, the guest's
// starts as the caller's and goes with the Confinement to fork, vfork and
// exec children (status shows it too). Setting it cannot be undone.
func (p *Process) noNewPrivs(a Args) (int64, bool) {
	switch a[0] {
	case prSetNoNewPrivs:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -int64(unix.EINVAL), true
		}
		p.mu.Lock()
		p.confinement.NoNewPrivs = "1"
		p.mu.Unlock()
		return 0, true
	case prGetNoNewPrivs:
		if a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -int64(unix.EINVAL), true
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.confinement.NoNewPrivs == "1" {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// dumpable answers PR_SET_DUMPABLE and PR_GET_DUMPABLE with the guest's
// own flag, inherited by fork (and shared by vfork, as Linux keeps it in
// the mm) and reset by exec.
func (p *Process) dumpable(a Args) (int64, bool) {
	switch a[0] {
	case prSetDumpable:
		if a[1] > 1 {
			return -int64(unix.EINVAL), true
		}
		p.mu.Lock()
		p.confinement.Undumpable = a[1] == 0
		p.mu.Unlock()
		return 0, true
	case prGetDumpable:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.confinement.Undumpable {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

// sysProcessVMWritev: our own pid, and every other host process of the
// tree (a fork child's host memory shares its address space with its
// guest, as ours does), are refused.
func sysProcessVMWritev(t *Task, a *Args) int64 {
	if ofTree(int(int32(a[0]))) {
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
	if strings.HasPrefix(path, "/proc/") && t.P.hostFDPath(path) {
		return errNoEntry
	}
	exe := procSelfFile(path) == "exe"
	name := procNameOf(int(int32(dirfd)), path)
	if path == "" && dirfd >= 0 { // an O_PATH fd of the link itself
		name, _ = readlinkHost("/proc/thread-self/fd/" + itoa(int(dirfd)))
	}
	if name != "" {
		if t.P.hostFDPath(name) {
			return errNoEntry
		}
		e, ok := parseProcEntry(name)
		exe = exe || ok && e.pid == pid && e.file == "exe"
	}
	if !exe {
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

// openProc opens the guest's view of the /proc file of this process the
// kernel calls name, or returns ok=false to let the open pass through.
func (t *Task) openProc(file string, flags uint64, name string) (int64, bool) {
	if c, ok, errno := t.procStatusContent(name); ok {
		if errno != 0 {
			return errno, true
		}
		return t.P.procFile(c, flags)
	}
	var content []byte
	switch file {
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
	default:
		return 0, false
	}
	return t.P.procFile(content, flags)
}

// procFile is an fd the guest reads content from, as from a /proc file
// opened with flags (Platform.ProcFile).
func (p *Process) procFile(content []byte, flags uint64) (int64, bool) {
	fd, errno := p.plat.ProcFile(content, flags&unix.O_CLOEXEC != 0)
	if errno != 0 {
		return -int64(errno), true
	}
	return int64(fd), true
}

func nulJoin(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

// sysGetdents64 hides the host's fds from a listing of an fd directory,
// its threads from the task directory, its mappings from map_files.
func sysGetdents64(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_GETDENTS64, a)
	if r <= 0 {
		return r
	}
	fd := int(int32(a[0]))
	hidden := t.P.fdDirFilter(fd)
	if hidden == nil {
		hidden = t.P.taskDirFilter(fd)
	}
	var hiddenName func(string) bool
	if hidden == nil {
		hiddenName = t.P.mapFilesDirFilter(fd)
	}
	if hidden == nil && hiddenName == nil {
		return r
	}
	// A buffer whose entries were all hidden reads on: 0 is the end of
	// the directory to the guest.
	for r > 0 {
		buf := make([]byte, r)
		if err := readGuest(a[1], buf); err != nil {
			return errnoOf(err)
		}
		var out []byte
		if hidden != nil {
			out = filterDirents(buf, hidden)
		} else {
			out = filterDirentNames(buf, hiddenName)
		}
		if len(out) > 0 {
			if err := writeGuest(a[1], out); err != nil {
				return errnoOf(err)
			}
			return int64(len(out))
		}
		r = passthrough(unix.SYS_GETDENTS64, a)
	}
	return r
}

// The host's fds sit in a reserved high range and do not exist for the
// guest: the C entry fails every call that names one with EBADF before it
// gets here (fdargs.go); fd numbers below the range are exactly Linux's.

func isHostFD(fd int) bool { return entry.IsHostFD(fd) }

func sysClose(t *Task, a *Args) int64 {
	fd := int(int32(a[0]))
	r := passthrough(unix.SYS_CLOSE, a)
	if r == 0 {
		entry.MarkGuestFD(fd, false)
		t.P.closeSignalfd(fd)
		t.P.forgetMaps(fd)
	}
	return r
}

// dup2 and dup3 may make any free number the guest's, a high one too; a
// number the host holds is not free (EBADF: the guest may not replace it).
// sysDup2 and sysDup3 check both fds: a host fd as the target is EBADF
// when the host holds it (a free one the guest may take), as the source
// always; in Linux's order (ksys_dup3): dup3's EINVALs, a target beyond
// RLIMIT_NOFILE, then the table grows to hold the target, and only then is
// the source looked up, so even a failing call grows the guest's table.
func sysDup2(t *Task, a *Args) int64 {
	oldfd, newfd := int(int32(a[0])), uint32(a[1])
	if isHostFD(oldfd) {
		if uint32(oldfd) != newfd {
			t.raiseForDup(newfd)
		}
		return -int64(unix.EBADF)
	}
	if hostHolds(int(int32(newfd))) {
		return -int64(unix.EBADF)
	}
	t.raiseForDup(newfd)
	return passthrough(unix.SYS_DUP2, a)
}

func sysDup3(t *Task, a *Args) int64 {
	oldfd, newfd := int(int32(a[0])), uint32(a[1])
	if a[2]&^unix.O_CLOEXEC != 0 || uint32(oldfd) == newfd {
		return -int64(unix.EINVAL)
	}
	if isHostFD(oldfd) {
		t.raiseForDup(newfd)
		return -int64(unix.EBADF)
	}
	if hostHolds(int(int32(newfd))) {
		return -int64(unix.EBADF)
	}
	t.raiseForDup(newfd)
	return passthrough(unix.SYS_DUP3, a)
}

// raiseForDup records that the guest's table grows to hold newfd, unless
// newfd is beyond RLIMIT_NOFILE (EBADF before any growth).
func (t *Task) raiseForDup(newfd uint32) {
	t.P.mu.Lock()
	lim := limitIn(t.P.limits, unix.RLIMIT_NOFILE)
	t.P.mu.Unlock()
	if uint64(newfd) < lim.Cur {
		entry.RaiseFDHigh(int(newfd))
	}
}

// hostHolds: fd is one of the host's and open.
func hostHolds(fd int) bool {
	if !isHostFD(fd) {
		return false
	}
	return fdOpen(fd)
}

const closeRangeCloexec = 1 << 2 // CLOSE_RANGE_CLOEXEC

// sysCloseRange closes the guest's fds of the range: below the host's
// base in one call, and at or above it only those the guest holds there.
func sysCloseRange(t *Task, a *Args) int64 {
	first, last, flags := uint32(a[0]), uint32(a[1]), a[2]
	base := uint32(t.P.HostFDBase)
	if first > last {
		return -int64(unix.EINVAL)
	}
	if first < base {
		b := *a
		b[1] = uint64(min(last, base-1))
		if r := passthrough(unix.SYS_CLOSE_RANGE, &b); r != 0 {
			return r
		}
	}
	if last < base {
		return 0
	}
	for _, fd := range guestHighFDs("/proc/thread-self/fd", int(base)) {
		if uint32(fd) < first || uint32(fd) > last {
			continue
		}
		if flags&closeRangeCloexec != 0 {
			hostFcntl(fd, unix.F_SETFD, unix.FD_CLOEXEC)
		} else if hostClose(fd) == nil {
			entry.MarkGuestFD(fd, false)
		}
	}
	return 0
}

// guestFDs lists the guest's fds in the fd directory dir (the calling
// thread's table: /proc/thread-self/fd), the host's left out.
func guestFDs(dir string) []int {
	var fds []int
	for _, fd := range fdNumbers(dir) {
		if !isHostFD(fd) {
			fds = append(fds, fd)
		}
	}
	return fds
}

// guestHighFDs: the guest's fds at or above the host's base.
func guestHighFDs(dir string, base int) []int {
	var high []int
	for _, fd := range guestFDs(dir) {
		if fd >= base {
			high = append(high, fd)
		}
	}
	return high
}

func itoa(i int) string { return strconv.Itoa(i) }

// sysWait4 passes through and tells the report how the collected child
// ended: a child that died without writing its own exit (killed by
// SIGKILL, say) is still accounted for.
func sysWait4(t *Task, a *Args) int64 {
	var r int64
	if int32(a[0]) == -1 {
		r = waitForAny(func() int64 { return passthrough(unix.SYS_WAIT4, a) }, func(r int64) int { return int(r) })
	} else {
		r = passthrough(unix.SYS_WAIT4, a)
	}
	if r > 0 {
		t.settleChildSignal()
	}
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

// sysWaitid: a wait for any child does not see the spare host processes
// (spare.go). A spare that ended is left to the next wait4: waitid may be
// WNOWAIT, which would find it again.
func sysWaitid(t *Task, a *Args) int64 {
	if a[0] == unix.P_ALL && onlySpares() {
		return -int64(unix.ECHILD)
	}
	r := passthrough(unix.SYS_WAITID, a)
	if r == 0 && a[2] != 0 && a[3]&unix.WNOWAIT == 0 {
		if pid, err := readU32(a[2] + 16); err == nil && pid != 0 { // si_pid: 0 when WNOHANG found none
			t.settleChildSignal()
		}
	}
	return r
}

// sysTimerGetoverrun answers from the guest's own dequeues: the host
// kernel took each timer signal as it arrived, so its count is only what
// came after (pendingSet.add sums them while the guest's signal pends).
func sysTimerGetoverrun(t *Task, a *Args) int64 {
	if v, ok := timerOverruns.Load(int32(a[0])); ok {
		if r := passthrough(unix.SYS_TIMER_GETOVERRUN, a); r < 0 {
			return r // not a timer (any more): EINVAL
		}
		return v.(int64)
	}
	return passthrough(unix.SYS_TIMER_GETOVERRUN, a)
}

func sysTimerDelete(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_TIMER_DELETE, a)
	if r == 0 {
		timerOverruns.Delete(int32(a[0]))
		threadTimers.Delete(int32(a[0]))
	}
	return r
}

const sigevThreadID = 4 // SIGEV_THREAD_ID

// sysTimerCreate records which timers signal one thread (SIGEV_THREAD_ID):
// their host signal stays that thread's (absorbHostSignals).
func sysTimerCreate(t *Task, a *Args) int64 {
	threadID := false
	if a[1] != 0 {
		var ev [16]byte // struct sigevent: sigval, signo, notify, …
		if readGuest(a[1], ev[:]) == nil {
			threadID = int32(le32(ev[12:]))&sigevThreadID != 0
		}
	}
	r := passthrough(unix.SYS_TIMER_CREATE, a)
	if r == 0 {
		if id, err := readU32(a[2]); err == nil {
			timerOverruns.Delete(int32(id))
			if threadID {
				threadTimers.Store(int32(id), true)
			} else {
				threadTimers.Delete(int32(id))
			}
		}
	}
	return r
}
