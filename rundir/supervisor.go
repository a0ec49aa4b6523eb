package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The run directory's bookkeeping files, beside the shards and the event
// log: who owns the directory, and what the host processes may do once
// that owner is gone.
const (
	// SupervisorFile records the supervisor of the run, "PID STARTTIME\n"
	// (STARTTIME: field 22 of /proc/PID/stat, which tells a recycled pid
	// from the process that had it). Host processes die with that process
	// (platform/inprocess), and a directory whose supervisor is gone is stale.
	SupervisorFile = "supervisor"
	// ReleasedFile exists once the supervisor left on purpose while
	// processes of the tree still ran (`--wait=main`): they go on, and the
	// directory stays theirs until none of them maps a file in it.
	ReleasedFile = "released"
	// KeepFile marks a directory the user asked to keep (--keep-rundir):
	// never stale.
	KeepFile = "keep"
)

// WriteSupervisor records this process as the supervisor of run
// directory dir.
func WriteSupervisor(dir string) error {
	pid := os.Getpid()
	start, err := StartTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SupervisorFile), fmt.Appendf(nil, "%d %d\n", pid, start), 0o644)
}

// ReadSupervisor reads dir's supervisor record.
func ReadSupervisor(dir string) (pid int, start uint64, err error) {
	b, err := os.ReadFile(filepath.Join(dir, SupervisorFile))
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", SupervisorFile, err)
	}
	return pid, start, nil
}

// StartTime is field 22 of /proc/PID/stat: when the process started, in
// clock ticks after boot.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStartTime(string(b))
}

func parseStartTime(stat string) (uint64, error) {
	// After the command name, which may hold spaces and parentheses.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name in a /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	const startField = 22 - 3 // f[0] is field 3 (state)
	if len(f) <= startField {
		return 0, errors.New("short /proc stat line")
	}
	return strconv.ParseUint(f[startField], 10, 64)
}

// SupervisorAlive tells whether the process recorded in dir still runs
// (same pid, same start time).
func SupervisorAlive(dir string) (bool, error) {
	pid, start, err := ReadSupervisor(dir)
	if err != nil {
		return false, err
	}
	now, err := StartTime(pid)
	return err == nil && now == start, nil
}

// Released tells whether dir's supervisor left its processes running on
// purpose.
func Released(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, ReleasedFile))
	return err == nil
}
