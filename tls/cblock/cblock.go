// Package cblock is the Go mirror of what tls's C side and Go share as
// data: the per-thread control block (tls/cb.h) and the constants of the
// entry's tables (tls/entry.h), with the pure helpers on them. It has no
// cgo, so kernelsim, the ptrace platform and their unit tests use the
// layout without linking tls's C and assembly; tls's TestOffsets and
// TestConstants check every field and value here against the C headers.
package cblock

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Constants mirrored from cb.h; tls's TestConstants and TestOffsets keep
// both sides in sync.
const (
	Magic   = 0x0064656273797376
	Version = 4 // 4 added the timing (T*, Cycles, SiteCycles), 3 PatchedEntry and Patched; rundir reads 3 and 2 as well
	Size    = 192512
	// SizeV3 is the size of a version 3 block (no timing).
	SizeV3 = 147456
	// SizeV2 is the size of a version 2 block (no Patched).
	SizeV2 = 143360

	NrMax = 512
	Kinds = 3

	KindBypass = 0
	KindTrap   = 1
	KindVDSO   = 2
	// KindInt80 is an i386 call (int $0x80), counted by its i386 number in
	// the site table only (Counts has no column for it).
	KindInt80 = 3
	// KindPatched is a call through a rewritten call site (--rewrite=lazy),
	// counted in Patched by number and in the site table at the syscall
	// instruction (Counts has no column for it).
	KindPatched = 4
	SiteKinds   = 5

	NumSites = 4096

	// The columns of Cycles[nr]: the kinds whose calls are timed.
	TimeKinds   = 3
	TimeBypass  = 0
	TimeTrap    = 1
	TimePatched = 2
	// TimeSample: a bypass or patched call is timed at its site's 1st,
	// 9th, 17th... call (TimedCalls); a trap, and a call without a site
	// slot, every time.
	TimeSample = 8

	StateHost   = 0
	StateGuest  = 1
	StateKernel = 2
	StateEntry  = 3

	TrapSeccomp = 0
	TrapSUD     = 1

	FlagLeave    = 1
	FlagFSGSBASE = 2
	FlagResume   = 4
	FlagDone     = 8
	FlagVfork    = 16
	// FlagRestarted: rt_sigreturn resumed a call the kernel restarts; the
	// entry does not count its re-issue (one call, as the guest made it).
	FlagRestarted = 64
	// FlagPatched: the trap frame came from a rewritten site.
	FlagPatched = 128
	// FlagLazyFP: the guest's extended state is still in the CPU, not in
	// Xsave; the C entry saves it before any kernel call.
	FlagLazyFP = 256

	// NrInterrupt is cb.Nr of a kernel call at an arbitrary instruction
	// (a kick or a fault), made to deliver a guest signal.
	NrInterrupt = ^uint64(0)
	// NrReturn: a kernel call as a fast-route bypass call returns
	// (result in cb.Ret), to deliver a signal over that return.
	NrReturn = ^uint64(1)
	// NrPatch: a kernel call after a trap from a site that may be
	// rewritten (Args[0] the trapped nr, Site its syscall instruction).
	NrPatch = ^uint64(2)

	// OffCounts is where counts[nr][kind] starts: the vDSO stubs increment
	// %gs:(OffCounts + (nr*Kinds+KindVDSO)*8) directly.
	OffCounts   = 4096
	OffSites    = 16384
	OffXsave    = 114688
	XsaveMax    = 16384
	OffHostInfo = 131072
	OffErrors   = 139264
	OffPatched  = 143360
	// OffCycles and OffSiteCycles: the timing (version 4).
	OffCycles     = 147456
	OffSiteCycles = 159744
	// OffPatchedEntry is PatchedEntry's offset: the stubs of rewritten
	// sites jump through %gs:OffPatchedEntry.
	OffPatchedEntry = 296
)

// Regs is struct cb_regs: the guest's general registers at a trap.
type Regs struct {
	Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rbp, Rsp uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	Rip, Rflags                            uint64
}

// Site is struct cb_site: one call site's count for (syscall, kind).
type Site struct {
	Addr  uint64
	Nr    uint32
	Kind  uint32
	Count uint64
}

// Exit is struct cb_exit: how the guest ended, written before the host exits.
type Exit struct {
	Done         uint32
	Code         int32
	Signal       int32
	_            uint32
	FaultAddr    uint64
	FaultRip     uint64
	SitesDropped uint64
}

// ControlBlock is struct vsysbed_cb. It lives in a MAP_SHARED shard file;
// never allocate one on the Go heap.
type ControlBlock struct {
	Self       uint64
	Magic      uint64
	Version    uint32
	State      uint32
	HostFS     uint64
	GuestFS    uint64
	HostSP     uint64
	GuestSP    uint64
	HostCtx    [8]uint64
	Nr         uint64
	Args       [6]uint64
	Ret        uint64
	Site       uint64
	Kind       uint32
	Flags      uint32
	Selector   uint8
	TrapMode   uint8
	_          [6]uint8
	XsaveMask  uint64
	Tid        uint64
	SigPending uint32 // a signal is queued for the thread: set from other goroutines, so atomic
	FaultSig   int32
	FaultAddr  uint64
	FaultCode  int32
	Pid        uint32
	HostSig    uint64 // host signals for the guest that arrived on this thread (bit sig-1)
	Threads    uint32 // guest threads that used the block in turn (Reset counts one more)
	_          uint32
	CallStart  uint64   // CLOCK_MONOTONIC ns when a timed fast-route call began
	CallReq    [2]int64 // a relative sleep's request (sec, nsec), read at CallStart
	CallReqOK  uint32   // CallReq was read
	_          uint32
	// PatchedEntry is vsysbed_patched_entry, which the stubs of rewritten
	// sites jump to through %gs.
	PatchedEntry uint64
	TStart       uint64 // the TSC at the timed call's entry (entry.c's timing_begin), 0: none
	TNr          uint32 // its number,
	TCol         uint32 // its Cycles column (Time*),
	TSlot        uint32 // its site's slot + 1 (0: no room)
	_            uint32
	TTrap        uint64 // the TSC the SIGSYS handler read
	_            [512 - 336]uint8
	Trap         Regs
	_            [1024 - 512 - unsafe.Sizeof(Regs{})]uint8
	Exit         Exit
	_            [4096 - 1024 - unsafe.Sizeof(Exit{})]uint8
	Counts       [NrMax][Kinds]uint64
	Sites        [NumSites]Site
	Xsave        [XsaveMax]uint8
	HostInfo     [64][128]uint8 // the last siginfo of each relayed host signal (sig-1)
	Errors       [NrMax]uint32  // calls of nr that returned an error (-4095..-1)
	_            [4096 - 4*NrMax]uint8
	Patched      [NrMax]uint64            // calls of nr through a rewritten site
	Cycles       [NrMax][TimeKinds]uint64 // TSC cycles of the timed calls without a site slot, by column (Time*); 0: --timing=off
	SiteCycles   [NumSites]uint64         // cycles of Sites[i]'s timed calls (TimedCalls)
}

// TimedCalls is how many of a site's count calls of kind were timed.
func TimedCalls(count uint64, kind uint32) uint64 {
	if kind == KindTrap {
		return count
	}
	return (count + TimeSample - 1) / TimeSample
}

// CounterOffset is the byte offset of counts[nr][kind] in the block.
func CounterOffset(nr, kind int) int { return OffCounts + (nr*Kinds+kind)*8 }

// Reset makes the control block of a thread that left the guest for good
// (its OS thread no longer has GS base or a SUD selector pointing here)
// the block of another new thread of the same process.
//
// Everything that described the old thread goes: the header past the
// version (state, FS bases, stacks, the current call, flags — FlagLeave
// among them — selector, tid, pending signals, faults, relayed host
// signals), the trap frame, the exit record, the XSAVE area and the
// relayed siginfos. What the threads counted stays: counts, errors, the
// site table, sites_dropped and the cycles. The new thread then simply goes on
// counting into the same file, so no count is ever moved from one shard to
// another and a SIGKILL at any instant leaves each count in exactly one
// file, once. Self, Magic and Version are never touched: the block stays a
// valid shard throughout (a zero magic would make the supervisor drop the
// file as never initialised). Threads counts one more.
func Reset(cb *ControlBlock) {
	threads := max(cb.Threads, 1) // a block from before the field: one
	b := (*[Size]byte)(unsafe.Pointer(cb))
	clear(b[unsafe.Offsetof(cb.State):unsafe.Offsetof(cb.Threads)])
	clear(b[unsafe.Offsetof(cb.Threads)+4 : unsafe.Offsetof(cb.Exit)])
	cb.Exit = Exit{SitesDropped: cb.Exit.SitesDropped}
	clear(cb.Xsave[:])
	clear(b[OffHostInfo:OffErrors])
	cb.Threads = threads + 1
}

// What an fd map entry says of a syscall (entry.h): which arguments are fd
// numbers, and whether its result is a new fd.
const (
	FDArgsMask    = 0x3f
	FDResult      = 0x40
	FDResultDupfd = 0x80
	// GuestHighFDs is the span from the host's fd base whose fds the
	// entry records as the guest's one by one; fds above it are the guest's.
	GuestHighFDs = 65536
)

// Guest signal dispositions, as the C signal handlers see them (entry.h's
// GUEST_SIG_*).
const (
	DispositionDefault = 0
	DispositionIgnore  = 1
	DispositionHandler = 2
)

// KickSignal is the host signal that makes a guest thread look at its
// pending guest signals (tgkill it to the thread): entry.h's
// VSYSBED_KICK_SIG, one of the real-time signals glibc leaves free.
const KickSignal = 62

// RelayOnlyMask is entry.h's VSYSBED_RELAY_ONLY (bit sig-1): the signals a
// host process takes on its guest threads only, through the relay, never
// through os/signal: the job-control signals and the ones the supervisor
// forwards.
const RelayOnlyMask = 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1) |
	1<<(unix.SIGCONT-1) | 1<<(unix.SIGHUP-1) | 1<<(unix.SIGINT-1) | 1<<(unix.SIGQUIT-1) |
	1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1) | 1<<(unix.SIGTERM-1)

// RelayOnly: a host process takes sig on its guest threads only, through
// the relay (RelayOnlyMask).
func RelayOnly(sig int) bool {
	return sig >= 1 && sig <= 64 && RelayOnlyMask>>(sig-1)&1 != 0
}

// FDTableSize is the size Linux's fd table has for a guest whose highest
// fd reached high (its max_fds): 64 fds, or the multiple of 128 fds (a
// power of two) that holds high, as alloc_fdtable rounds.
func FDTableSize(high int) int {
	if high < 64 {
		return 64
	}
	n := 1
	for n < high/128+1 {
		n <<= 1
	}
	return n * 128
}

// SetInitialState makes cb start a new process image: rip=entry, rsp=sp,
// every other register zero, the extended state in its initial
// configuration (XSTATE_BV=0) with the default MXCSR, which XRSTOR loads
// from the legacy area regardless.
func SetInitialState(cb *ControlBlock, entry, sp uintptr) {
	cb.Trap = Regs{Rip: uint64(entry), Rsp: uint64(sp), Rflags: 0x202}
	clear(cb.Xsave[:1024])
	binary.LittleEndian.PutUint16(cb.Xsave[0:], 0x37f)   // FCW
	binary.LittleEndian.PutUint32(cb.Xsave[24:], 0x1f80) // MXCSR
	binary.LittleEndian.PutUint32(cb.Xsave[28:], 0xffff) // MXCSR_MASK (ignored)
}

// CopyThreadState gives a new thread its parent's extended state (Linux
// copies the FPU state on clone).
func CopyThreadState(child, parent *ControlBlock) {
	child.Xsave = parent.Xsave
}
