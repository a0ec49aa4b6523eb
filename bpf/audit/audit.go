// Package audit is the eBPF audit: the kernel's own view of which syscalls a process really
// executed, and from where. It is the proof behind "nothing escapes": a
// guest syscall that the trap filter (or SUD) stops never reaches the
// sys_enter tracepoint, because the kernel runs seccomp and SUD before the
// tracepoint and skips it for a syscall they refuse; so any syscall that the
// audit sees with a guest instruction pointer ran natively from guest code.
//
// The host process runs the same binary, so nothing here may open fds at
// package initialisation: cilium/ebpf's rlimit package does (its init
// probes the kernel and starts Go's netpoller, whose epoll fd would take a
// number the guest expects), so this package raises RLIMIT_MEMLOCK itself.
package audit

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/vsysbed/vsysbed/bpf"
	"os"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrAuditNotSupported reports that this process cannot load the audit:
// not root (CAP_BPF and CAP_PERFMON are needed), BPF disabled, or a kernel
// without raw tracepoints or bpf_probe_read_kernel (Linux < 5.5). The
// wrapping error says which. Tests skip on it.
var ErrAuditNotSupported = errors.New("bpf: eBPF audit not supported")

// ErrTooManyRanges reports more than MaxAuditRanges disjoint ranges in a
// GuestCode: the program checks a fixed number of them (the verifier wants
// a bounded loop, and an unrolled one is the simplest bound).
var ErrTooManyRanges = errors.New("bpf: audit: too many code ranges")

const (
	// MaxAuditRanges is how many disjoint ranges a GuestCode can have,
	// after adjacent and overlapping ones are merged.
	MaxAuditRanges = 64
	// MaxAuditProcesses is how many processes one Audit can track.
	MaxAuditProcesses = 256
	// MaxAuditSites is the capacity of the per-call-site table; guest
	// syscalls from further sites are counted per syscall only, and in
	// AuditCounts.SitesDropped.
	MaxAuditSites = 8192
	// AuditNrOther is the AuditCounts.Syscalls key of every syscall number
	// outside [0, AuditNrOther): x32 numbers (bit 30), -1 from a tracer
	// that cancelled the call, and numbers no kernel has.
	AuditNrOther = 1023
)

// GuestCode says which instruction pointers of an audited process are
// guest code. The zero value has none: every syscall counts as host.
type GuestCode struct {
	ranges  []bpf.Range
	outside bool
}

// GuestCodeIn makes exactly ranges guest code: the guest's executable
// mappings, when the caller tracks them (and updates them as the guest
// maps code).
func GuestCodeIn(ranges ...bpf.Range) GuestCode { return GuestCode{ranges: ranges} }

// GuestCodeOutside makes every address outside hostRanges guest code: the
// trap filter's own view (its allowed ranges are the host's code), which
// needs no update when the guest maps code. Without ranges, every address
// is guest code: the native platform, where the whole process is the
// program under audit.
func GuestCodeOutside(hostRanges ...bpf.Range) GuestCode {
	return GuestCode{ranges: hostRanges, outside: true}
}

// syscallInsnLen is the length of `syscall`, `sysenter` and `int $0x80`.
// The kernel's pt_regs->ip at sys_enter is the address after the
// instruction; the audit reports the instruction itself, as the coverage
// report does for trap sites.
const syscallInsnLen = 2

// ptRegsIP is offsetof(struct pt_regs, ip) on x86-64: r15 … orig_ax are 16
// u64 before it (arch/x86/include/asm/ptrace.h).
const ptRegsIP = 128

// rangesValue is the per-process value of the ranges map. The kernel
// replaces a hash map element as a whole on update, so the program never
// sees a half-written list (an array map is updated in place).
type rangesValue struct {
	N       uint64 // ranges in use, sorted and disjoint
	Outside uint64 // 1: the ranges are host code, the rest guest code
	Ranges  [MaxAuditRanges]bpf.Range
}

// Offsets into rangesValue for the program.
const (
	offRangesN       = 0
	offRangesOutside = 8
	offRanges        = 16
)

// nrCounts is one slot of the per-syscall map; the program adds 1 to
// Guest or Host atomically (a program can be preempted on its CPU).
type nrCounts struct{ Guest, Host uint64 }

// siteKey is the per-call-site map's key: the syscall instruction and the
// raw syscall number.
type siteKey struct{ Addr, Nr uint64 }

// auditStats is the single value of the stats map.
type auditStats struct {
	SitesDropped uint64 // site table full
	IPUnreadable uint64 // bpf_probe_read_kernel of pt_regs->ip failed
}

// Offsets into auditStats for the program's atomic adds.
const (
	offSitesDropped = 0
	offIPUnreadable = 8
)

// AuditSpec says what to audit.
type AuditSpec struct {
	// TGID is the process whose threads (all of them, including ones
	// created later) are counted.
	TGID uint32
	// Guest says which instruction pointers are guest code.
	Guest GuestCode
}

// SyscallCounts is how often the kernel executed one syscall for the
// audited processes, by where its instruction lies.
type SyscallCounts struct {
	Guest uint64 // from guest code: an escape on the in-process platform
	Host  uint64 // from anywhere else (the host binary, its libc, the fast-path trampoline)
}

// AuditSite is one guest call site: a syscall instruction in guest code
// and how often the kernel executed syscall Nr from it.
type AuditSite struct {
	Addr  uint64 // address of the syscall instruction (pt_regs->ip - 2)
	Nr    int64  // raw syscall number, -1 when a tracer cancelled the call
	Count uint64
}

// AuditCounts is a snapshot of an Audit's counters, summed over CPUs and
// over the tracked processes.
type AuditCounts struct {
	// Syscalls is keyed by syscall number (AuditNrOther for numbers out of
	// range); syscalls that never ran are absent.
	Syscalls map[uint32]SyscallCounts
	// Sites are the guest call sites, sorted by address then number.
	Sites []AuditSite
	// SitesDropped counts guest syscalls not in Sites because the table
	// was full.
	SitesDropped uint64
	// IPUnreadable counts syscalls not classified at all because the
	// kernel refused to read pt_regs->ip; always 0 on a sane kernel.
	IPUnreadable uint64
}

// Escapes is the number of syscalls the kernel executed from guest code.
func (c AuditCounts) Escapes() uint64 {
	var n uint64
	for _, s := range c.Syscalls {
		n += s.Guest
	}
	return n
}

// Audit is a loaded and attached audit program with its maps. Close
// detaches it; counts stop changing then.
type Audit struct {
	tgid   uint32
	ranges *ebpf.Map // hash: tgid -> rangesValue; presence = tracked
	counts *ebpf.Map // per-CPU array: nr -> nrCounts
	sites  *ebpf.Map // hash: siteKey -> count
	stats  *ebpf.Map // array[1]: auditStats
	prog   *ebpf.Program
	link   link.Link
}

// StartAudit loads the audit program, tracks spec.TGID with its guest
// ranges and attaches to sys_enter. Counting starts before it returns.
func StartAudit(spec AuditSpec) (*Audit, error) {
	if spec.TGID == 0 {
		return nil, errors.New("bpf: audit: TGID 0")
	}
	value, err := encodeGuestCode(spec.Guest)
	if err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones
	// to the memory cgroup, and this is then a no-op.
	if err := removeMemlock(); err != nil {
		return nil, notSupported("raising RLIMIT_MEMLOCK", err)
	}
	a := &Audit{tgid: spec.TGID}
	if err := a.load(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.ranges.Put(spec.TGID, value); err != nil {
		a.Close()
		return nil, fmt.Errorf("bpf: audit: set guest ranges: %w", err)
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: a.prog})
	if err != nil {
		a.Close()
		return nil, notSupported("attaching to raw tracepoint sys_enter", err)
	}
	a.link = l
	return a, nil
}

func (a *Audit) load() error {
	var err error
	newMap := func(name string, typ ebpf.MapType, key, value, entries uint32) *ebpf.Map {
		if err != nil {
			return nil
		}
		var m *ebpf.Map
		m, err = ebpf.NewMap(&ebpf.MapSpec{Name: name, Type: typ, KeySize: key, ValueSize: value, MaxEntries: entries})
		if err != nil {
			err = notSupported("creating map "+name, err)
		}
		return m
	}
	a.ranges = newMap("vsb_ranges", ebpf.Hash, 4, offRanges+16*MaxAuditRanges, MaxAuditProcesses)
	a.counts = newMap("vsb_counts", ebpf.PerCPUArray, 4, 16, AuditNrOther+1)
	a.sites = newMap("vsb_sites", ebpf.Hash, 16, 8, MaxAuditSites)
	a.stats = newMap("vsb_stats", ebpf.Array, 4, 16, 1)
	if err != nil {
		return err
	}
	insns := auditProgram(a.ranges.FD(), a.counts.FD(), a.sites.FD(), a.stats.FD())
	a.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vsb_audit",
		Type:         ebpf.RawTracepoint,
		Instructions: insns,
		// bpf_probe_read_kernel is GPL-only.
		License: "GPL",
	})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) && !errors.Is(err, unix.EPERM) {
			// A verifier rejection on a kernel that supports the
			// pieces is our bug, not a missing feature.
			return fmt.Errorf("bpf: audit program rejected: %w", err)
		}
		return notSupported("loading the raw tracepoint program", err)
	}
	return nil
}

// notSupported wraps a kernel refusal as ErrAuditNotSupported when it is
// one (no privilege, no feature); other errors pass through.
func notSupported(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		reason := "needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"
		if os.Geteuid() == 0 {
			reason = "refused to root (kernel.unprivileged_bpf_disabled, lockdown or an LSM?)"
		}
		return fmt.Errorf("%w: %s: %s: %w", ErrAuditNotSupported, what, reason, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.ENOSYS),
		errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: %s: kernel lacks it (needs Linux >= 5.5 with CONFIG_BPF_SYSCALL and raw tracepoints): %w",
			ErrAuditNotSupported, what, err)
	}
	return fmt.Errorf("bpf: audit: %s: %w", what, err)
}

// SetGuestCode replaces the classification of the spec's process; with
// GuestCodeIn, call it whenever the guest maps or unmaps code.
func (a *Audit) SetGuestCode(g GuestCode) error {
	return a.Track(a.tgid, g)
}

// Track counts the syscalls of process tgid as well (a forked host
// process), with its own guest ranges, or replaces the ranges of a
// process already tracked. Syscalls it made before are not counted.
func (a *Audit) Track(tgid uint32, g GuestCode) error {
	if tgid == 0 {
		return errors.New("bpf: audit: TGID 0")
	}
	value, err := encodeGuestCode(g)
	if err != nil {
		return err
	}
	if err := a.ranges.Put(tgid, value); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return fmt.Errorf("bpf: audit: more than %d processes tracked: %w", MaxAuditProcesses, err)
		}
		return fmt.Errorf("bpf: audit: track %d: %w", tgid, err)
	}
	return nil
}

// Untrack stops counting process tgid (it exited: its pid may be reused).
func (a *Audit) Untrack(tgid uint32) error {
	if err := a.ranges.Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: audit: untrack %d: %w", tgid, err)
	}
	return nil
}

// Counts reads the counters. It may run while the audit is live; each
// counter is then read at a slightly different moment.
func (a *Audit) Counts() (AuditCounts, error) {
	c := AuditCounts{Syscalls: map[uint32]SyscallCounts{}}
	var perCPU []nrCounts
	for nr := uint32(0); nr <= AuditNrOther; nr++ {
		if err := a.counts.Lookup(nr, &perCPU); err != nil {
			return AuditCounts{}, fmt.Errorf("bpf: audit: read count of %d: %w", nr, err)
		}
		var sum SyscallCounts
		for _, v := range perCPU {
			sum.Guest += v.Guest
			sum.Host += v.Host
		}
		if sum.Guest != 0 || sum.Host != 0 {
			c.Syscalls[nr] = sum
		}
	}
	var (
		key   siteKey
		count uint64
	)
	it := a.sites.Iterate()
	for it.Next(&key, &count) {
		c.Sites = append(c.Sites, AuditSite{Addr: key.Addr, Nr: int64(key.Nr), Count: count})
	}
	if err := it.Err(); err != nil {
		return AuditCounts{}, fmt.Errorf("bpf: audit: read sites: %w", err)
	}
	slices.SortFunc(c.Sites, func(x, y AuditSite) int {
		return cmp.Or(cmp.Compare(x.Addr, y.Addr), cmp.Compare(x.Nr, y.Nr))
	})
	var st auditStats
	if err := a.stats.Lookup(uint32(0), &st); err != nil {
		return AuditCounts{}, fmt.Errorf("bpf: audit: read stats: %w", err)
	}
	c.SitesDropped, c.IPUnreadable = st.SitesDropped, st.IPUnreadable
	return c, nil
}

// Close detaches the program and frees the maps. It is safe on a partly
// started Audit and more than once.
func (a *Audit) Close() error {
	var errs []error
	if a.link != nil {
		errs = append(errs, a.link.Close())
		a.link = nil
	}
	if a.prog != nil {
		errs = append(errs, a.prog.Close())
	}
	for _, m := range []*ebpf.Map{a.ranges, a.counts, a.sites, a.stats} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	a.prog, a.ranges, a.counts, a.sites, a.stats = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// encodeGuestCode validates the ranges, sorts and merges them (so that
// more fit and the program's scan is short) and builds the map value.
func encodeGuestCode(g GuestCode) (rangesValue, error) {
	var v rangesValue
	merged, err := bpf.MergeRanges(g.ranges)
	if err != nil {
		return v, err
	}
	if len(merged) > MaxAuditRanges {
		return v, fmt.Errorf("%w: %d disjoint ranges, at most %d", ErrTooManyRanges, len(merged), MaxAuditRanges)
	}
	if g.outside {
		v.Outside = 1
	}
	v.N = uint64(len(merged))
	copy(v.Ranges[:], merged)
	return v, nil
}

// auditProgram is the raw sys_enter program. Its context is struct
// bpf_raw_tracepoint_args: args[0] is the struct pt_regs * of the
// syscall, args[1] the syscall number. Register use after the prologue:
// r6 ctx, r7 nr, r8 syscall instruction address, r9 the process's ranges.
func auditProgram(rangesFD, countsFD, sitesFD, statsFD int) asm.Instructions {
	const (
		stackKey   = -4  // u32 map key
		stackIP    = -16 // u64 read of pt_regs->ip
		stackSite  = -32 // siteKey{addr, nr}: -32..-17
		stackOne   = -40 // u64 1, the initial site count
		labelExit  = "exit"
		labelGuest = "guest"
		labelHost  = "host"
		labelIn    = "in_range"
		labelOut   = "not_in_range"
	)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// Is this thread's process tracked? Its ranges are the answer.
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.RFP, stackKey, asm.R0, asm.Word),
		asm.LoadMapPtr(asm.R1, rangesFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelExit),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R7, asm.R6, 8, asm.DWord),
		// ip = regs->ip: a kernel pointer, so only through the helper.
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, stackIP),
		asm.Mov.Imm(asm.R2, 8),
		asm.LoadMem(asm.R3, asm.R6, 0, asm.DWord),
		asm.Add.Imm(asm.R3, ptRegsIP),
		asm.FnProbeReadKernel.Call(),
		asm.JEq.Imm(asm.R0, 0, "ip_read"),
	}
	insns = append(insns, statsAdd(statsFD, stackKey, offIPUnreadable)...)
	insns = append(insns,
		asm.Ja.Label(labelExit),
		asm.LoadMem(asm.R8, asm.RFP, stackIP, asm.DWord).WithSymbol("ip_read"),
		asm.Sub.Imm(asm.R8, syscallInsnLen),
		asm.LoadMem(asm.R5, asm.R9, offRangesN, asm.DWord),
	)
	// Unrolled scan of the ranges: stop at N; in if start <= site < end.
	for i := range MaxAuditRanges {
		next := fmt.Sprintf("range%d", i+1)
		if i == MaxAuditRanges-1 {
			next = labelOut
		}
		off := int16(offRanges + 16*i)
		insns = append(insns,
			asm.JLE.Imm(asm.R5, int32(i), labelOut).WithSymbol(fmt.Sprintf("range%d", i)),
			asm.LoadMem(asm.R1, asm.R9, off, asm.DWord),
			asm.JLT.Reg(asm.R8, asm.R1, next),
			asm.LoadMem(asm.R1, asm.R9, off+8, asm.DWord),
			asm.JLT.Reg(asm.R8, asm.R1, labelIn),
		)
	}
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R9, offRangesOutside, asm.DWord).WithSymbol(labelOut),
		asm.JEq.Imm(asm.R1, 0, labelHost),
		asm.Ja.Label(labelGuest),
		asm.LoadMem(asm.R1, asm.R9, offRangesOutside, asm.DWord).WithSymbol(labelIn),
		asm.JNE.Imm(asm.R1, 0, labelHost),
		asm.Ja.Label(labelGuest),
	)
	// Host: count and leave.
	insns = append(insns, countNr(countsFD, stackKey, 8, labelHost)...)
	insns = append(insns, asm.Ja.Label(labelExit))
	// Guest: count, then count the site.
	insns = append(insns, countNr(countsFD, stackKey, 0, labelGuest)...)
	insns = append(insns,
		asm.StoreMem(asm.RFP, stackSite, asm.R8, asm.DWord),
		asm.StoreMem(asm.RFP, stackSite+8, asm.R7, asm.DWord),
		asm.LoadMapPtr(asm.R1, sitesFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackSite),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "site_add"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, stackOne, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, sitesFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackSite),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stackOne),
		asm.Mov.Imm(asm.R4, unix.BPF_NOEXIST),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelExit),
		// Another CPU may have inserted the same site meanwhile (EEXIST);
		// otherwise the table is full.
		asm.LoadMapPtr(asm.R1, sitesFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackSite),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "site_add"),
	)
	insns = append(insns, statsAdd(statsFD, stackKey, offSitesDropped)...)
	insns = append(insns,
		asm.Ja.Label(labelExit),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("site_add"),
		asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, 0),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit),
		asm.Return(),
	)
	return insns
}

// countNr adds 1 to counts[min(nr, AuditNrOther)] at off (0 guest, 8
// host); the first instruction carries label.
func countNr(countsFD int, stackKey int16, off int16, label string) asm.Instructions {
	clamped := label + "_clamped"
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol(label),
		asm.JLT.Imm(asm.R1, AuditNrOther, clamped),
		asm.Mov.Imm(asm.R1, AuditNrOther),
		asm.StoreMem(asm.RFP, stackKey, asm.R1, asm.Word).WithSymbol(clamped),
		asm.LoadMapPtr(asm.R1, countsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(stackKey)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, off),
	}
}

// statsAdd adds 1 to the stats counter at off; it clobbers r0-r5.
func statsAdd(statsFD int, stackKey, off int16) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, stackKey, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, statsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(stackKey)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, off),
	}
}

// removeMemlock lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF
// maps and programs against (later ones use memory cgroups).
func removeMemlock() error {
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf) == nil {
		return nil
	}
	// Without CAP_SYS_RESOURCE, up to the hard limit is what we may do; on
	// 5.11 and later the limit does not apply to BPF memory anyway.
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return nil
	}
	cur.Cur = cur.Max
	unix.Setrlimit(unix.RLIMIT_MEMLOCK, &cur)
	return nil
}
