package inprocess

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/rundir"
)

// watchSupervisor makes this host process die with the supervisor of its
// run, whoever its parent is: a `kill -9` of vsysbed must leave no host
// process behind. PR_SET_PDEATHSIG cannot say that for a fork child: it
// fires when the parent *thread* ends (a guest thread that forked and
// exited would take the child with it) and it follows the direct parent
// (a guest child outlives its parent natively: `sh -c 'sleep 8 &'`). So
// every host process watches the supervisor itself, through a pidfd of
// the pid the run directory records; the recorded start time proves the
// pidfd is that process and not a later one with its pid. The check comes
// before the watch, so a supervisor that died before this process started
// is seen too. A supervisor that released the tree (--wait=main) leaves
// it running, as natively.
func watchSupervisor(runDir string, base int) {
	pid, start, err := rundir.ReadSupervisor(runDir)
	if err != nil {
		return // a run directory nobody supervises (a hand-made one)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		supervisorGone(runDir)
		return
	}
	// In the host's fd range: the guest's next open() gets the low number.
	if high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, base); err == nil {
		unix.Close(fd)
		fd = high
	}
	if now, err := rundir.StartTime(pid); err != nil || now != start {
		unix.Close(fd)
		supervisorGone(runDir)
		return
	}
	// The supervisor mirrors its child's stops: it is told of a SIGCONT
	// (kernelsim/jobctl.go).
	kernelsim.SupervisorPID = pid
	go func() {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(pfd, -1); err != unix.EINTR {
				break
			}
		}
		unix.Close(fd)
		supervisorGone(runDir)
	}()
}

// supervisorGone ends this host process unless the supervisor released
// it: SIGKILL, as PR_SET_PDEATHSIG would.
func supervisorGone(runDir string) {
	if rundir.Released(runDir) {
		return
	}
	unix.Kill(unix.Getpid(), unix.SIGKILL)
}
