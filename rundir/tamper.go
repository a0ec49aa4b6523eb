package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// TamperFile holds what `run --inject` and `--personality` change in the
// guest's calls. The supervisor writes it before the first host process
// starts; every host process of the tree (fork and vfork children
// included) reads it when it builds its kernel, so the rules reach them
// without passing through each fork's state.
const TamperFile = "tamper.json"

// Tamper is TamperFile's content.
type Tamper struct {
	// Inject are the --inject specs, in command-line order
	// (kernelsim.ParseInjection).
	Inject []string `json:"inject,omitempty"`
	// Personality names the kernel personality, "" or "linux" for all of
	// Linux; Syscalls are the names it implements (the others fail with
	// ENOSYS).
	Personality string   `json:"personality,omitempty"`
	Syscalls    []string `json:"syscalls,omitempty"`
}

// Empty tells whether t changes nothing.
func (t *Tamper) Empty() bool {
	return len(t.Inject) == 0 && (t.Personality == "" || t.Personality == "linux")
}

// WriteTamper writes t into the run directory dir.
func WriteTamper(dir string, t *Tamper) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("rundir: encode %s: %w", TamperFile, err)
	}
	return os.WriteFile(filepath.Join(dir, TamperFile), b, 0o644)
}

// ReadTamper reads the run directory's TamperFile; a directory without
// one gives nil and no error. It reads with raw calls, not os.File: a host
// process must not create the netpoller's epoll descriptor at a number the
// guest expects (EventLog).
func ReadTamper(dir string) (*Tamper, error) {
	path := filepath.Join(dir, TamperFile)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var b []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		b = append(b, buf[:n]...)
	}
	var t Tamper
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("rundir: %s: %w", TamperFile, err)
	}
	return &t, nil
}
