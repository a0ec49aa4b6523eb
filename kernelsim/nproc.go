package kernelsim

import (
	"bytes"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/rundir"
)

// RLIMIT_NPROC. Linux refuses a fork or clone with EAGAIN when the
// caller's real user already has as many tasks as the caller's soft limit,
// unless the user is root or the caller has CAP_SYS_RESOURCE or
// CAP_SYS_ADMIN. Under vsysbed every guest process is a host process with
// Go's threads besides the guest's (about 9 tasks in all), and the
// supervisor is one more, so the host kernel's count is not the guest's:
// with `ulimit -u 60` a guest would get EAGAIN after 5 forks (natively
// 58), and a host process whose Go runtime then needs a thread dies with
// a runtime dump.
//
// So the host process runs with its soft limit raised to the hard one
// (RaiseHostNproc), the guest keeps its own limit (rlimit.go), and fork,
// vfork and clone check it here against the guest's count: the user's
// tasks, less every vsysbed process's (the supervisor's and each host
// process's), plus the guest threads of this run's host processes (the
// threads of a process named in its shards). The guest gets EAGAIN when
// that count reaches its limit, as natively. The host must still fit
// under its own limit: a new host process needs room for its Go runtime
// and every existing one room to grow, so a fork also gets EAGAIN when
// the user's real count leaves less than that (nprocProcessCost,
// nprocReserve) under the hard limit — then earlier than natively, which
// docs/PROMISES.md says. The guest threads of another vsysbed run of the
// same user are not counted.

// nprocProcessCost is what a new host process takes of the user's task
// count: its Go runtime's threads and the guest's first (9 measured, a
// margin for threads Go starts later).
const nprocProcessCost = 12

// nprocReserve is the room left for the running host processes' Go
// runtimes to start a thread when one of theirs blocks.
const nprocReserve = 8

// RaiseHostNproc raises this process's soft RLIMIT_NPROC to its hard limit
// and returns the limit it had, which is the guest's (Config.Limits).
func RaiseHostNproc() unix.Rlimit {
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &l) != nil {
		return unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	}
	if l.Cur < l.Max {
		unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: l.Max, Max: l.Max})
	}
	return l
}

// nprocCheck is the RLIMIT_NPROC check of a guest fork (process true) or
// thread: 0 or EAGAIN.
func (p *Process) nprocCheck(limits map[int]unix.Rlimit, process bool) unix.Errno {
	guest := limitIn(limits, unix.RLIMIT_NPROC)
	var host unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NPROC, &host)
	if guest.Cur == unix.RLIM_INFINITY && host.Cur == unix.RLIM_INFINITY || nprocExempt() {
		return 0
	}
	total, guestTasks := countTasks(unix.Getuid(), p.runDir)
	if guest.Cur != unix.RLIM_INFINITY && uint64(guestTasks) >= guest.Cur {
		return unix.EAGAIN
	}
	need := uint64(nprocReserve)
	if process {
		need += nprocProcessCost
	}
	if host.Cur != unix.RLIM_INFINITY && uint64(total)+need > host.Cur {
		return unix.EAGAIN
	}
	return 0
}

// nprocExempt: root's real user, or CAP_SYS_RESOURCE or CAP_SYS_ADMIN in
// the effective set, which Linux does not hold to the limit.
func nprocExempt() bool {
	if unix.Getuid() == 0 {
		return true
	}
	b, err := machine.ReadFile("/proc/thread-self/status")
	if err != nil {
		return false
	}
	eff, ok := statusField(b, "CapEff")
	if !ok {
		return false
	}
	caps, err := strconv.ParseUint(eff, 16, 64)
	return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE|1<<unix.CAP_SYS_ADMIN) != 0
}

// statusField is the value of "key:\tvalue" in a /proc status file.
func statusField(b []byte, key string) (string, bool) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && string(k) == key {
			return string(bytes.TrimSpace(v)), true
		}
	}
	return "", false
}

// countTasks counts the tasks of real user uid on the host (total) and as
// the guest's count of them: without vsysbed's own processes, with the
// guest threads of run directory runDir's host processes. /proc is read
// through the Machine.
func countTasks(uid int, runDir string) (total, guest int) {
	self, err := hostStat("/proc/self/exe")
	if err != nil {
		return 0, 0
	}
	names, err := machine.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	ours := map[int]bool{} // vsysbed's processes of this user
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		b, err := machine.ReadFile("/proc/" + name + "/status")
		if err != nil {
			continue
		}
		uids, _ := statusField(b, "Uid")
		real, _, _ := bytes.Cut([]byte(uids), []byte("\t"))
		if string(real) != strconv.Itoa(uid) {
			continue
		}
		threads, _ := statusField(b, "Threads")
		n, _ := strconv.Atoi(threads)
		total += n
		if exe, err := hostStat("/proc/" + name + "/exe"); err == nil && exe.Dev == self.Dev && exe.Ino == self.Ino {
			ours[pid] = true
			continue
		}
		guest += n
	}
	return total, guest + guestThreads(runDir, ours)
}

// guestThreads counts the live guest threads of the run's host processes
// among procs: the threads that hold a shard of their process (a shard of
// a thread that has exited names a tid the process no longer has).
func guestThreads(runDir string, procs map[int]bool) int {
	paths, _ := filepath.Glob(filepath.Join(runDir, rundir.ShardPattern))
	n := 0
	for _, path := range paths {
		pid, tid, ok := rundir.ReadShardOwner(path)
		if !ok || !procs[pid] {
			continue
		}
		if _, err := hostStat("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid)); err == nil {
			n++
		}
	}
	return n
}
