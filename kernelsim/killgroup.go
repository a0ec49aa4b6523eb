package kernelsim

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/rundir"
)

// The run directory records the supervisor (rundir.WriteSupervisor): a
// process of the guest's group (or of its user) that is not the guest's,
// so kill(0), kill(-pgid) and kill(-1) leave it out.
var supervisor struct {
	once sync.Once
	pid  int
}

func (p *Process) supervisorPID() int {
	supervisor.once.Do(func() {
		supervisor.pid, _, _ = rundir.ReadSupervisor(p.runDir)
	})
	return supervisor.pid
}

// killMany is kill(2) for a process group (target 0 or < -1) or every
// process (-1). The other processes are real ones, the guest's or not,
// signalled by the kernel one by one; the caller's own signal goes through
// kernelsim's queue (a real one would reach the host, not the guest's
// state), and the supervisor, which is not the guest's, is left out.
// Linux does it atomically; here a process that joins the group during the
// scan can be missed.
func (t *Task) killMany(target, sig int) int64 {
	if target == math.MinInt32 {
		return -int64(unix.ESRCH) // -INT_MIN is no pid
	}
	skip := map[int]bool{pid: true, t.P.supervisorPID(): true}
	g, _ := hostCall(unix.SYS_GETPGID, 0) // the host process's group is the guest's
	own := int(g)
	group := -target
	if target == 0 {
		group = own
	}
	var pids []int
	if target == -1 {
		skip[1] = true
		pids = listProcesses(func(int) bool { return true })
		for _, q := range pids {
			if isSpare(q) {
				skip[q] = true // not the guest's (spare.go)
			}
		}
	} else {
		pids = listProcesses(func(pg int) bool { return pg == group })
	}
	self := target != -1 && own == group
	// Linux's results: kill(-1) fails only with ESRCH when it found no
	// process, or with an error other than EPERM; a group kill succeeds
	// when one member got the signal.
	count, sent := 0, 0
	var last unix.Errno
	for _, q := range pids {
		if skip[q] {
			continue
		}
		count++
		if r := machine.Syscall(unix.SYS_KILL, &Args{uint64(q), uint64(sig)}); r == 0 {
			sent++
		} else if errno := unix.Errno(-r); errno != unix.ESRCH {
			last = errno
		}
	}
	if self {
		count++
		sent++
		if sig != 0 {
			t.P.send(t, nil, sig, userInfo(sig, siUser))
		}
	}
	switch {
	case target == -1 && count == 0:
		return -int64(unix.ESRCH)
	case target == -1 && last != 0 && last != unix.EPERM:
		return -int64(last)
	case target == -1 || sent > 0:
		return 0
	case last != 0:
		return -int64(last)
	}
	return -int64(unix.ESRCH)
}

// listProcesses lists the processes in /proc whose process group passes
// keep (read through the Machine).
func listProcesses(keep func(pgrp int) bool) []int {
	names, err := machine.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, name := range names {
		q, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if pg, ok := processGroup(q); ok && keep(pg) {
			out = append(out, q)
		}
	}
	return out
}

// processGroup reads pgrp, the fifth field of /proc/PID/stat (after the
// parenthesised comm, which may hold anything).
func processGroup(q int) (int, bool) {
	b, err := machine.ReadFile("/proc/" + strconv.Itoa(q) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, false
	}
	pg, err := strconv.Atoi(f[2])
	return pg, err == nil
}
