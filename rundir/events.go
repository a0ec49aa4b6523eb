package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
)

// EventsFile is the event log's name inside the run directory.
const EventsFile = "events.jsonl"

// EventLog appends events to the run directory's event log from the host
// process. Every event is one write(2) on an O_APPEND descriptor, so lines
// from several threads or processes never interleave and a crash can leave
// at most one partial line, at the end.
//
// The log deliberately avoids os.File: registering a descriptor with Go's
// netpoller creates an epoll descriptor at the lowest free number, which is
// a number the guest expects to get from its own open().
type EventLog struct {
	mu  sync.Mutex
	fd  int
	pid int
}

// OpenEventLog opens (creating if needed, never truncating: every host
// process of a run appends to the same log) the event log at path. The
// descriptor is moved to the lowest free number >= minFD, close-on-exec, so
// it stays in the host's reserved fd range.
func OpenEventLog(path string, minFD int) (*EventLog, error) {
	if minFD < 0 {
		return nil, fmt.Errorf("rundir: open event log: negative minFD %d", minFD)
	}
	low, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	fd, err := unix.FcntlInt(uintptr(low), unix.F_DUPFD_CLOEXEC, minFD)
	unix.Close(low)
	if err != nil {
		return nil, &fs.PathError{Op: "fcntl F_DUPFD_CLOEXEC", Path: path, Err: err}
	}
	return &EventLog{fd: fd, pid: unix.Getpid()}, nil
}

// FD is the log's descriptor, for the fd guard that keeps guest calls off
// host descriptors.
func (l *EventLog) FD() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fd
}

// Close closes the log; later events fail with os.ErrClosed.
func (l *EventLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

// Exec records that the process now runs path (argv as the guest sees it;
// interp is the PT_INTERP program or "").
func (l *EventLog) Exec(path string, argv []string, interp string) error {
	if argv == nil {
		argv = []string{}
	}
	return l.write(newEvent(coverage.EvExec, l.pid).str("path", path).strs("argv", argv).str("interp", interp))
}

// Map records a file-backed guest mapping [start, end) of path at file
// offset offset (the synthetic vDSO is logged with path "[vdso]"). prot is
// a PROT_* mask.
func (l *EventLog) Map(start, end, offset uint64, prot int, path string) error {
	return l.write(newEvent(coverage.EvMap, l.pid).hex("start", start).hex("end", end).hex("offset", offset).
		str("path", path).str("prot", ProtString(prot)))
}

// Unmap records that [start, end) of the guest's address space was unmapped.
func (l *EventLog) Unmap(start, end uint64) error {
	return l.write(newEvent(coverage.EvUnmap, l.pid).hex("start", start).hex("end", end))
}

// Exit records how the guest ended: code when sig is 0, else the signal,
// and when (t, on Now's clock).
func (l *EventLog) Exit(code int, sig syscall.Signal) error {
	return l.write(newEvent(coverage.EvExit, l.pid).int("code", int64(code)).str("signal", coverage.SignalName(sig)).int("t", Now()))
}

// Phase records start-up phase point name (Phase*) at t (Now's clock),
// with an optional note.
func (l *EventLog) Phase(name string, t int64, note string) error {
	e := newEvent(coverage.EvPhase, l.pid).str("phase", name).int("t", t)
	if note != "" {
		e.str("note", note)
	}
	return l.write(e)
}

// Fork records that this process was forked by the guest process parent.
func (l *EventLog) Fork(parent int) error {
	return l.write(newEvent(coverage.EvFork, l.pid).int("parent", int64(parent)))
}

// Reaped records that this process's wait collected child, which ended
// with code, or by sig when sig is not 0.
func (l *EventLog) Reaped(child, code int, sig syscall.Signal) error {
	return l.write(newEvent(coverage.EvReaped, l.pid).int("child", int64(child)).int("code", int64(code)).
		str("signal", coverage.SignalName(sig)))
}

// RewritePatched is Rewrite's outcome for a site rewritten.
const RewritePatched = coverage.RewritePatched

// Rewrite records kernelsim's answer for the trapped site at addr (the
// syscall instruction) for nr: coverage.RewritePatched or why not, after
// traps traps there (the asking thread's block's count).
func (l *EventLog) Rewrite(addr uint64, nr int, traps uint64, outcome string) error {
	return l.write(newEvent(coverage.EvRewrite, l.pid).hex("address", addr).int("nr", int64(nr)).uint("traps", traps).
		str("rewrite", outcome))
}

// Error records a problem the report must show, e.g. "not supported yet: clone".
func (l *EventLog) Error(msg string) error {
	return l.write(newEvent(coverage.EvError, l.pid).str("msg", msg))
}

// write appends e's line to the log in one write.
func (l *EventLog) write(e *eventLine) error {
	line := e.line()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return os.ErrClosed
	}
	// A short write (disk full) is finished rather than abandoned: a partial
	// line followed by the next event would spoil two lines, not one.
	for len(line) > 0 {
		n, err := unix.Write(l.fd, line)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("rundir: write event: %w", err)
		}
		line = line[n:]
	}
	return nil
}

// ProtString formats a PROT_* mask the way /proc/<pid>/maps does ("r-x").
func ProtString(prot int) string {
	b := []byte("---")
	if prot&unix.PROT_READ != 0 {
		b[0] = 'r'
	}
	if prot&unix.PROT_WRITE != 0 {
		b[1] = 'w'
	}
	if prot&unix.PROT_EXEC != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// EventSyntaxError reports a malformed line that is not the log's last one
// (a partial last line is the expected trace of a crash and is skipped).
type EventSyntaxError struct {
	Path string
	Line int
	Err  error
}

func (e *EventSyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: malformed event: %v", e.Path, e.Line, e.Err)
}

func (e *EventSyntaxError) Unwrap() error { return e.Err }

// ReadEvents reads an event log. A missing file is an empty log (the host
// may die before opening it). An unterminated last line that does not parse
// is the trace of a crash and is dropped silently; any other malformed line
// is skipped and reported as an *EventSyntaxError (the first one), returned
// together with every good event so the caller can still build a report.
// Events of unknown kinds are returned as they are, for newer writers.
func ReadEvents(path string) ([]coverage.Event, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	unterminated := len(data) > 0 && data[len(data)-1] != '\n'
	var (
		events []coverage.Event
		syntax error
	)
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var ev coverage.Event
		err := json.Unmarshal(line, &ev)
		if err == nil && ev.Ev == "" {
			err = errors.New(`no "ev" field`)
		}
		if err != nil {
			crashed := unterminated && i == len(lines)-1
			if !crashed && syntax == nil {
				syntax = &EventSyntaxError{Path: path, Line: i + 1, Err: err}
			}
			continue
		}
		events = append(events, ev)
	}
	return events, syntax
}

// Tampered records one call --inject or --personality changed: ev is
// coverage.EvInject (what is the rule's spec) or coverage.EvMissing (what
// is the personality), nr the syscall, site and kind where it entered the
// host, as the control block counted it.
func (l *EventLog) Tampered(ev string, nr int, site uint64, kind uint32, what string) error {
	k := ""
	if int(kind) < len(kindNames) {
		k = kindNames[kind]
	}
	return l.write(newEvent(ev, l.pid).int("nr", int64(nr)).hex("site", site).str("kind", k).str("what", what))
}
