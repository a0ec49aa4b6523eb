package inprocess

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
	"github.com/vsysbed/vsysbed/kernelsim"
)

// The spare pool (ARCHITECTURE.md, "Processes"): most of a fork's time is
// its child host process starting (the re-exec, Go's runtime, setup), so
// once a guest process has forked twice, its host process keeps one
// child host process started ahead — a spare — and hands the next fork, vfork or
// posix_spawn to it. A spare is a re-exec of vsysbed as reexec.Fork
// --spare: it sets up all that leaves no trace in the run directory and
// waits on its link. At hand-off the parent checks that the spare was
// started from the state a fresh child would inherit now (spareState:
// credentials, capabilities, namespaces, cgroup, session and terminal,
// personality, nice, affinity, the host's ignored signals and this
// thread's mask), and the spare applies what may have changed since and
// can be (handoff: cwd, umask, process group, resource limits); a spare
// that does not fit is discarded and the fork starts a fresh process.
// kernelsim keeps the spares out of the guest's sight (kernelsim/spare.go).
//
// A spare never outlives its parent: it waits on its link, whose other
// end only the parent holds, and leaves at its EOF (awaitHandoff); nor the
// supervisor (watchSupervisor, as every host process). No
// PR_SET_PDEATHSIG: it fires when the thread that started the spare ends,
// and the spares are started on the forking guest thread (refillPool),
// which may end before its process. A host process that never forks
// starts none.

// poolSize is how many spares a host process keeps: one. A host process
// start is ~10 ms of CPU on the machine the bench runs on; a second spare
// would only help a burst of forks, at that cost every time the guest
// process ends without using it.
const poolSize = 1

// spare is a started spare, waiting on link.
type spare struct {
	pid   int
	link  *os.File
	state string // spareState of the thread that started it
	args  string // its command line: trap mode and rewriting must match
}

var pool struct {
	mu      sync.Mutex
	idle    []*spare
	checked bool // poolUsable asked
	off     bool
	forks   int // child host processes started: spares from the second on
	// compared: the spareState takeSpare read on a thread, which the spare
	// started next on that thread in the same fork call takes as its own
	// (~0.25 ms of /proc reads less per fork). A state another thread
	// changes in between (a setsid, a chroot: process-wide) makes that
	// spare's record the older one, which the next fork then finds
	// different and discards the spare for, as before.
	compared struct {
		tid   int
		mask  uint64
		state string
	}
}

// takeSpare hands a fork's child host process to a spare: its pid and
// link, ok false when there is none that fits (the caller starts a fresh
// one). Called on the forking guest thread, with the host children's
// personality set.
func (pl platform) takeSpare(args []string) (int, *os.File, bool) {
	pool.mu.Lock()
	pool.compared.state = ""
	if len(pool.idle) == 0 {
		pool.mu.Unlock()
		return 0, nil, false
	}
	s := pool.idle[0]
	pool.idle = pool.idle[1:]
	pool.mu.Unlock()
	setForkedPersonality() // as forkExecHost: the state compared includes it
	mask := threadMask()
	cur := spareState(mask)
	pool.mu.Lock()
	pool.compared.tid, pool.compared.mask, pool.compared.state = unix.Gettid(), mask, cur
	pool.mu.Unlock()
	if s.args != strings.Join(args, " ") || s.state != cur {
		discard(s)
		return 0, nil, false
	}
	if err := handoff(s.link); err != nil {
		discard(s)
		return 0, nil, false
	}
	kernelsim.DropSpare(s.pid) // the guest's child from now on
	return s.pid, s.link, true
}

// discard ends a spare that will not be used, and collects it.
func discard(s *spare) {
	s.link.Close()
	unix.Kill(s.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(s.pid, &ws, unix.WALL, nil)
	kernelsim.DropSpare(s.pid)
}

// refillPool tops the pool up on the calling thread (the guest thread
// that forked), with spares started under its signal mask, and returns
// once the spare is started (not yet set up: that goes on in the spare,
// while the guest runs). On this thread because a child's SIGCHLD goes to
// the thread that forked it first: started from a Go thread of their own,
// the spares' SIGCHLDs waited for that thread to get a CPU, and a shell's
// wait returned before its handler ran (guest chldorder: 27 of 100 late,
// where a child started here is never late). And synchronously because
// starting one makes host fds at the lowest free numbers for a moment (the
// link's socketpair, /dev/null, Go's exec pipe, the /proc reads of
// spareState): begun in the background, they showed up among the guest's
// fds (vforkstate saw fds 4, 5 and 6 it never opened).
func (pl platform) refillPool() {
	defer forgetCompared() // used or not: not for a later fork's spare
	pool.mu.Lock()
	if pool.forks++; pool.off || pool.forks < 2 {
		pool.mu.Unlock()
		return
	}
	if !pool.checked {
		pool.checked = true
		if !poolUsable(pl.runDir) {
			pool.off = true
		}
	}
	off := pool.off
	pool.mu.Unlock()
	if off {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if setForkedPersonality() != 0 {
		return
	}
	pl.fill(threadMask())
}

// poolUsable: VSYSBED_FORK_POOL=off turns the pool off; an audited run
// (its gate counts each host process as it starts) and a finite hard
// RLIMIT_NPROC under poolNprocFloor go without.
func poolUsable(runDir string) bool {
	if os.Getenv("VSYSBED_FORK_POOL") == "off" {
		return false
	}
	if _, err := os.Lstat(filepath.Join(runDir, AuditSocket)); err == nil {
		return false
	}
	var l unix.Rlimit
	return unix.Getrlimit(unix.RLIMIT_NPROC, &l) == nil && (l.Max == unix.RLIM_INFINITY || l.Max >= poolNprocFloor)
}

// poolNprocFloor: under a hard RLIMIT_NPROC below this the user's tasks
// are counted closely (nproc.go) and a spare's ~10 would show; the
// distributions' default is the machine's thread limit, far above.
const poolNprocFloor = 4096

// fill starts spares with mask until the pool is full.
func (pl platform) fill(mask uint64) {
	for {
		pool.mu.Lock()
		n := len(pool.idle)
		pool.mu.Unlock()
		if n >= poolSize {
			return
		}
		s, err := pl.startSpare(mask)
		if err != nil {
			return
		}
		pool.mu.Lock()
		pool.idle = append(pool.idle, s)
		pool.mu.Unlock()
	}
}

// startSpare starts one spare, as startHost a fresh child (same link
// number, same 0-2), in a process group of its own, with signal mask
// childMask (a guest thread's). This thread is one of Go's, where the
// signals only guest threads take stay blocked: the mask is the child's
// only from just before the fork, during which Go blocks every signal, to
// just after.
func (pl platform) startSpare(childMask uint64) (*spare, error) {
	flags := pl.hostFlags()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	linkFD, pair := fds[0], fds[1]
	if hfd, err := unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD_CLOEXEC, pl.fdBase+100); err == nil {
		unix.Close(fds[0])
		linkFD = hfd
	}
	args := append(flags, "--link-fd", strconv.Itoa(linkFD), "--spare")
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(linkFD)
		unix.Close(pair)
		return nil, err
	}
	s := &spare{state: comparedState(childMask), args: strings.Join(flags, " ")}
	mask := threadMask()
	started := kernelsim.StartSpare()
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&childMask)), 0, 8, 0, 0)
	s.pid, err = syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(pair)},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	started(s.pid)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	unix.Close(null)
	unix.Close(pair)
	if err != nil {
		unix.Close(linkFD)
		return nil, err
	}
	s.link = os.NewFile(uintptr(linkFD), "spare")
	// The fork state's gob prelude, which the spare decodes while it
	// waits (kernelsim.PrimeAdopt).
	prelude, err := kernelsim.ForkPrelude()
	if err == nil {
		err = fdpass.SendAll(s.link, prelude)
	}
	if err != nil {
		discard(s)
		return nil, err
	}
	return s, nil
}

// comparedState is spareState(mask), as takeSpare read it on this thread
// in this fork call (pool.compared), once; it forgets it.
func comparedState(mask uint64) string {
	pool.mu.Lock()
	c := pool.compared
	pool.compared.state = ""
	pool.mu.Unlock()
	if c.state != "" && c.tid == unix.Gettid() && c.mask == mask {
		return c.state
	}
	return spareState(mask)
}

func forgetCompared() {
	pool.mu.Lock()
	pool.compared.state = ""
	pool.mu.Unlock()
}

func threadMask() uint64 {
	var mask uint64
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, uintptr(unsafe.Pointer(&mask)), 8, 0, 0)
	return mask
}

// spareState is what a child host process inherits from the calling
// thread and this process that a spare cannot change at hand-off, with
// the signal mask it starts with: a spare fits only if the thread that
// started it had the same.
func spareState(mask uint64) string {
	var b strings.Builder
	if st, err := os.ReadFile("/proc/thread-self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			k, _, _ := strings.Cut(line, ":")
			switch k {
			case "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
				"NoNewPrivs", "Seccomp", "Seccomp_filters", "SigIgn", "Cpus_allowed_list":
				b.WriteString(line)
				b.WriteByte('\n')
			}
		}
	}
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid_for_children", "time_for_children", "user", "uts"} {
		l, _ := os.Readlink("/proc/thread-self/ns/" + ns)
		b.WriteString(l + "\n")
	}
	for _, f := range []string{"/proc/self/cgroup", "/proc/self/oom_score_adj"} {
		c, _ := os.ReadFile(f)
		b.Write(c)
	}
	// Session and controlling terminal: fields 6 and 7 of stat.
	if st, err := os.ReadFile("/proc/thread-self/stat"); err == nil {
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 {
			if f := strings.Fields(string(st[i+1:])); len(f) > 4 {
				b.WriteString(f[3] + " " + f[4] + "\n")
			}
		}
	}
	var root unix.Stat_t
	unix.Stat("/proc/thread-self/root/", &root)
	prio, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
	persona, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	policy, _, _ := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	slack, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	thp, _ := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	secbits, _ := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	ioprio, _, _ := unix.RawSyscall(unix.SYS_IOPRIO_GET, 1, 0, 0) // IOPRIO_WHO_PROCESS, this thread
	fmt.Fprintf(&b, "%d:%d %d %x %d %d %d %d %d %x\n", root.Dev, root.Ino, prio, persona, policy, slack, thp, secbits, ioprio, mask)
	return b.String()
}

// The hand-off record: the state a spare takes on, as a fresh child
// would have inherited it — umask, process group and the host's resource
// limits, then the cwd as an O_PATH fd.
const handoffMagic = 0x68 // 'h'

type handoffRecord struct {
	Magic  uint32
	Umask  uint32
	Pgid   int32
	_      int32
	Limits [rlimitCount][2]uint64
}

const rlimitCount = 16 // RLIMIT_CPU .. RLIMIT_RTTIME

// handoff sends a spare the record and waits for its "ok".
func handoff(link *os.File) error {
	var rec handoffRecord
	rec.Magic = handoffMagic
	um := unix.Umask(0)
	unix.Umask(um)
	rec.Umask = uint32(um)
	rec.Pgid = int32(unix.Getpgrp())
	for r := 0; r < rlimitCount; r++ {
		var l unix.Rlimit
		if err := unix.Prlimit(0, r, nil, &l); err != nil {
			return err
		}
		rec.Limits[r] = [2]uint64{l.Cur, l.Max}
	}
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(cwd)
	buf := make([]byte, unsafe.Sizeof(rec))
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(&rec)), len(buf)))
	if err := fdpass.SendAll(link, buf); err != nil {
		return err
	}
	if err := fdpass.SendFDs(int(link.Fd()), []int{cwd}); err != nil {
		return err
	}
	return expectOK(link)
}

func expectOK(r io.Reader) error {
	var b []byte
	var c [1]byte
	for {
		if _, err := r.Read(c[:]); err != nil {
			return err
		}
		if c[0] == '\n' {
			break
		}
		b = append(b, c[0])
	}
	if string(b) != "ok" {
		return errors.New(strings.TrimPrefix(string(b), "error: "))
	}
	return nil
}

// awaitHandoff is the spare's half: it waits for the record (false: the
// parent discarded it or is gone), takes the state on and answers.
func awaitHandoff(link *os.File, fdBase int) bool {
	var rec handoffRecord
	buf := make([]byte, unsafe.Sizeof(rec))
	if _, err := io.ReadFull(link, buf); err != nil {
		return false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&rec)), len(buf)), buf)
	if rec.Magic != handoffMagic {
		return false
	}
	fds, err := fdpass.ReceiveFDs(link, 1, fdBase+200)
	if err != nil {
		return false
	}
	err = adoptHandoff(&rec, fds[0])
	unix.Close(fds[0])
	answer := "ok\n"
	if err != nil {
		answer = "error: " + err.Error() + "\n"
	}
	return fdpass.SendAll(link, []byte(answer)) == nil && err == nil
}

func adoptHandoff(rec *handoffRecord, cwd int) error {
	// A fresh child has no parent-death signal: its guest may outlive
	// its parent (a spare is started without one; cleared all the same).
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return err
	}
	if err := unix.Fchdir(cwd); err != nil {
		return fmt.Errorf("fchdir: %w", err)
	}
	unix.Umask(int(rec.Umask))
	if err := unix.Setpgid(0, int(rec.Pgid)); err != nil {
		return fmt.Errorf("setpgid %d: %w", rec.Pgid, err)
	}
	for r := 0; r < rlimitCount; r++ {
		l := unix.Rlimit{Cur: rec.Limits[r][0], Max: rec.Limits[r][1]}
		if err := unix.Prlimit(0, r, &l, nil); err != nil {
			return fmt.Errorf("rlimit %d: %w", r, err)
		}
	}
	return nil
}
