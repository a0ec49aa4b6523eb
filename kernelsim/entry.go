package kernelsim

import "github.com/vsysbed/vsysbed/tls/cblock"

// Entry is what kernelsim tells, and asks of, the code through which the
// guest's calls reach the host before any Go runs: the in-process
// platform's C entry (tls: the bypass and trap paths, the host signal
// handlers), which decides on its own, from these tables, which calls take
// the fast route and what a host signal on a guest thread means. It is the
// third half of the kernel's boundary with its platform, beside Machine and
// Platform (ARCHITECTURE.md, "The kernel and its platform"): kernelsim
// links no cgo, and a unit test runs the handlers against a fake that
// records what the entry was told (entry_test.go).
type Entry interface {
	// The fd tables: which arguments and results of each number are fds
	// (cblock.FDArgsMask, FDResult, FDResultDupfd), where the host's fds
	// start and which fds above that are the guest's, and the highest fd
	// the guest's table reached (Linux's table never shrinks; the entry
	// raises it on the fast route too).
	SetFDArgs(nr int, flags uint8)
	SetHostFDBase(base int)
	HostFDBase() int
	IsHostFD(fd int) bool
	MarkGuestFD(fd int, guest bool)
	RaiseFDHigh(fd int)
	FDHigh() int

	// The signals: what the guest does with each (cblock.Disposition*),
	// the guest signalfds whose reads are kernelsim's, the guest thread
	// that takes the host signals Go's threads cannot hand on, what
	// reached Go's own handler (os/signal passes on the number only),
	// the host's SIGCHLD auto-reaping, and dying by a signal at its
	// default action.
	SetDisposition(sig int, d int)
	MarkSignalfd(fd int, on bool)
	SetRelayTid(tid int)
	GoSignalsSeen(sig int) uint64
	GoSiginfo(sig int) [128]byte
	SetChildAutoReap(on bool) error
	DieBySignal(sig int)

	// The route table: whether nr takes the fast route (a raw syscall
	// from the trampoline) or the kernel route (Dispatch), the timed
	// calls whose start the fast route notes, and the inode of vsysbed's
	// own binary (a fast-route stat of it goes to the kernel).
	SetRoute(nr int, fast bool)
	SetTimed(nr int)
	SetExeIno(ino uint64)
	// The checked route of a Checked row (the C entry runs the call when
	// its arguments need nothing of the handler's; SetRoute undoes it),
	// and /proc's device, which such a call's fd must not be on.
	SetRouteChecked(nr int)
	SetProcDev(dev uint64)

	// The patch table: the heads of rewritten call sites that may hold
	// an int3, and where a thread that executes one resumes; false when
	// it is full. ResetPokes forgets them all (execve).
	AddPoke(head, stub uint64) bool
	ResetPokes()

	// Thread entry: filling a fresh control block for the trampolines,
	// the size of the XSAVE image a block's Xsave holds, and the address
	// the guest's __kernel_vsyscall jumps to (a signal frame's return
	// into the bypass entry).
	Prepare(cb *cblock.ControlBlock, trapMode uint8) error
	XsaveSize() int
	BypassEntry() uintptr
}

// entry is the platform's (SetEntry). Until one is set, a call is a bug:
// it panics, as the Machine's do.
var entry Entry = noEntry{}

// SetEntry makes e the Entry of this host process: platform/inprocess
// sets tls's at init; the unit tests their fakes. The ptrace platform
// runs no Process and sets none.
func SetEntry(e Entry) { entry = e }

// fdTableSize is the size Linux's fd table has for the guest now.
func fdTableSize() int { return cblock.FDTableSize(entry.FDHigh()) }

type noEntry struct{}

const noEntrySet = "kernelsim: no Entry set (platform/inprocess sets it at init)"

func (noEntry) SetFDArgs(int, uint8)                      { panic(noEntrySet) }
func (noEntry) SetHostFDBase(int)                         { panic(noEntrySet) }
func (noEntry) HostFDBase() int                           { panic(noEntrySet) }
func (noEntry) IsHostFD(int) bool                         { panic(noEntrySet) }
func (noEntry) MarkGuestFD(int, bool)                     { panic(noEntrySet) }
func (noEntry) RaiseFDHigh(int)                           { panic(noEntrySet) }
func (noEntry) FDHigh() int                               { panic(noEntrySet) }
func (noEntry) SetDisposition(int, int)                   { panic(noEntrySet) }
func (noEntry) MarkSignalfd(int, bool)                    { panic(noEntrySet) }
func (noEntry) SetRelayTid(int)                           { panic(noEntrySet) }
func (noEntry) GoSignalsSeen(int) uint64                  { panic(noEntrySet) }
func (noEntry) GoSiginfo(int) [128]byte                   { panic(noEntrySet) }
func (noEntry) SetChildAutoReap(bool) error               { panic(noEntrySet) }
func (noEntry) DieBySignal(int)                           { panic(noEntrySet) }
func (noEntry) SetRoute(int, bool)                        { panic(noEntrySet) }
func (noEntry) SetTimed(int)                              { panic(noEntrySet) }
func (noEntry) SetExeIno(uint64)                          { panic(noEntrySet) }
func (noEntry) SetRouteChecked(int)                       { panic(noEntrySet) }
func (noEntry) SetProcDev(uint64)                         { panic(noEntrySet) }
func (noEntry) AddPoke(uint64, uint64) bool               { panic(noEntrySet) }
func (noEntry) ResetPokes()                               { panic(noEntrySet) }
func (noEntry) Prepare(*cblock.ControlBlock, uint8) error { panic(noEntrySet) }
func (noEntry) XsaveSize() int                            { panic(noEntrySet) }
func (noEntry) BypassEntry() uintptr                      { panic(noEntrySet) }
