package coverage

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"syscall"
)

// Schema names the report format; bump it on any incompatible change.
const Schema = "vsysbed.report/v1"

// Entry kinds: a Site's Kind.
const (
	// KindBypass: through __kernel_vsyscall, the site is the return address.
	KindBypass = "bypass"
	// KindTrap: a raw syscall instruction caught by the trap filter, the
	// site is the instruction: the sites a libc developer has to fix.
	KindTrap = "trap"
	// KindVDSO: answered in the vDSO without entering the kernel.
	KindVDSO = "vdso"
	// KindInt80: an i386 call (int $0x80); Nr is an i386 number.
	KindInt80 = "int80"
	// KindPatched: a raw syscall instruction whose site vsysbed rewrote
	// (--rewrite=lazy) after trapping there, so that the call entered the
	// host without a signal; the site is the syscall instruction, as for
	// its traps.
	KindPatched = "patched"
)

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
	Schema string `json:"schema"`
	// Version is the vsysbed build that wrote the report (`vsysbed
	// --version`); absent in reports of older builds.
	Version          string       `json:"vsysbed_version,omitempty"`
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

	// Inject are the run's --inject rules, Personality its --personality
	// (absent: linux): the calls they changed are counted in the rows'
	// and sites' Injected and Missing.
	Inject      []string `json:"inject,omitempty"`
	Personality string   `json:"personality,omitempty"`
	// Audit is the eBPF audit's section (`--audit=ebpf`); absent otherwise.
	Audit *AuditSection `json:"audit,omitempty"`
	// Timing says how the times were measured (absent with --timing=off,
	// on the ptrace platform and in reports from before timing).
	Timing *Timing `json:"timing,omitempty"`
	// PatchNext is "what to patch next": the trapped calls grouped by the
	// code that made them, the largest saving first (PatchNextOf).
	PatchNext []PatchGroup `json:"patch_next,omitempty"`
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
	// Patched counts calls through rewritten sites; absent when none.
	Patched uint64 `json:"patched,omitempty"`
	Total   uint64 `json:"total"`
	// TimeNs and MeanNs are the time spent in every call and per call, by
	// kind; absent when nothing was timed.
	TimeNs KindTimes `json:"time_ns,omitzero"`
	MeanNs KindTimes `json:"mean_ns,omitzero"`
}

// addRow counts a row's calls.
func (t *Totals) addRow(row *SyscallRow) {
	t.Bypass += row.Bypass
	t.Trap += row.Trap
	t.VDSO += row.VDSO
	t.Int80 += row.Int80
	t.Patched += row.Patched
	t.Total += row.Total
	t.TimeNs.add(row.TimeNs)
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
	// Patched: calls through a rewritten site (--rewrite=lazy); a site's
	// first calls are traps, so a syscall with Patched has Trap too.
	Patched uint64 `json:"patched,omitempty"`
	Total   uint64 `json:"total"`
	// Errors is how many of the calls ended in an error (-4095..-1) the
	// guest got back, a restarted call once (docs/report-schema.md, "What
	// one call is"): the result class `vsysbed diff-run` compares.
	Errors uint64 `json:"errors"`
	// Injected: calls an --inject rule changed; Missing: calls outside
	// the run's --personality, which failed with ENOSYS. Both are among
	// the calls counted above.
	Injected uint64 `json:"injected,omitempty"`
	Missing  uint64 `json:"missing,omitempty"`
	// TimeNs and MeanNs are the time spent in the calls, in all and per
	// call, by kind (docs/report-schema.md, "Time"); absent when none was
	// timed.
	TimeNs KindTimes `json:"time_ns,omitzero"`
	MeanNs KindTimes `json:"mean_ns,omitzero"`
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
	// Injected and Missing: as SyscallRow's, at this site.
	Injected uint64 `json:"injected,omitempty"`
	Missing  uint64 `json:"missing,omitempty"`

	// Symbolisation (filled when the object can be read): the object's
	// GNU build-id (hex), the function the site lies in, and the source
	// position from DWARF line tables.
	BuildID  string `json:"build_id,omitempty"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`

	// TimeNs and MeanNs: the time spent in the site's calls, in all and
	// per call; absent when none was timed.
	TimeNs uint64 `json:"time_ns,omitempty"`
	MeanNs uint64 `json:"mean_ns,omitempty"`

	// A trap site with --rewrite=lazy: rewritten after RewrittenAfter
	// traps (the rewriting thread's count there; the fewest, over the
	// processes the entry merges), or NotRewritten says why not (the
	// last answer: "pattern unknown", "page not the guest's"...); neither
	// when vsysbed was never asked (rewriting off, a vfork child).
	RewrittenAfter uint64 `json:"rewritten_after,omitempty"`
	NotRewritten   string `json:"not_rewritten,omitempty"`
}

// noteRewrite takes a rewrite answer (an EvRewrite, or nil) for the site,
// one of the processes it merges: a rewrite, the earliest, wins over a
// refusal.
func (s *Site) noteRewrite(ev *Event) {
	s.mergeRewrite(rewriteOf(ev))
}

func rewriteOf(ev *Event) Site {
	switch {
	case ev == nil:
		return Site{}
	case ev.Rewrite == RewritePatched:
		return Site{RewrittenAfter: max(ev.Traps, 1)}
	default:
		return Site{NotRewritten: ev.Rewrite}
	}
}

// mergeRewrite folds o's rewrite fields into s's (merge, Build).
func (s *Site) mergeRewrite(o Site) {
	switch {
	case o.RewrittenAfter > 0 && (s.RewrittenAfter == 0 || o.RewrittenAfter < s.RewrittenAfter):
		s.RewrittenAfter, s.NotRewritten = o.RewrittenAfter, ""
	case o.NotRewritten != "" && s.RewrittenAfter == 0 && s.NotRewritten == "":
		s.NotRewritten = o.NotRewritten
	}
}

// TrapSites returns the report's trap sites (Kind KindTrap: the raw
// syscall instructions a libc developer has to fix), most frequent first.
// Check, Compare and the text report count and list these; so do bed's
// matchers.
func (r *Report) TrapSites() []Site {
	var traps []Site
	for _, s := range r.Sites {
		if s.Kind == KindTrap {
			traps = append(traps, s)
		}
	}
	sortSites(traps)
	return traps
}

// Where names the code around a site for people: its symbol (function and
// offset) when known, else the function, else "?"; C++ and Rust names
// demangled.
func (s *Site) Where() string {
	switch {
	case s.Symbol != "":
		return Demangle(s.Symbol)
	case s.Function != "":
		return Demangle(s.Function)
	}
	return "?"
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

// Shard is what one control block counted, as plain values: rundir
// decodes a shard file into one. A block serves one host process's threads
// in turn.
type Shard struct {
	Pid      int    // the host process whose threads used the block (0: not recorded)
	Threads  int    // how many threads used it in turn
	TrapMode string // "seccomp" or "sud"
	// Syscalls are every call the block counted, by syscall (Nr, the
	// Bypass, Trap, VDSO and Int80 calls, Errors; Name and Total are
	// not read): an i386 call's row has its calls in Int80 only.
	Syscalls []SyscallRow
	// Sites are the block's call sites: Address, Nr, Kind and Count.
	Sites []Site
	// Exit is the block's exit record, nil when none was written.
	Exit         *ExitStatus
	SitesDropped uint64 // calls whose site did not fit in the block's table
	// Cycles are the TSC cycles spent in the calls by syscall and kind,
	// SiteCycles those of Sites[i]'s calls (nil or 0: not timed; rundir
	// has scaled sampled sites to all their calls); Input.Timing's TSCHz
	// converts them.
	Cycles     []CycleRow
	SiteCycles []uint64
}

// Input is everything Build needs: what the run left (rundir.ReadInput
// reads it from a run directory) and what the supervisor saw.
type Input struct {
	Command []string

	Shards []Shard
	Events []Event
	// ShardErrors are the shard files that could not be read: their
	// counts are missing, so the report is incomplete. EventsError is a
	// malformed line of the event log (the good lines are in Events).
	// Both are listed in the report's Errors.
	ShardErrors []error
	EventsError error

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

	// Inject and Personality: the run's --inject rules and --personality,
	// copied into the report.
	Inject      []string
	Personality string

	// NoSymbols leaves sites at object+offset: no object file is read
	// for build-id, function or source line.
	NoSymbols bool
	// VDSOImage is the synthetic vDSO's ELF image (vdsoinject.Build),
	// which names the sites in VDSOObject; nil leaves them at offsets.
	VDSOImage []byte

	// Timing converts the shards' cycles (TSCHz) and is the report's
	// Timing; nil or a zero TSCHz: the report has no times.
	Timing *Timing
	// Symbols keeps symbolisation answers across reports (nil: every
	// report parses its objects, or finds them in this process's cache).
	Symbols SymbolStore
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
func Build(in Input) *Report {
	r := newReport()
	r.Command = append(r.Command, in.Command...)
	r.Inject = append(r.Inject, in.Inject...)
	if in.Personality != "linux" {
		r.Personality = in.Personality
	}
	r.Host = hostExit(in.Host)
	r.TrapMode = in.TrapMode
	shards, events := in.Shards, in.Events
	name := syscallNamer(in.SyscallName)

	// Counts. Sites are counted per process: the processes of a tree
	// share the guest address window, so one address can hold different
	// objects in two of them.
	type siteKey struct {
		pid  int
		addr Hex
		nr   int
		kind string
	}
	siteCounts := map[siteKey]uint64{}
	// Calls --inject and --personality changed, from the event log.
	type tampered struct{ injected, missing uint64 }
	siteTampered := map[siteKey]tampered{}
	rowTampered := map[int]tampered{}
	for _, ev := range events {
		if ev.Ev != EvInject && ev.Ev != EvMissing {
			continue
		}
		k := siteKey{ev.Pid, ev.Site, ev.Nr, ev.Kind}
		st, rt := siteTampered[k], rowTampered[ev.Nr]
		if ev.Ev == EvInject {
			st.injected++
			rt.injected++
		} else {
			st.missing++
			rt.missing++
		}
		siteTampered[k], rowTampered[ev.Nr] = st, rt
	}
	siteCycles := map[siteKey]uint64{}
	var rows []SyscallRow
	var cycles []CycleRow
	for _, sd := range shards {
		rows = append(rows, sd.Syscalls...)
		cycles = append(cycles, sd.Cycles...)
		for i, s := range sd.Sites {
			k := siteKey{sd.Pid, s.Address, s.Nr, s.Kind}
			siteCounts[k] += s.Count
			if i < len(sd.SiteCycles) {
				siteCycles[k] += sd.SiteCycles[i]
			}
		}
		r.SitesDropped += sd.SitesDropped
		// A shard holds every thread that used its block in turn.
		r.Threads += max(sd.Threads, 1)
	}
	var hz uint64
	if in.Timing != nil && in.Timing.TSCHz > 0 {
		hz = in.Timing.TSCHz
	}
	times := timesOf(cycles, hz)
	r.Syscalls = sumRows(rows, func(row *SyscallRow) {
		row.Name = name(row.Nr)
		if row.Int80 > 0 {
			row.Name = i386Name(uint32(row.Nr))
			return
		}
		row.Injected, row.Missing = rowTampered[row.Nr].injected, rowTampered[row.Nr].missing
		row.TimeNs = times[row.Nr]
	})
	r.Totals = totalsOf(r.Syscalls)

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
	// Rewrite answers per (process, site, nr).
	type rewriteKey struct {
		pid  int
		addr Hex
		nr   int
	}
	rewrites := map[rewriteKey]*Event{}
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
		case EvRewrite:
			k := rewriteKey{ev.Pid, ev.Address, ev.Nr}
			if old := rewrites[k]; old == nil || old.Rewrite != RewritePatched {
				rewrites[k] = ev
			}
		}
	}
	for _, pid := range in.Running {
		if p := proc(pid); p.Exit == nil {
			p.Running = true
		}
	}
	syms := newSymbolizer(!in.NoSymbols, in.VDSOImage)
	syms.store = in.Symbols
	// The same call site in several processes (same address, object and
	// offset) is one entry.
	type resolved struct {
		addr, offset uint64
		object       string
		nr           int
		kind         string
	}
	merged := map[resolved]int{}
	for key := range siteTampered {
		siteCounts[key] += 0 // a site the block's full table dropped
	}
	for key, n := range siteCounts {
		tp := siteTampered[key]
		m := maps[key.pid]
		if m == nil || key.pid == 0 {
			m = allMaps
		}
		obj, off := m.resolve(uint64(key.addr))
		if obj == UnknownObject && m != allMaps {
			obj, off = allMaps.resolve(uint64(key.addr))
		}
		rk := resolved{uint64(key.addr), off, obj, key.nr, key.kind}
		ns := CyclesToNs(siteCycles[key], hz)
		var rw *Event
		if key.kind == KindTrap {
			rw = rewrites[rewriteKey{key.pid, key.addr, key.nr}]
		}
		if i, ok := merged[rk]; ok {
			r.Sites[i].Count += n
			r.Sites[i].Injected += tp.injected
			r.Sites[i].Missing += tp.missing
			r.Sites[i].TimeNs += ns
			r.Sites[i].noteRewrite(rw)
			continue
		}
		sysName := name(key.nr)
		if key.kind == KindInt80 {
			sysName = i386Name(uint32(key.nr))
		}
		site := Site{
			Address: key.addr,
			Object:  obj,
			Offset:  Hex(off),
			Nr:      key.nr,
			Syscall: sysName,
			Kind:    key.kind,
			Count:   n,

			Injected: tp.injected,
			Missing:  tp.missing,
			TimeNs:   ns,
		}
		site.noteRewrite(rw)
		syms.fill(&site)
		merged[rk] = len(r.Sites)
		r.Sites = append(r.Sites, site)
	}
	syms.flush()
	sortSites(r.Sites)
	r.setMeans()
	if hz > 0 && !r.Totals.TimeNs.zero() {
		t := *in.Timing
		t.Costs = append([]PathCost(nil), t.Costs...)
		r.Timing = &t
	}
	r.PatchNext = PatchNextOf(r)

	// Trap mode.
	if r.TrapMode == "" && len(shards) > 0 {
		r.TrapMode = shards[0].TrapMode
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
	if len(in.ShardErrors) > 0 {
		for _, err := range in.ShardErrors {
			r.addError(err.Error())
		}
		if r.Complete {
			r.Complete = false
			r.IncompleteReason = fmt.Sprintf("%d shard file(s) unreadable: their counts are missing", len(in.ShardErrors))
		}
	}
	if in.EventsError != nil {
		r.addError(in.EventsError.Error())
	}
	r.Runs = []Run{{Command: r.Command, Exit: r.Exit, Complete: r.Complete}}
	return r
}

func (r *Report) addError(msg string) {
	for _, e := range r.Errors {
		if e == msg {
			return
		}
	}
	r.Errors = append(r.Errors, msg)
}

// sumRows sums the rows of each syscall into one, Total being the sum of
// the kinds, sorted by number with the i386 rows (another table's numbers)
// last. name, when not nil, names each summed row; else a row takes the
// first name the inputs give.
func sumRows(rows []SyscallRow, name func(*SyscallRow)) []SyscallRow {
	type rowKey struct {
		nr    int
		int80 bool
	}
	index := map[rowKey]int{}
	out := []SyscallRow{}
	for _, row := range rows {
		k := rowKey{row.Nr, row.Int80 > 0}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, SyscallRow{Nr: row.Nr})
		}
		m := &out[i]
		if m.Name == "" {
			m.Name = row.Name
		}
		m.Bypass += row.Bypass
		m.Trap += row.Trap
		m.VDSO += row.VDSO
		m.Int80 += row.Int80
		m.Patched += row.Patched
		m.Errors += row.Errors
		m.Injected += row.Injected
		m.Missing += row.Missing
		m.TimeNs.add(row.TimeNs)
	}
	for i := range out {
		out[i].Total = out[i].Bypass + out[i].Trap + out[i].VDSO + out[i].Int80 + out[i].Patched
		if name != nil {
			name(&out[i])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Int80 > 0) != (b.Int80 > 0) {
			return b.Int80 > 0
		}
		return a.Nr < b.Nr
	})
	return out
}

// totalsOf sums the rows' calls.
func totalsOf(rows []SyscallRow) Totals {
	var t Totals
	for i := range rows {
		t.addRow(&rows[i])
	}
	return t
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
func guestExit(shards []Shard, ev *Event, hostPID int) (ExitStatus, bool) {
	var found *ExitStatus
	for _, sd := range shards {
		e := sd.Exit
		if e == nil || hostPID != 0 && sd.Pid != 0 && sd.Pid != hostPID {
			continue
		}
		if found == nil || (found.Signal == "" && e.Signal != "") {
			found = e
		}
	}
	if found != nil {
		return *found, true
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
