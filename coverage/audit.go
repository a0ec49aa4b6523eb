package coverage

import (
	"fmt"
	"sort"
	"strconv"
)

// Platforms an audit section can describe.
const (
	// AuditInProcess: the guest ran in the host process under vsysbed;
	// guest code is everything outside the host's code.
	AuditInProcess = "inprocess"
	// AuditNative: the program ran natively, with no interception; all
	// of it is guest code, and the audit's sites are its syscall profile.
	AuditNative = "native"
)

// auditNrOther mirrors the audit's key for syscall numbers outside
// 0..1022 (x32, -1): package coverage must not import the audit package
// (the host process links coverage, and the audit's dependencies open fds
// at init).
const auditNrOther = 1023

// AuditSection is the kernel's view of the run from the eBPF audit
// (`vsysbed run --audit=ebpf`): which syscalls the real kernel executed for
// the run's processes, from guest code or from host code.
type AuditSection struct {
	Platform string `json:"platform"`
	// Escapes is the number of syscalls the kernel executed from guest
	// code. In-process it must be 0: each one ran natively on the host's
	// state instead of being trapped.
	Escapes  uint64         `json:"escapes"`
	Syscalls []AuditSyscall `json:"syscalls"`
	// Sites are the guest call sites the kernel executed syscalls from:
	// the escapes in-process, the whole profile natively.
	Sites        []AuditSite `json:"sites"`
	SitesDropped uint64      `json:"sites_dropped"`
	IPUnreadable uint64      `json:"ip_unreadable"`
	// Processes is how many processes the audit tracked.
	Processes int `json:"processes"`
	// Reconciled is false when, for some syscall that vsysbed passes
	// straight through, the kernel executed fewer from host code than the
	// report counts guest calls of it (Mismatches). Informative: calls
	// made before a forked process was tracked are missing from the audit.
	Reconciled bool            `json:"reconciled"`
	Mismatches []AuditMismatch `json:"mismatches"`
}

// AuditSyscall is how often the kernel executed one syscall, by where its
// instruction lay.
type AuditSyscall struct {
	Nr    int    `json:"nr"`
	Name  string `json:"name"`
	Guest uint64 `json:"guest"`
	Host  uint64 `json:"host"`
}

// AuditSite is one guest syscall instruction and how often the kernel
// executed syscall Nr from it, located like a report Site.
//
// It is a Site without Kind, and stays a type of its own for the schema:
// Site's "kind" is required (every report site has one) while the audit's
// sites have none (the audit sees no entry path, only the instruction;
// "additionalProperties": false), and Nr may be negative here (-1, a call
// a tracer cancelled) but not in a report site. One struct would need
// "kind" optional in the report or present in the audit. site and
// auditSiteOf convert between the two.
type AuditSite struct {
	Address  Hex    `json:"address"`
	Object   string `json:"object"`
	Offset   Hex    `json:"offset"`
	Symbol   string `json:"symbol"`
	Nr       int    `json:"nr"`
	Syscall  string `json:"syscall"`
	Count    uint64 `json:"count"`
	BuildID  string `json:"build_id,omitempty"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// site is a as a trap Site: the audit counts syscall instructions, the
// sites a trap would have counted.
func (a *AuditSite) site() Site {
	return Site{Address: a.Address, Object: a.Object, Offset: a.Offset, Symbol: a.Symbol,
		Nr: a.Nr, Syscall: a.Syscall, Kind: KindTrap, Count: a.Count,
		BuildID: a.BuildID, Function: a.Function, File: a.File, Line: a.Line}
}

// auditSiteOf is s as an AuditSite (its Kind dropped).
func auditSiteOf(s *Site) AuditSite {
	return AuditSite{Address: s.Address, Object: s.Object, Offset: s.Offset, Symbol: s.Symbol,
		Nr: s.Nr, Syscall: s.Syscall, Count: s.Count,
		BuildID: s.BuildID, Function: s.Function, File: s.File, Line: s.Line}
}

// AuditMismatch is a pass-through syscall whose host-executed count is
// below the guest calls the report counted of it.
type AuditMismatch struct {
	Nr       int    `json:"nr"`
	Name     string `json:"name"`
	Host     uint64 `json:"host"`
	Expected uint64 `json:"expected"` // the report's bypass + trap calls
}

// AuditCount is one syscall's counters as the audit read them.
type AuditCount struct{ Guest, Host uint64 }

// AuditRawSite is one per-site counter as the audit read it.
type AuditRawSite struct {
	Addr  uint64
	Nr    int64
	Count uint64
}

// AuditInput is what BuildAudit needs: the audit's counters (copied from
// the audit package's AuditCounts by the supervisor) and how to place them.
type AuditInput struct {
	Platform     string
	Syscalls     map[uint32]AuditCount
	Sites        []AuditRawSite
	SitesDropped uint64
	IPUnreadable uint64
	Processes    int

	// Events are the mappings the sites are resolved against (the run's
	// event log in-process, /proc/PID/maps snapshots natively).
	Events []Event

	// PassThrough says which syscalls the host executes natively, once,
	// for every guest call (kernelsim's fast route); nil disables the
	// reconciliation (native: nothing to reconcile).
	PassThrough func(nr int) bool

	SyscallName func(nr int) string
	NoSymbols   bool
	VDSOImage   []byte      // as Input.VDSOImage
	Symbols     SymbolStore // as Input.Symbols
}

// BuildAudit turns the audit's counters into a report section, placing
// guest sites with the run's mappings and reconciling host counts with the
// per-syscall calls of rows (the report's Syscalls; nil natively).
func BuildAudit(in AuditInput, rows []SyscallRow) *AuditSection {
	a := &AuditSection{
		Platform:     in.Platform,
		Syscalls:     []AuditSyscall{},
		Sites:        []AuditSite{},
		SitesDropped: in.SitesDropped,
		IPUnreadable: in.IPUnreadable,
		Processes:    in.Processes,
		Reconciled:   true,
		Mismatches:   []AuditMismatch{},
	}
	name := auditNamer(in.SyscallName)
	for nr, c := range in.Syscalls {
		if c.Guest == 0 && c.Host == 0 {
			continue
		}
		a.Escapes += c.Guest
		a.Syscalls = append(a.Syscalls, AuditSyscall{Nr: int(nr), Name: name(int64(nr)), Guest: c.Guest, Host: c.Host})
	}
	sort.Slice(a.Syscalls, func(i, j int) bool { return a.Syscalls[i].Nr < a.Syscalls[j].Nr })

	maps := newAddressMap()
	for _, ev := range in.Events {
		switch ev.Ev {
		case EvMap:
			maps.mapRange(uint64(ev.Start), uint64(ev.End), uint64(ev.Offset), ev.Path)
		case EvUnmap:
			maps.unmapRange(uint64(ev.Start), uint64(ev.End))
		}
	}
	syms := newSymbolizer(!in.NoSymbols, in.VDSOImage)
	syms.store = in.Symbols
	defer syms.flush()
	for _, s := range in.Sites {
		obj, off := maps.resolve(s.Addr)
		// A trap site is the syscall instruction itself, as here.
		site := Site{Address: Hex(s.Addr), Object: obj, Offset: Hex(off), Kind: KindTrap,
			Nr: int(s.Nr), Syscall: name(s.Nr), Count: s.Count}
		syms.fill(&site)
		a.Sites = append(a.Sites, auditSiteOf(&site))
	}
	sort.Slice(a.Sites, func(i, j int) bool {
		x, y := &a.Sites[i], &a.Sites[j]
		switch {
		case x.Count != y.Count:
			return x.Count > y.Count
		case x.Address != y.Address:
			return x.Address < y.Address
		}
		return x.Nr < y.Nr
	})

	if in.PassThrough != nil {
		for _, row := range rows {
			if !in.PassThrough(row.Nr) || row.Nr < 0 || row.Nr >= auditNrOther {
				continue
			}
			want := row.Bypass + row.Trap
			host := in.Syscalls[uint32(row.Nr)].Host
			if host < want {
				a.Mismatches = append(a.Mismatches, AuditMismatch{Nr: row.Nr, Name: row.Name, Host: host, Expected: want})
			}
		}
		a.Reconciled = len(a.Mismatches) == 0
	}
	return a
}

// auditNamer names audit syscall numbers: the shared key of out-of-range
// numbers is "other", a call a tracer cancelled (-1) "cancelled".
func auditNamer(f func(int) string) func(int64) string {
	base := syscallNamer(f)
	return func(nr int64) string {
		switch {
		case nr == -1:
			return "cancelled"
		case nr == auditNrOther:
			return "other"
		case nr < 0:
			return "syscall_neg" + strconv.FormatInt(-nr, 10)
		}
		return base(int(nr))
	}
}

// auditSiteTable lays out the audit's sites in fixed columns: object,
// where in it, syscall, count.
var auditSiteTable = SiteTable{Indent: "  ", Columns: []SiteColumn{
	{Cell: func(s *Site) string { return s.Object }, Width: 40, MaxWidth: 40, ClipLeft: true},
	{Cell: siteLocation, Width: 30, MaxWidth: 30},
	{Cell: func(s *Site) string { return s.Syscall }, Width: 16, MaxWidth: 16},
	{Cell: func(s *Site) string { return strconv.FormatUint(s.Count, 10) }},
}}

// writeText renders the audit section for WriteText.
func (a *AuditSection) writeText(line func(string, ...any)) {
	line("")
	var host uint64
	for _, s := range a.Syscalls {
		host += s.Host
	}
	head := fmt.Sprintf("eBPF audit (%s, %d process(es)): %d escape(s)", a.Platform, a.Processes, a.Escapes)
	if a.Platform == AuditNative {
		head = fmt.Sprintf("eBPF audit (native, %d process(es)): the kernel executed %d syscall(s)", a.Processes, a.Escapes)
	} else {
		head += fmt.Sprintf(", %d host syscall(s)", host)
		if a.Reconciled {
			head += ", reconciled"
		} else {
			head += fmt.Sprintf(", %d pass-through syscall(s) not reconciled", len(a.Mismatches))
		}
	}
	line("%s", head)
	for _, m := range a.Mismatches {
		line("  %s: host executed %d, the report counts %d guest calls", m.Name, m.Host, m.Expected)
	}
	if a.Platform == AuditNative {
		rows := append([]AuditSyscall(nil), a.Syscalls...)
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Guest > rows[j].Guest })
		line("  %-22s  %10s", "syscall", "calls")
		for _, s := range rows {
			line("  %-22s  %10d", clipRight(s.Name, 22), s.Guest)
		}
	}
	if len(a.Sites) > 0 {
		title := "escaped"
		if a.Platform == AuditNative {
			title = "syscall"
		}
		line("%s sites (%d), most frequent first:", title, len(a.Sites))
		top := make([]Site, min(len(a.Sites), TextTopSites))
		for i := range top {
			top[i] = a.Sites[i].site()
		}
		for _, l := range auditSiteTable.Lines(top) {
			line("%s", l)
		}
		if rest := len(a.Sites) - len(top); rest > 0 {
			line("  … %d more", rest)
		}
	}
	if a.SitesDropped > 0 || a.IPUnreadable > 0 {
		line("audit: %d site(s) dropped (table full), %d syscall(s) with an unreadable ip", a.SitesDropped, a.IPUnreadable)
	}
}
