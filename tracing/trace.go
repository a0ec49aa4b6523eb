// Package tracing is vsysbed's strace: `vsysbed run -e trace=SET -o FILE`
// writes one line per guest syscall, decoded as strace decodes it, with
// the way the call entered vsysbed (bypass, trap, patched). The
// supervisor writes the run's Config into the run directory; every host
// process of the tree loads it (Load) and appends its lines to the one
// output, each line one write(2) on an O_APPEND descriptor, so processes
// never interleave within a line and a crash loses no line already made.
// kernelsim calls Enter as a call reaches its Dispatch and Exit as it
// leaves; -c sums the records the processes append (Summarize).
package tracing

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ConfigFile is the tracing configuration's name in the run directory;
// its absence means tracing is off.
const ConfigFile = "trace.json"

// SummaryFile holds the records -c sums, in the run directory.
const SummaryFile = "trace-summary.jsonl"

// Config is what `vsysbed run` asked for, shared by every host process.
type Config struct {
	Output    string `json:"output,omitempty"`  // lines go here (appended); "" = none (-c alone)
	Socket    string `json:"socket,omitempty"`  // or, one datagram a line, to the supervisor (Relay)
	Format    string `json:"format"`            // "text" or "jsonl"
	Summary   string `json:"summary,omitempty"` // records for -c (JSON Lines), "" = no -c
	Set       []int  `json:"set"`               // the traced numbers
	StrLen    int    `json:"strlen"`            // -s
	Time      int    `json:"time,omitempty"`    // -t 1, -tt 2, -ttt 3
	Relative  bool   `json:"relative,omitempty"`
	Durations bool   `json:"durations,omitempty"` // -T
	Stack     bool   `json:"stack,omitempty"`
}

// WriteConfig puts c into the run directory dir.
func WriteConfig(dir string, c Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
}

// Tracer traces one host process's calls.
type Tracer struct {
	cfg   Config
	sel   Set
	names func(int) string
	out   int // -1: none
	sum   int // -1: none

	mu       sync.Mutex
	last     time.Time // the previous call's entry, for -r
	inflight map[*Call]bool
	syms     *symbolizer
}

// Load reads the run directory's configuration and opens the outputs at
// descriptors >= minFD (the host's range); nil, nil when tracing is off.
func Load(dir string, minFD int, names func(int) string) (*Tracer, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("tracing: %s: %w", ConfigFile, err)
	}
	t := &Tracer{cfg: c, sel: make(Set, SetSize), names: names, out: -1, sum: -1, inflight: map[*Call]bool{}}
	for _, nr := range c.Set {
		if nr >= 0 && nr < SetSize {
			t.sel[nr] = true
		}
	}
	switch {
	case c.Output != "":
		if t.out, err = openAppend(c.Output, minFD); err != nil {
			return nil, err
		}
	case c.Socket != "":
		if t.out, err = dial(c.Socket, minFD); err != nil {
			return nil, err
		}
	}
	if c.Summary != "" {
		if t.sum, err = openAppend(c.Summary, minFD); err != nil {
			return nil, err
		}
	}
	if c.Stack {
		t.syms = newSymbolizer()
	}
	return t, nil
}

// openAppend opens path for appending at the lowest free fd >= minFD,
// close-on-exec, with raw calls: an os.File would register it with Go's
// netpoller, whose epoll fd takes a number the guest expects to get.
func openAppend(path string, minFD int) (int, error) {
	low, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	fd, err := unix.FcntlInt(uintptr(low), unix.F_DUPFD_CLOEXEC, minFD)
	unix.Close(low)
	if err != nil {
		return -1, &fs.PathError{Op: "fcntl F_DUPFD_CLOEXEC", Path: path, Err: err}
	}
	return fd, nil
}

// FDs are the tracer's own descriptors (host fds the guest must not reach).
func (t *Tracer) FDs() []int {
	var fds []int
	for _, fd := range []int{t.out, t.sum} {
		if fd >= 0 {
			fds = append(fds, fd)
		}
	}
	return fds
}

// Traces says whether calls numbered nr are traced.
func (t *Tracer) Traces(nr int) bool { return t != nil && nr >= 0 && nr < len(t.sel) && t.sel[nr] }

// Call is one traced call between Enter and Exit.
type Call struct {
	Pid, Tid int
	Nr       int
	Name     string
	Args     [6]uint64
	Kind     string // bypass, trap, patched
	Site     uint64
	Start    time.Time
	// Returned is set by the caller once the call has its result.
	Returned bool
	// Injected: an --inject rule changed the call (the caller sets it);
	// its result is marked "(INJECTED)", as strace marks it.
	Injected bool

	args []string // rendered at entry; "" where an out-param goes
	spec []string
}

// Enter starts the record of a call as it enters the kernel: the
// in-params are read now. nil when nr is not traced.
func (t *Tracer) Enter(pid, tid, nr int, a [6]uint64, kind string, site uint64, mem Memory) *Call {
	if !t.Traces(nr) {
		return nil
	}
	c := &Call{Pid: pid, Tid: tid, Nr: nr, Name: t.names(nr), Args: a, Kind: kind, Site: site, Start: time.Now()}
	x := &ctx{a: a, mem: mem, strlen: t.cfg.StrLen}
	switch c.Name {
	case "clone":
		c.args = cloneArgs(x)
		return c
	case "clone3":
		c.args = clone3Args(x)
		return c
	case "futex":
		c.args = futexArgs(x)
		return c
	}
	spec, ok := specs[c.Name]
	if !ok {
		for i := range a {
			c.args = append(c.args, hex(a[i]))
		}
		return c
	}
	c.spec = strings.Fields(spec)
	c.args = make([]string, len(c.spec))
	for i, tok := range c.spec {
		switch tok {
		case "modec":
			if i > 0 && a[i-1]&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
				c.args[i] = x.mode(i)
			} else {
				c.args[i] = "\x00"
			}
			continue
		}
		d, ok := decoders[tok]
		if !ok || d.out {
			continue
		}
		c.args[i] = d.render(x, i)
	}
	if noReturn[c.Name] {
		// exit and exit_group end the process here: strace's "= ?".
		t.finish(c, 0, false, mem)
		return c
	}
	t.mu.Lock()
	t.inflight[c] = true
	t.mu.Unlock()
	return c
}

// End writes the calls still in progress as "= ?" (a kill of the process
// itself, a fatal signal during a blocking call) and strace's
// "+++ exited with N +++" or "+++ killed by SIG +++": the process pid is
// ending, with exit code code, or by signal sig when sig != 0.
func (t *Tracer) End(pid, code, sig int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	var left []*Call
	for c := range t.inflight {
		if c.Pid == pid { // one Tracer may serve several processes (the ptrace platform)
			left = append(left, c)
		}
	}
	t.mu.Unlock()
	sort.Slice(left, func(i, j int) bool { return left[i].Start.Before(left[j].Start) })
	for _, c := range left {
		t.finish(c, 0, false, nil)
	}
	r := Record{Pid: pid, Tid: pid, Event: "exited", ExitCode: code, StartNS: time.Now().UnixNano()}
	if sig != 0 {
		r.Event, r.ExitCode, r.Signal = "killed", 0, signalName(int64(sig))
	}
	t.write(&r, time.Now())
}

// Exit completes the record with the call's raw result (-4095..-1 is
// -errno) and writes it; the out-params are read now.
func (t *Tracer) Exit(c *Call, ret int64, mem Memory) {
	if c == nil || noReturn[c.Name] {
		return
	}
	t.finish(c, ret, true, mem)
}

// Unfinished writes a call that never returned to Exit (its thread
// unwound): strace's "= ?".
func (t *Tracer) Unfinished(c *Call) {
	if c == nil || noReturn[c.Name] {
		return
	}
	t.finish(c, 0, false, nil)
}

func (t *Tracer) finish(c *Call, ret int64, returned bool, mem Memory) {
	end := time.Now()
	t.mu.Lock()
	delete(t.inflight, c)
	t.mu.Unlock()
	x := &ctx{a: c.Args, ret: ret, failed: ret < 0 && ret >= -4095, mem: mem, strlen: t.cfg.StrLen}
	var args []string
	for i, s := range c.args {
		if i < len(c.spec) && s == "" {
			if d, ok := decoders[c.spec[i]]; ok && returned {
				s = d.render(x, i)
			} else {
				s = ptr(c.Args[i])
			}
		}
		if s != "\x00" {
			args = append(args, s)
		}
	}
	if returned && !x.failed && (c.Name == "clone" || c.Name == "clone3") {
		args = cloneResult(x, c.Name, args)
	}
	r := Record{Pid: c.Pid, Tid: c.Tid, Syscall: c.Name, Nr: c.Nr, Args: args, Kind: c.Kind,
		Site: hex(c.Site), StartNS: c.Start.UnixNano(), DurationNS: end.Sub(c.Start).Nanoseconds()}
	if returned {
		r.Result = &ret
		r.ResultText, r.Errno = resultText(c.Name, c.Args, ret)
		if c.Injected {
			r.ResultText += " (INJECTED)"
		}
	} else {
		r.ResultText = "?"
	}
	if t.syms != nil {
		r.Where = t.syms.where(c.Site)
	}
	t.write(&r, c.Start)
}

// resultText is strace's rendering of a result: -1 ENAME (Message) for
// an error, hex for an address, F_GETFD's and F_GETFL's flags named.
func resultText(name string, a [6]uint64, ret int64) (text, errno string) {
	if ret < 0 && ret >= -4095 {
		n, msg := errnoText(-ret)
		if _, restart := restartNames[-ret]; restart {
			return "? " + n + " (" + msg + ")", n
		}
		return "-1 " + n + " (" + msg + ")", n
	}
	if hexResult[name] {
		return hex(uint64(ret)), ""
	}
	s := strconv.FormatInt(ret, 10)
	if name == "fcntl" {
		switch int32(a[1]) {
		case unix.F_GETFD:
			return hex(uint64(ret)) + " (flags " + zeroOr(uint64(ret), []flagName{{1, "FD_CLOEXEC"}}) + ")", ""
		case unix.F_GETFL:
			return hex(uint64(ret)) + " (flags " + openFlagsText(uint64(ret)) + ")", ""
		}
	}
	return s, ""
}

// Record is one traced call: a JSON Lines row of --trace-format jsonl and
// of -c's records (docs/trace.md; docs/trace-schema.json).
type Record struct {
	Pid        int      `json:"pid"`
	Tid        int      `json:"tid"`
	Syscall    string   `json:"syscall"`
	Nr         int      `json:"nr"`
	Args       []string `json:"args"`
	Result     *int64   `json:"result"` // null: the call did not return (exit, exit_group)
	ResultText string   `json:"result_text"`
	Errno      string   `json:"errno,omitempty"`
	Kind       string   `json:"kind"`
	Site       string   `json:"site"`
	Where      string   `json:"where,omitempty"` // --stack: object(function+off) of the site
	StartNS    int64    `json:"start_ns"`        // wall clock at entry, ns since the epoch
	DurationNS int64    `json:"duration_ns"`

	// Event is "exited" or "killed" on the one record that ends a
	// process (strace's +++ line), which is no call.
	Event    string `json:"event,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
}

func (t *Tracer) write(r *Record, start time.Time) {
	if t.sum >= 0 && r.Event == "" {
		b, _ := json.Marshal(r)
		unix.Write(t.sum, append(b, '\n'))
	}
	if t.out < 0 {
		return
	}
	var line []byte
	if t.cfg.Format == "jsonl" {
		b, _ := json.Marshal(r)
		line = append(b, '\n')
	} else {
		t.mu.Lock()
		prev := t.last
		t.last = start
		t.mu.Unlock()
		line = []byte(t.text(r, start, prev))
	}
	for len(line) > 0 {
		n, err := unix.Write(t.out, line)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		line = line[n:]
	}
}

// text is the strace line: [pid N] TIME name(args) = result <secs> [kind].
func (t *Tracer) text(r *Record, start, prev time.Time) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "[pid %d] ", r.Tid)
	switch r.Event {
	case "exited":
		return sb.String() + fmt.Sprintf("+++ exited with %d +++\n", r.ExitCode)
	case "killed":
		return sb.String() + fmt.Sprintf("+++ killed by %s +++\n", r.Signal)
	}
	switch {
	case t.cfg.Relative:
		d := time.Duration(0)
		if !prev.IsZero() {
			d = start.Sub(prev)
		}
		fmt.Fprintf(&sb, "%6d.%06d ", d/time.Second, d%time.Second/time.Microsecond)
	case t.cfg.Time == 1:
		sb.WriteString(start.Format("15:04:05 "))
	case t.cfg.Time == 2:
		sb.WriteString(start.Format("15:04:05.000000 "))
	case t.cfg.Time >= 3:
		fmt.Fprintf(&sb, "%d.%06d ", start.Unix(), start.Nanosecond()/1000)
	}
	fmt.Fprintf(&sb, "%s(%s) = %s", r.Syscall, strings.Join(r.Args, ", "), r.ResultText)
	if t.cfg.Durations && r.Result != nil {
		d := time.Duration(r.DurationNS)
		fmt.Fprintf(&sb, " <%d.%06d>", d/time.Second, d%time.Second/time.Microsecond)
	}
	fmt.Fprintf(&sb, " [%s]\n", r.Kind)
	if r.Where != "" {
		fmt.Fprintf(&sb, " > %s\n", r.Where)
	}
	return sb.String()
}
