package coverage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"vsysbed/tls"
)

// Schema names the report format; bump it on any incompatible change.
const Schema = "vsysbed.report/v1"

// Entry kind names, as they appear in the report.
var kindNames = [tls.SiteKinds]string{
	tls.KindBypass: "bypass",
	tls.KindTrap:   "trap",
	tls.KindVDSO:   "vdso",
	tls.KindInt80:  "int80",
}

// i386Names names the i386 calls tls answers for int $0x80 (the rest are
// ENOSYS there and named i386_<nr>).
var i386Names = map[uint32]string{
	1: "i386_exit", 20: "i386_getpid", 64: "i386_getppid", 199: "i386_getuid32",
	200: "i386_getgid32", 201: "i386_geteuid32", 202: "i386_getegid32",
	224: "i386_gettid", 252: "i386_exit_group",
}

func i386Name(nr uint32) string {
	if n, ok := i386Names[nr]; ok {
		return n
	}
	return "i386_" + strconv.FormatUint(uint64(nr), 10)
}

// UnknownObject is the object of a site that lies in no logged mapping.
const UnknownObject = "[unknown]"

// Report is the coverage report of one run. Field order and slice order are
// fixed so that two reports of similar runs diff cleanly.
type Report struct {
	Schema           string       `json:"schema"`
	Command          []string     `json:"command"`
	Exit             ExitStatus   `json:"exit"`
	Host             ExitStatus   `json:"host"`
	Complete         bool         `json:"complete"`
	IncompleteReason string       `json:"incomplete_reason"`
	TrapMode         string       `json:"trap_mode"`
	Threads          int          `json:"threads"`
	Totals           Totals       `json:"totals"`
	Syscalls         []SyscallRow `json:"syscalls"`
	Sites            []Site       `json:"sites"`
	SitesDropped     uint64       `json:"sites_dropped"`
	Execs            []Exec       `json:"execs"`
	Runs             []Run        `json:"runs"`
	Processes        []Process    `json:"processes"`
	Errors           []string     `json:"errors"`
	// Audit is the eBPF audit's section (`--audit=ebpf`); absent otherwise.
	Audit *AuditSection `json:"audit,omitempty"`
}

// Process is one guest process of the run's tree: its pid (the host
// process's), the guest process that forked it (0 for the first, started
// by vsysbed), every image it ran (execve), and how it ended when that was
// recorded. Running marks a process that was still running when the
// report was written (`vsysbed run --wait=main`): what it counts later is
// not in the report.
type Process struct {
	Pid     int         `json:"pid"`
	Parent  int         `json:"parent"`
	Images  []string    `json:"images"`
	Exit    *ExitStatus `json:"exit,omitempty"`
	Running bool        `json:"running,omitempty"`
}

// ExitStatus is how a process ended: Code when Signal is "", else killed by
// Signal. The fault fields are set for a guest killed by a synchronous
// signal (SIGSEGV, SIGBUS, ...).
type ExitStatus struct {
	Code      int    `json:"code"`
	Signal    string `json:"signal"`
	FaultAddr Hex    `json:"fault_addr,omitempty"`
	FaultRIP  Hex    `json:"fault_rip,omitempty"`
}

func (e ExitStatus) String() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	return "exit code " + strconv.Itoa(e.Code)
}

// Totals are the calls of every syscall by entry kind.
type Totals struct {
	Bypass uint64 `json:"bypass"`
	Trap   uint64 `json:"trap"`
	VDSO   uint64 `json:"vdso"`
	// Int80 counts i386 calls (int $0x80); absent when there were none.
	Int80 uint64 `json:"int80,omitempty"`
	Total uint64 `json:"total"`
}

func (t *Totals) add(kind int, n uint64) {
	switch kind {
	case tls.KindBypass:
		t.Bypass += n
	case tls.KindTrap:
		t.Trap += n
	case tls.KindVDSO:
		t.VDSO += n
	case tls.KindInt80:
		t.Int80 += n
	}
	t.Total += n
}

// SyscallRow is one syscall's calls by entry kind.
type SyscallRow struct {
	Nr     int    `json:"nr"`
	Name   string `json:"name"`
	Bypass uint64 `json:"bypass"`
	Trap   uint64 `json:"trap"`
	VDSO   uint64 `json:"vdso"`
	// Int80: an i386 call's row (Nr is the i386 number, Name i386_*).
	Int80 uint64 `json:"int80,omitempty"`
	Total uint64 `json:"total"`
	// Errors is how many of the calls returned an error (-4095..-1):
	// the result class `vsysbed diff-run` compares between platforms.
	Errors uint64 `json:"errors"`
}

// Site is one call site: where a syscall entered the host, by which path.
type Site struct {
	Address Hex    `json:"address"`
	Object  string `json:"object"`
	Offset  Hex    `json:"offset"`
	Symbol  string `json:"symbol"`
	Nr      int    `json:"nr"`
	Syscall string `json:"syscall"`
	Kind    string `json:"kind"`
	Count   uint64 `json:"count"`

	// Symbolisation (filled when the object can be read): the object's
	// GNU build-id (hex), the function the site lies in, and the source
	// position from DWARF line tables.
	BuildID  string `json:"build_id,omitempty"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Run is one guest run a report covers: a single `vsysbed run` has one;
// `vsysbed report merge` keeps every input's.
type Run struct {
	Command  []string   `json:"command"`
	Exit     ExitStatus `json:"exit"`
	Complete bool       `json:"complete"`
}

// Exec is one program image the run executed, from the event log.
type Exec struct {
	Path   string   `json:"path"`
	Argv   []string `json:"argv"`
	Interp string   `json:"interp"`
}

// HostStatus is how the supervisor saw the host process end.
type HostStatus struct {
	Code   int
	Signal syscall.Signal // 0 when the process exited normally
}

// HostStatusFromWait converts a wait status into a HostStatus.
func HostStatusFromWait(ws syscall.WaitStatus) HostStatus {
	if ws.Signaled() {
		return HostStatus{Signal: ws.Signal()}
	}
	return HostStatus{Code: ws.ExitStatus()}
}

// Input is everything Build needs.
type Input struct {
	Command []string

	// Dir is the run directory; its shards and event log are read unless
	// Shards or Events (respectively) are non-nil.
	Dir    string
	Shards []*ShardData
	Events []Event

	Host HostStatus // what the supervisor observed
	// HostPID is the pid of the supervisor's own child, the first guest
	// process: its exit is the run's. 0 takes any (a single process).
	HostPID  int
	TrapMode string // "seccomp" or "sud"; "" takes it from the shards
	// Running are the processes of the tree still running when the report
	// is built (the supervisor did not wait for them): their records get
	// Running.
	Running []int

	// SyscallName names a syscall number (kernelsim.Name); nil or an empty
	// result gives "syscall_<nr>".
	SyscallName func(nr int) string

	// NoSymbols leaves sites at object+offset: no object file is read
	// for build-id, function or source line.
	NoSymbols bool
}

// newReport is an empty report whose lists are empty, not null, in JSON
// (the schema requires arrays).
func newReport() *Report {
	return &Report{
		Schema:    Schema,
		Command:   []string{},
		Syscalls:  []SyscallRow{},
		Sites:     []Site{},
		Execs:     []Exec{},
		Runs:      []Run{},
		Processes: []Process{},
		Errors:    []string{},
	}
}

// Build merges the shards (summing every thread's counts and sites),
// resolves sites against the logged mappings and decides whether the run
// is complete.
func Build(in Input) (*Report, error) {
	r := newReport()
	r.Command = append(r.Command, in.Command...)
	r.Host = hostExit(in.Host)
	r.TrapMode = in.TrapMode
	var shardErrs []error
	shards := in.Shards
	if shards == nil && in.Dir != "" {
		var err error
		shards, shardErrs, err = readShards(in.Dir)
		if err != nil {
			return nil, err
		}
	}
	events := in.Events
	var eventsErr error
	if events == nil && in.Dir != "" {
		events, eventsErr = ReadEvents(filepath.Join(in.Dir, EventsFile))
		var syn *EventSyntaxError
		if eventsErr != nil && !errors.As(eventsErr, &syn) {
			return nil, eventsErr
		}
	}
	name := syscallNamer(in.SyscallName)

	// Counts.
	var counts [tls.NrMax][tls.Kinds]uint64
	var errs [tls.NrMax]uint64
	// Sites are counted per process: the processes of a tree share the
	// guest address window, so one address can hold different objects in
	// two of them.
	type siteKey struct {
		pid      int
		addr     uint64
		nr, kind uint32
	}
	siteCounts := map[siteKey]uint64{}
	siteOnly := map[nrKind]uint64{}
	for _, sd := range shards {
		for nr := range counts {
			for k := range counts[nr] {
				counts[nr][k] += sd.Counts[nr][k]
			}
		}
		for nr, n := range sd.Errors {
			errs[nr] += uint64(n)
		}
		for _, s := range sd.Sites {
			siteCounts[siteKey{int(sd.Pid), s.Addr, s.Nr, s.Kind}] += s.Count
			if s.Nr >= tls.NrMax || s.Kind >= tls.Kinds {
				siteOnly[nrKind{s.Nr, s.Kind}] += s.Count
			}
		}
		r.SitesDropped += sd.Exit.SitesDropped
		// A shard holds every thread that used its block in turn.
		r.Threads += int(max(sd.Threads, 1))
	}
	for nr := range counts {
		row := SyscallRow{Nr: nr, Name: name(nr)}
		var t Totals
		for k, n := range counts[nr] {
			t.add(k, n)
			r.Totals.add(k, n)
		}
		if t.Total == 0 {
			continue
		}
		row.Bypass, row.Trap, row.VDSO, row.Total = t.Bypass, t.Trap, t.VDSO, t.Total
		row.Errors = errs[nr]
		r.Syscalls = append(r.Syscalls, row)
	}
	r.Syscalls = append(r.Syscalls, siteOnlyRows(siteOnly, name, &r.Totals)...)

	// Sites. Each process has its own address map, a forked one starting
	// from a copy of its parent's (a vfork child runs in its parent's
	// memory until its execve); all maps together answer for shards that
	// name no process.
	maps := map[int]*addressMap{}
	allMaps := newAddressMap()
	mapOf := func(pid int) *addressMap {
		m := maps[pid]
		if m == nil {
			m = newAddressMap()
			maps[pid] = m
		}
		return m
	}
	var exitEvent *Event
	procIndex := map[int]int{}
	proc := func(pid int) *Process {
		i, ok := procIndex[pid]
		if !ok {
			i = len(r.Processes)
			procIndex[pid] = i
			r.Processes = append(r.Processes, Process{Pid: pid, Images: []string{}})
		}
		return &r.Processes[i]
	}
	for i := range events {
		ev := &events[i]
		switch ev.Ev {
		case EvFork:
			proc(ev.Pid).Parent = ev.Parent
			maps[ev.Pid] = mapOf(ev.Parent).clone()
		case EvExit:
			proc(ev.Pid).Exit = &ExitStatus{Code: ev.Code, Signal: ev.Signal}
		case EvReaped:
			// The parent saw how the child ended; the child's own record,
			// when it wrote one, says the same.
			if c := proc(ev.Child); c.Exit == nil {
				c.Exit = &ExitStatus{Code: ev.Code, Signal: ev.Signal}
			}
		case EvExec:
			p := proc(ev.Pid)
			p.Images = append(p.Images, ev.Path)
		}
		switch ev.Ev {
		case EvExec:
			r.Execs = append(r.Execs, Exec{Path: ev.Path, Argv: append([]string{}, ev.Argv...), Interp: ev.Interp})
		case EvMap:
			mapOf(ev.Pid).mapRange(uint64(ev.Start), uint64(ev.End), uint64(ev.Offset), ev.Path)
			allMaps.mapRange(uint64(ev.Start), uint64(ev.End), uint64(ev.Offset), ev.Path)
		case EvUnmap:
			mapOf(ev.Pid).unmapRange(uint64(ev.Start), uint64(ev.End))
			allMaps.unmapRange(uint64(ev.Start), uint64(ev.End))
		case EvExit:
			if in.HostPID == 0 || ev.Pid == in.HostPID {
				exitEvent = ev
			}
		case EvError:
			r.addError(ev.Msg)
		}
	}
	for _, pid := range in.Running {
		if p := proc(pid); p.Exit == nil {
			p.Running = true
		}
	}
	syms := newSymbolizer(!in.NoSymbols)
	// The same call site in several processes (same address, object and
	// offset) is one entry.
	type resolved struct {
		addr, offset uint64
		object       string
		nr, kind     uint32
	}
	merged := map[resolved]int{}
	for key, n := range siteCounts {
		m := maps[key.pid]
		if m == nil || key.pid == 0 {
			m = allMaps
		}
		obj, off := m.resolve(key.addr)
		if obj == UnknownObject && m != allMaps {
			obj, off = allMaps.resolve(key.addr)
		}
		rk := resolved{key.addr, off, obj, key.nr, key.kind}
		if i, ok := merged[rk]; ok {
			r.Sites[i].Count += n
			continue
		}
		kind := "kind" + strconv.Itoa(int(key.kind))
		if key.kind < tls.SiteKinds {
			kind = kindNames[key.kind]
		}
		sysName := name(int(key.nr))
		if key.kind == tls.KindInt80 {
			sysName = i386Name(key.nr)
		}
		site := Site{
			Address: Hex(key.addr),
			Object:  obj,
			Offset:  Hex(off),
			Nr:      int(key.nr),
			Syscall: sysName,
			Kind:    kind,
			Count:   n,
		}
		syms.fill(&site)
		merged[rk] = len(r.Sites)
		r.Sites = append(r.Sites, site)
	}
	sortSites(r.Sites)

	// Trap mode.
	if r.TrapMode == "" && len(shards) > 0 {
		r.TrapMode = "seccomp"
		if shards[0].TrapMode == tls.TrapSUD {
			r.TrapMode = "sud"
		}
	}

	// Exit and completeness.
	r.Complete = true
	if ex, ok := guestExit(shards, exitEvent, in.HostPID); ok {
		r.Exit = ex
	} else {
		r.Exit = ExitStatus{Code: r.Host.Code, Signal: r.Host.Signal}
		r.Complete = false
		if r.Host.Signal != "" {
			r.IncompleteReason = "host process killed by " + r.Host.Signal + " before the guest exited"
		} else {
			r.IncompleteReason = fmt.Sprintf("host process exited with code %d before the guest exited", r.Host.Code)
		}
	}
	if len(shardErrs) > 0 {
		for _, err := range shardErrs {
			r.addError(err.Error())
		}
		if r.Complete {
			r.Complete = false
			r.IncompleteReason = fmt.Sprintf("%d shard file(s) unreadable: their counts are missing", len(shardErrs))
		}
	}
	if eventsErr != nil {
		r.addError(eventsErr.Error())
	}
	r.Runs = []Run{{Command: r.Command, Exit: r.Exit, Complete: r.Complete}}
	return r, nil
}

func (r *Report) addError(msg string) {
	for _, e := range r.Errors {
		if e == msg {
			return
		}
	}
	r.Errors = append(r.Errors, msg)
}

// nrKind is a syscall number with its entry kind.
type nrKind struct{ nr, kind uint32 }

// siteOnlyRows are the rows of calls counted in the site table only:
// numbers outside the x86-64 table (syscall(-1), x32, 512 and up: every
// one answered -ENOSYS, so each is an error) and i386 calls (int $0x80),
// which have their own numbers. They follow the table's rows, i386 last.
func siteOnlyRows(calls map[nrKind]uint64, name func(int) string, totals *Totals) []SyscallRow {
	keys := make([]nrKind, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := keys[i].kind == tls.KindInt80, keys[j].kind == tls.KindInt80; a != b {
			return b
		}
		return keys[i].nr < keys[j].nr
	})
	var rows []SyscallRow
	for _, k := range keys {
		n := calls[k]
		totals.add(int(k.kind), n)
		if k.kind == tls.KindInt80 {
			rows = append(rows, SyscallRow{Nr: int(k.nr), Name: i386Name(k.nr), Int80: n, Total: n})
			continue
		}
		if i := len(rows) - 1; i >= 0 && rows[i].Nr == int(k.nr) && rows[i].Int80 == 0 {
			rows[i].add(int(k.kind), n)
			continue
		}
		row := SyscallRow{Nr: int(k.nr), Name: name(int(k.nr))}
		row.add(int(k.kind), n)
		rows = append(rows, row)
	}
	return rows
}

// add counts n calls of kind in the row; outside the table every call is
// an error (ENOSYS).
func (row *SyscallRow) add(kind int, n uint64) {
	switch kind {
	case tls.KindBypass:
		row.Bypass += n
	case tls.KindTrap:
		row.Trap += n
	}
	row.Total += n
	row.Errors += n
}

func hostExit(h HostStatus) ExitStatus {
	return ExitStatus{Code: h.Code, Signal: SignalName(h.Signal)}
}

func syscallNamer(f func(int) string) func(int) string {
	return func(nr int) string {
		if f != nil {
			if n := f(nr); n != "" {
				return n
			}
		}
		return "syscall_" + strconv.Itoa(nr)
	}
}

// guestExit finds how the guest ended: from a shard's exit record (written
// through the shared mapping, so it survives the host) or else from the
// event log's last exit event. Only the first process's shards count when
// hostPID is known: its children exit on their own. A record with a signal
// wins over one without: a thread that hit a fatal fault tells more than
// its siblings.
func guestExit(shards []*ShardData, ev *Event, hostPID int) (ExitStatus, bool) {
	var found *tls.Exit
	for _, sd := range shards {
		e := &sd.Exit
		if e.Done == 0 || hostPID != 0 && sd.Pid != 0 && int(sd.Pid) != hostPID {
			continue
		}
		if found == nil || (found.Signal == 0 && e.Signal != 0) {
			found = e
		}
	}
	if found != nil {
		return ExitStatus{
			Code:      int(found.Code),
			Signal:    SignalName(syscall.Signal(found.Signal)),
			FaultAddr: Hex(found.FaultAddr),
			FaultRIP:  Hex(found.FaultRip),
		}, true
	}
	if ev != nil {
		return ExitStatus{Code: ev.Code, Signal: ev.Signal}, true
	}
	return ExitStatus{}, false
}

// sortSites orders sites by count (most frequent first), then object,
// offset, syscall and kind, with the address last so the order is total.
func sortSites(s []Site) {
	sort.Slice(s, func(i, j int) bool {
		a, b := &s[i], &s[j]
		switch {
		case a.Count != b.Count:
			return a.Count > b.Count
		case a.Object != b.Object:
			return a.Object < b.Object
		case a.Offset != b.Offset:
			return a.Offset < b.Offset
		case a.Syscall != b.Syscall:
			return a.Syscall < b.Syscall
		case a.Nr != b.Nr:
			return a.Nr < b.Nr
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		}
		return a.Address < b.Address
	})
}

// WriteJSON writes the report as indented JSON with a trailing newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// SchemaError is a report file of another schema than this build writes.
type SchemaError struct {
	Path   string
	Schema string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s: report schema %q, this build reads %q", e.Path, e.Schema, Schema)
}

// Load reads a JSON report written by WriteJSON.
func Load(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Parse reads the JSON report b; name says where it came from, in errors.
func Parse(b []byte, name string) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Schema != Schema {
		return nil, &SchemaError{Path: name, Schema: r.Schema}
	}
	return &r, nil
}
