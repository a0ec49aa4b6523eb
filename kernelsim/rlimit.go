package kernelsim

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Resource limits the guest sees but the host process does not take on,
// because the host process is more than the guest:
//   - RLIMIT_NOFILE: the host keeps its own fds at HostFDBase (1000) and
//     up, so a guest's `ulimit -n 64` would make every later host fd (a
//     new thread's shard, a fork's link) fail with EINVAL;
//   - RLIMIT_AS, RLIMIT_DATA: the host's Go runtime, its binary and the
//     guest's brk reservation count too, so a guest's `ulimit -v 200000`
//     would leave a forked host process no room to start;
//   - RLIMIT_NPROC: the Go runtime's own threads count for the user;
//   - RLIMIT_FSIZE: the host writes its coverage shards (188 KiB each) and
//     event logs, which a guest's `ulimit -f 10` would cut off (SIGXFSZ).
//
// The guest's value is kept here, inherited by fork, vfork and exec, and
// answered by getrlimit/prlimit. RLIMIT_NPROC is enforced on the guest's
// fork, vfork and clone against the guest's own task count (nproc.go);
// the others are not (a guest that counts on EMFILE, ENOMEM or EFBIG at
// its limit gets further).
var virtualLimits = map[int]bool{
	unix.RLIMIT_NOFILE: true,
	unix.RLIMIT_AS:     true,
	unix.RLIMIT_DATA:   true,
	unix.RLIMIT_NPROC:  true,
	unix.RLIMIT_FSIZE:  true,
}

func limitIn(m map[int]unix.Rlimit, res int) unix.Rlimit {
	if l, ok := m[res]; ok {
		return l
	}
	var l unix.Rlimit
	unix.Getrlimit(res, &l)
	return l
}

// checkNewLimit is setrlimit's validation: soft at most hard, and a
// raised hard limit needs CAP_SYS_RESOURCE (root here).
func checkNewLimit(old, new unix.Rlimit) unix.Errno {
	if new.Cur > new.Max {
		return unix.EINVAL
	}
	if new.Max > old.Max && unix.Geteuid() != 0 {
		return unix.EPERM
	}
	return 0
}

const rlimitSize = int(unsafe.Sizeof(unix.Rlimit{}))

func readRlimit(addr uint64) (unix.Rlimit, error) {
	var b [rlimitSize]byte
	if err := readGuest(addr, b[:]); err != nil {
		return unix.Rlimit{}, err
	}
	return unix.Rlimit{Cur: le64(b[0:]), Max: le64(b[8:])}, nil
}

func writeRlimit(addr uint64, l unix.Rlimit) error {
	var b [rlimitSize]byte
	put64(b[0:], l.Cur)
	put64(b[8:], l.Max)
	return writeGuest(addr, b[:])
}

// rlimitCall answers getrlimit, setrlimit and prlimit64 on the guest's
// own virtual resources in m (the process's, or a vfork child's); other
// resources and other processes pass through. self tells whether a
// prlimit64 pid names the guest process.
func rlimitCall(nr int, a *Args, m map[int]unix.Rlimit, self func(pid int) bool, set func(res int, l unix.Rlimit)) (int64, bool) {
	var res int
	var newAddr, oldAddr uint64
	switch nr {
	case unix.SYS_GETRLIMIT:
		res, oldAddr = int(a[0]), a[1]
	case unix.SYS_SETRLIMIT:
		res, newAddr = int(a[0]), a[1]
	case unix.SYS_PRLIMIT64:
		if !self(int(int32(a[0]))) {
			return 0, false
		}
		res, newAddr, oldAddr = int(a[1]), a[2], a[3]
	default:
		return 0, false
	}
	if !virtualLimits[res] {
		return 0, false
	}
	cur := limitIn(m, res)
	if newAddr != 0 {
		l, err := readRlimit(newAddr)
		if err != nil {
			return errnoOf(err), true
		}
		if e := checkNewLimit(cur, l); e != 0 {
			return -int64(e), true
		}
		defer set(res, l)
	}
	if oldAddr != 0 {
		if err := writeRlimit(oldAddr, cur); err != nil {
			return errnoOf(err), true
		}
	}
	return 0, true
}

func sysRlimit(nr int) Handler {
	return func(t *Task, a *Args) int64 {
		p := t.P
		snapshot := p.limitsCopy()
		self := func(who int) bool { return who == 0 || who == pid }
		set := func(res int, l unix.Rlimit) {
			p.mu.Lock()
			p.limits[res] = l
			p.mu.Unlock()
		}
		if ret, ok := rlimitCall(nr, a, snapshot, self, set); ok {
			return ret
		}
		return passthrough(nr, a)
	}
}

// limitsCopy is what a forked or vfork child inherits.
func (p *Process) limitsCopy() map[int]unix.Rlimit {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[int]unix.Rlimit, len(p.limits))
	for k, v := range p.limits {
		m[k] = v
	}
	return m
}
