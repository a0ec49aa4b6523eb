package loader

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ExecError is why a program could not be loaded. Errno follows what
// execve(2) would have returned, so a caller can answer like a shell:
// exit 127 for ENOENT, 126 for everything else.
type ExecError struct {
	Path   string     // the file the problem is in (script, program or interpreter)
	Errno  unix.Errno // ENOENT, EACCES, ENOEXEC, ELOOP, E2BIG, EEXIST, ENOMEM, ...
	Reason string     // one human-readable clause, no trailing period
}

func (e *ExecError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = e.Errno.Error()
	}
	return fmt.Sprintf("vsysbed: %s: %s", e.Path, reason)
}

// Unwrap lets errors.Is(err, unix.ENOENT) classify the failure.
func (e *ExecError) Unwrap() error { return e.Errno }

// notExec builds the ENOEXEC error the parser returns; Load fills in Path.
func notExec(format string, args ...any) *ExecError {
	return &ExecError{Errno: unix.ENOEXEC, Reason: "not an executable: " + fmt.Sprintf(format, args...)}
}

// withPath returns err with Path set when err is an *ExecError lacking one.
func withPath(err error, path string) error {
	if ee, ok := err.(*ExecError); ok && ee.Path == "" {
		ee.Path = path
	}
	return err
}
