package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/exitstatus"
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
	return Printable(fmt.Sprintf("vsysbed: %s: %s", e.Path, reason))
}

// Printable escapes the bytes that would break a one-line message or
// drive the terminal: newline and carriage return as \n and \r, every
// other byte below 0x20 (ESC: \x1b, tab: \x09) and DEL as \xNN. A file may be named
// $'./bad\nname'; its refusal still is one line. Backslashes stay as they
// are, so escaping twice changes nothing.
func Printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
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

// Refusal is how vsysbed answers a program it cannot execute, as a shell
// does, on every platform: the one printable line to print ("vsysbed:
// ..."), and the exit status, 127 when the program (or its interpreter)
// does not exist, 126 otherwise.
func Refusal(err error) (line string, status int) {
	line = Printable(err.Error())
	if !strings.HasPrefix(line, "vsysbed:") {
		line = "vsysbed: " + line
	}
	status = exitstatus.NotExecutable
	if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) {
		status = exitstatus.NotFound
	}
	return line, status
}
