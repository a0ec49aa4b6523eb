package kernelsim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// /proc/self/status, /proc/self/stat and the task directory describe the
// host process: its Go threads, the host's real signal masks and handlers,
// its seccomp filter. The guest sees them rewritten from the guest's own
// state (every spelling: self, thread-self, the pid, task/TID).

// procTarget is what a /proc path of this process names: the file, and
// the thread (0: the process, that is its main thread).
type procTarget struct {
	file string
	tid  int
}

// parseProcSelf recognises /proc/{self,thread-self,PID}/FILE and
// /proc/{self,PID}/task/TID/FILE of this process; callerTid stands for
// thread-self.
func parseProcSelf(path string, callerTid int) (procTarget, bool) {
	rest, ok := strings.CutPrefix(filepath.Clean(path), "/proc/")
	if !ok {
		return procTarget{}, false
	}
	parts := strings.Split(rest, "/")
	var pt procTarget
	switch parts[0] {
	case "self":
	case "thread-self":
		pt.tid = callerTid
	default:
		if parts[0] != strconv.Itoa(pid) {
			return procTarget{}, false
		}
	}
	parts = parts[1:]
	if len(parts) == 3 && parts[0] == "task" {
		tid, err := strconv.Atoi(parts[1])
		if err != nil || tid <= 0 {
			return procTarget{}, false
		}
		pt.tid = tid
		parts = parts[2:]
	}
	if len(parts) != 1 {
		return procTarget{}, false
	}
	pt.file = parts[0]
	return pt, true
}

// Confinement is what the guest's status shows of the host's seccomp and
// no_new_privs fields: the values vsysbed was started with, before it
// installed its own filter (a native run of the program has them).
type Confinement struct {
	Seccomp, SeccompFilters, NoNewPrivs string
	// Undumpable is the guest's PR_SET_DUMPABLE 0 (prctl.go), never
	// applied to the host: a host process that is not dumpable cannot
	// read its own /proc files or write a fork child's memory.
	Undumpable bool
}

// ReadConfinement reads the confinement fields of this process's status:
// the caller's, when done before the trap filter is installed.
func ReadConfinement() Confinement {
	c := Confinement{Seccomp: "0", SeccompFilters: "0", NoNewPrivs: "0"}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Seccomp":
			c.Seccomp = v
		case "Seccomp_filters":
			c.SeccompFilters = v
		case "NoNewPrivs":
			c.NoNewPrivs = v
		}
	}
	return c
}

// sigView is one thread's signal state as status and stat show it.
type sigView struct {
	threads                  int
	pending, shared, blocked uint64
	ignored, caught          uint64
}

// sigViewOf is the view of thread tid (0: the main thread), or ok=false
// when tid is none of the guest's threads.
func (p *Process) sigViewOf(tid int) (sigView, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var v sigView
	var who *Task
	for _, t := range p.tasks {
		v.threads++
		if (tid == 0 && int(t.CB.Tid) == pid) || int(t.CB.Tid) == tid {
			who = t
		}
	}
	if who == nil {
		if tid != 0 {
			return v, false
		}
		who = p.mainTask()
		if who == nil {
			return v, false
		}
	}
	v.pending, v.shared, v.blocked = who.pending.mask, p.sig.pending.mask, who.sigmask
	for s := 1; s <= nsig; s++ {
		switch p.sig.actions[s].handler {
		case sigDfl:
		case sigIgn:
			v.ignored |= bit(s)
		default:
			v.caught |= bit(s)
		}
	}
	return v, true
}

// guestStatus rewrites a status file of the host's with the guest's view.
func guestStatus(host []byte, v sigView, conf Confinement) []byte {
	return rewriteStatus(host, func(key, _ string) string {
		switch key {
		case "Threads":
			return strconv.Itoa(v.threads)
		case "SigPnd":
			return fmt.Sprintf("%016x", v.pending)
		case "ShdPnd":
			return fmt.Sprintf("%016x", v.shared)
		case "SigBlk":
			return fmt.Sprintf("%016x", v.blocked)
		case "SigIgn":
			return fmt.Sprintf("%016x", v.ignored)
		case "SigCgt":
			return fmt.Sprintf("%016x", v.caught)
		case "Seccomp":
			return conf.Seccomp
		case "Seccomp_filters":
			return conf.SeccompFilters
		case "NoNewPrivs":
			return conf.NoNewPrivs
		}
		return ""
	})
}

// rewriteStatus is a status file with the value of each "key:\tvalue" line
// that val gives one for ("" keeps the line as it is).
func rewriteStatus(host []byte, val func(key, value string) string) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(host), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			if nv := val(k, v); nv != "" {
				line = k + ":\t" + nv + "\n"
			}
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

// guestStat rewrites a stat file of the host's: num_threads (field 20)
// and the obsolete signal fields 31-34 (pending, blocked, ignored, caught,
// in decimal, signals 1-31 only).
func guestStat(host []byte, v sigView) []byte {
	head, fields, ok := statFields(host)
	if !ok {
		return host
	}
	set := func(n int, val string) {
		if n-3 < len(fields) {
			fields[n-3] = val
		}
	}
	set(20, strconv.Itoa(v.threads))
	// Obsolete: only the first 31 signals, as Linux prints them.
	const low31 = 0x7fffffff
	set(31, strconv.FormatUint((v.pending|v.shared)&low31, 10))
	set(32, strconv.FormatUint(v.blocked&low31, 10))
	set(33, strconv.FormatUint(v.ignored&low31, 10))
	set(34, strconv.FormatUint(v.caught&low31, 10))
	return []byte(head + " " + strings.Join(fields, " ") + "\n")
}

// statFields splits a /proc stat line into "pid (comm)" and the fields
// from 3 on (fields[n-3] is field n). The command name may hold spaces and
// parentheses: the fields start after its last ')'.
func statFields(b []byte) (head string, fields []string, ok bool) {
	s := strings.TrimRight(string(b), "\n")
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", nil, false
	}
	return s[:i+1], strings.Fields(s[i+1:]), true
}

// procStatusContent is the guest's status or stat of target, or ok=false
// to let the open pass through.
func (t *Task) procStatusContent(path string) ([]byte, bool, int64) {
	pt, ok := parseProcSelf(path, int(t.CB.Tid))
	if !ok || (pt.file != "status" && pt.file != "stat") || !t.guest.ownsThreads() {
		return nil, false, 0
	}
	v, ok := t.P.sigViewOf(pt.tid)
	if !ok {
		return nil, true, errNoEntry // a host thread: not the guest's
	}
	real := "/proc/self/" + pt.file
	if pt.tid != 0 {
		real = "/proc/self/task/" + strconv.Itoa(pt.tid) + "/" + pt.file
	}
	host, err := machine.ReadFile(real)
	if err != nil {
		return nil, true, errnoOf(err)
	}
	if pt.file == "stat" {
		return guestStat(host, v), true, 0
	}
	return guestStatus(host, v, t.P.confinement), true, 0
}

// guestTids is the test that leaves the host's threads out of a listing
// of this process's task directory.
func (p *Process) hiddenTids() func(int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	guest := map[int]bool{}
	for _, t := range p.tasks {
		guest[int(t.CB.Tid)] = true
	}
	return func(tid int) bool { return !guest[tid] }
}

// taskDirFilter: fd is open on this process's task directory.
func (p *Process) taskDirFilter(fd int) func(int) bool {
	target, err := fdLink(fd)
	if err != nil || target != "/proc/"+strconv.Itoa(pid)+"/task" {
		return nil
	}
	return p.hiddenTids()
}

// threadName is the calling thread's comm.
func threadName() string {
	var b [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
		return ""
	}
	return cstring(b[:])
}

// SetThreadName sets the calling thread's comm (Linux keeps 15 bytes):
// the guest's name for its host thread, so that /proc/PID/comm, ps, pgrep
// and pidof name the guest, not vsysbed.
func SetThreadName(name string) {
	if name == "" {
		return
	}
	if len(name) > 15 {
		name = name[:15]
	}
	b := append([]byte(name), 0)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// SetProcessTitle makes this host process's command line (what other
// processes read in /proc/PID/cmdline: ps, pidof) the guest's argv, by
// writing it over the argument strings the kernel placed on the stack, as
// setproctitle does: cut to their length (argv[0] is what pidof needs),
// the rest zeroed. (prctl(PR_SET_MM_ARG_START) would point the kernel
// elsewhere, but needs CAP_SYS_RESOURCE.) Go's os.Args and flag values
// point into those strings: the host process copies them first
// (platform/inprocess's detachArgs), and the environment strings after them are
// left alone.
func SetProcessTitle(argv []string) {
	title := nulJoin(argv)
	start, end, ok := hostArgArea()
	if !ok || len(title) == 0 {
		return
	}
	area := unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(start))), end-start)
	n := copy(area[:len(area)-1], title)
	clear(area[n:]) // the last byte stays NUL: the kernel reads no further
}

// argArea is where the kernel placed this process's argument strings
// (/proc/self/stat's arg_start and arg_end), which only PR_SET_MM moves:
// read once, and by a spare while it waits (WarmAdopt) — reading stat was
// ~0.1 ms of a fork child's adoption.
var argArea struct {
	once       sync.Once
	start, end uint64
	ok         bool
}

func hostArgArea() (start, end uint64, ok bool) {
	a := &argArea
	a.once.Do(func() {
		b, err := os.ReadFile("/proc/self/stat")
		if err != nil {
			return
		}
		_, f, ok := statFields(b)
		if !ok || len(f) < 49-2 {
			return
		}
		start, err1 := strconv.ParseUint(f[48-3], 10, 64)
		end, err2 := strconv.ParseUint(f[49-3], 10, 64)
		if err1 != nil || err2 != nil || end <= start || end-start > 1<<20 {
			return
		}
		a.start, a.end, a.ok = start, end, true
	})
	return a.start, a.end, a.ok
}

// TracedView is the status or stat file (named by file) of a process of a
// ptrace-platform run as a native run shows it. The process runs natively
// and the kernel's signal fields are its own, but three things are the
// tracer's: TracerPid, the seccomp filter (and the no_new_privs it
// needed) and the ptrace stops, state "t (tracing stop)", which a native
// process spends running instead (its syscalls, its first instructions
// after fork). conf is what vsysbed was started with, noNewPrivs the
// guest's own PR_SET_NO_NEW_PRIVS, stopped that the tracer holds the
// thread in its group stop ("T").
func TracedView(file string, host []byte, conf Confinement, noNewPrivs, stopped bool) []byte {
	state, stateLine := "R", "R (running)"
	if stopped {
		state, stateLine = "T", "T (stopped)"
	}
	if file == "stat" {
		head, fields, ok := statFields(host)
		if !ok || len(fields) == 0 || fields[0] != "t" {
			return host
		}
		fields[0] = state
		return []byte(head + " " + strings.Join(fields, " ") + "\n")
	}
	nnp := conf.NoNewPrivs
	if noNewPrivs {
		nnp = "1"
	}
	return rewriteStatus(host, func(key, v string) string {
		switch key {
		case "State":
			if strings.HasPrefix(strings.TrimSpace(v), "t") {
				return stateLine
			}
		case "TracerPid":
			return "0"
		case "Seccomp":
			return conf.Seccomp
		case "Seccomp_filters":
			return conf.SeccompFilters
		case "NoNewPrivs":
			return nnp
		}
		return ""
	})
}
