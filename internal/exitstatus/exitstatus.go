// Package exitstatus is vsysbed's own exit status, in one place: the
// guest's status as a shell reports it (its exit code, or 128+N when
// signal N ended it), and a shell's codes for what went wrong before the
// guest ran (env(1) and POSIX shells use the same three).
package exitstatus

import "syscall"

const (
	// Usage: vsysbed rejected its command line.
	Usage = 2
	// Failed: vsysbed itself failed (no run directory, the host process
	// could not start), or the guest needs something not supported yet.
	Failed = 125
	// NotExecutable: the program exists but cannot be executed.
	NotExecutable = 126
	// NotFound: the program was not found.
	NotFound = 127
	// SignalBase + N is the status of a process that signal N ended.
	SignalBase = 128
)

// Of is the status a shell reports for a process that ended with ws: its
// exit code, or 128+N for signal N. A status that is neither (a stop) is
// Failed.
func Of(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return SignalBase + int(ws.Signal())
	}
	return Failed
}
