package rundir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
)

func openTestLog(t *testing.T, path string) *EventLog {
	t.Helper()
	l, err := OpenEventLog(path, 100)
	if err != nil {
		t.Fatalf("OpenEventLog: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestOpenEventLogMovesFDHighAndCloexec(t *testing.T) {
	// Wake the netpoller first (os.Open does), so its epoll descriptor
	// cannot take the low number this test watches.
	if f, err := os.Open("/dev/null"); err == nil {
		f.Close()
	}
	probe, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(probe)

	const minFD = 500
	path := filepath.Join(t.TempDir(), EventsFile)
	l, err := OpenEventLog(path, minFD)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd := l.FD()
	if fd < minFD {
		t.Errorf("fd = %d, want >= %d", fd, minFD)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d is not close-on-exec", fd)
	}
	// The temporary low descriptor is gone: the lowest free number is the
	// same as before the log was opened.
	again, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(again)
	if again != probe {
		t.Errorf("lowest free fd %d after OpenEventLog, was %d: a low descriptor leaked", again, probe)
	}
	if fds := openFDsTo(t, path); len(fds) != 1 {
		t.Errorf("descriptors on the log: %v, want exactly one", fds)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Error("late"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("event after Close: %v, want os.ErrClosed", err)
	}
}

func TestOpenEventLogErrors(t *testing.T) {
	if _, err := OpenEventLog(filepath.Join(t.TempDir(), "no", "such", "dir", EventsFile), 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: err = %v", err)
	}
	if _, err := OpenEventLog(filepath.Join(t.TempDir(), EventsFile), -1); err == nil {
		t.Error("negative minFD accepted")
	}
}

func TestEventLogLinesAndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	l := openTestLog(t, path)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Exec("/bin/true", []string{"true", "x"}, "/lib64/ld-linux-x86-64.so.2"))
	must(l.Map(0x7f0000001000, 0x7f0000005000, 0x1000, unix.PROT_READ|unix.PROT_EXEC, "/usr/lib/libc.so.6"))
	must(l.Unmap(0x7f0000001000, 0x7f0000002000))
	must(l.Error("not supported yet: clone\nsecond line"))
	must(l.Exit(0, 0))
	must(l.Exit(0, syscall.SIGSEGV))

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The on-disk form is part of the contract (docs/report.md): check the
	// exit line literally, including the fields that are zero.
	var lines []map[string]any
	for _, line := range splitLines(raw) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), raw)
	}
	if lines[1]["start"] != "0x7f0000001000" || lines[1]["prot"] != "r-x" || lines[1]["offset"] != "0x1000" {
		t.Errorf("map line = %v", lines[1])
	}
	if code, ok := lines[4]["code"]; !ok || code != 0.0 || lines[4]["signal"] != "" {
		t.Errorf("exit line = %v, want code 0 and signal \"\" present", lines[4])
	}
	if lines[5]["signal"] != "SIGSEGV" {
		t.Errorf("exit line = %v", lines[5])
	}
	if lines[0]["pid"] != float64(os.Getpid()) {
		t.Errorf("pid = %v, want %d", lines[0]["pid"], os.Getpid())
	}

	events, err := ReadEvents(path)
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	// The exit events carry when the guest ended (the start-up timing's
	// last host point).
	for i := range events {
		if events[i].Ev == coverage.EvExit {
			if events[i].T <= 0 {
				t.Errorf("exit event without a time: %+v", events[i])
			}
			events[i].T = 0
		}
	}
	want := []coverage.Event{
		{Ev: coverage.EvExec, Pid: pid, Path: "/bin/true", Argv: []string{"true", "x"}, Interp: "/lib64/ld-linux-x86-64.so.2"},
		{Ev: coverage.EvMap, Pid: pid, Start: 0x7f0000001000, End: 0x7f0000005000, Offset: 0x1000, Prot: "r-x", Path: "/usr/lib/libc.so.6"},
		{Ev: coverage.EvUnmap, Pid: pid, Start: 0x7f0000001000, End: 0x7f0000002000},
		{Ev: coverage.EvError, Pid: pid, Msg: "not supported yet: clone\nsecond line"},
		{Ev: coverage.EvExit, Pid: pid},
		{Ev: coverage.EvExit, Pid: pid, Signal: "SIGSEGV"},
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events:\n got %+v\nwant %+v", events, want)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func TestReadEventsToleratesPartialLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	l := openTestLog(t, path)
	if err := l.Error("first"); err != nil {
		t.Fatal(err)
	}
	if err := l.Exit(3, 0); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of write() leaves behind.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ev":"map","start":"0x10`)
	f.Close()

	events, err := ReadEvents(path)
	if err != nil {
		t.Fatalf("partial last line: %v", err)
	}
	if len(events) != 2 || events[0].Msg != "first" || events[1].Code != 3 {
		t.Errorf("events = %+v", events)
	}
}

func TestReadEventsReportsMalformedMiddleLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	content := `{"ev":"error","msg":"a"}` + "\n" +
		`{"ev":"map","start":"0xzz"}` + "\n" +
		`{"msg":"no kind"}` + "\n" +
		"\n" +
		`{"ev":"future-kind","x":1}` + "\n" +
		`{"ev":"error","msg":"b"}` + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := ReadEvents(path)
	var syn *EventSyntaxError
	if !errors.As(err, &syn) || syn.Line != 2 || syn.Path != path {
		t.Fatalf("err = %v, want *EventSyntaxError at line 2", err)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Ev)
	}
	if !reflect.DeepEqual(kinds, []string{"error", "future-kind", "error"}) {
		t.Errorf("kinds = %v", kinds)
	}
}

func TestReadEventsMissingFileIsEmpty(t *testing.T) {
	events, err := ReadEvents(filepath.Join(t.TempDir(), EventsFile))
	if err != nil || len(events) != 0 {
		t.Errorf("events, err = %v, %v", events, err)
	}
}

func TestProtString(t *testing.T) {
	if ProtString(0) != "---" || ProtString(unix.PROT_READ|unix.PROT_WRITE) != "rw-" {
		t.Error("ProtString")
	}
}
