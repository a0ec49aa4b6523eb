// Package tls owns the one place where Go, C and assembly meet: the
// per-thread control block (cb.h, whose Go mirror is tls/cblock), the
// entry trampolines through which guest code reaches the host (the bypass
// entry behind __kernel_vsyscall and the trap path behind SIGSYS), FS
// switching and the host signal handlers that must run before Go's.
package tls

import "github.com/vsysbed/vsysbed/tls/cblock"

// The control block's types and constants are tls/cblock's (pure Go, so
// that kernelsim links no cgo); tls keeps their names for its other users.
// TestConstants and TestOffsets check them against cb.h and entry.h.
type (
	ControlBlock = cblock.ControlBlock
	Regs         = cblock.Regs
	Site         = cblock.Site
	Exit         = cblock.Exit
)

const (
	Magic   = cblock.Magic
	Version = cblock.Version
	Size    = cblock.Size
	SizeV3  = cblock.SizeV3
	SizeV2  = cblock.SizeV2

	NrMax = cblock.NrMax
	Kinds = cblock.Kinds

	KindBypass  = cblock.KindBypass
	KindTrap    = cblock.KindTrap
	KindVDSO    = cblock.KindVDSO
	KindInt80   = cblock.KindInt80
	KindPatched = cblock.KindPatched
	SiteKinds   = cblock.SiteKinds

	NumSites = cblock.NumSites

	TimeKinds   = cblock.TimeKinds
	TimeBypass  = cblock.TimeBypass
	TimeTrap    = cblock.TimeTrap
	TimePatched = cblock.TimePatched
	TimeSample  = cblock.TimeSample

	StateHost   = cblock.StateHost
	StateGuest  = cblock.StateGuest
	StateKernel = cblock.StateKernel
	StateEntry  = cblock.StateEntry

	TrapSeccomp = cblock.TrapSeccomp
	TrapSUD     = cblock.TrapSUD

	FlagLeave     = cblock.FlagLeave
	FlagFSGSBASE  = cblock.FlagFSGSBASE
	FlagResume    = cblock.FlagResume
	FlagDone      = cblock.FlagDone
	FlagVfork     = cblock.FlagVfork
	FlagRestarted = cblock.FlagRestarted
	FlagPatched   = cblock.FlagPatched
	FlagLazyFP    = cblock.FlagLazyFP

	NrInterrupt = cblock.NrInterrupt
	NrReturn    = cblock.NrReturn
	NrPatch     = cblock.NrPatch

	OffCounts       = cblock.OffCounts
	OffSites        = cblock.OffSites
	OffXsave        = cblock.OffXsave
	XsaveMax        = cblock.XsaveMax
	OffHostInfo     = cblock.OffHostInfo
	OffErrors       = cblock.OffErrors
	OffPatched      = cblock.OffPatched
	OffCycles       = cblock.OffCycles
	OffSiteCycles   = cblock.OffSiteCycles
	OffPatchedEntry = cblock.OffPatchedEntry
)

// TimedCalls is cblock.TimedCalls.
func TimedCalls(count uint64, kind uint32) uint64 { return cblock.TimedCalls(count, kind) }

// CounterOffset is cblock.CounterOffset.
func CounterOffset(nr, kind int) int { return cblock.CounterOffset(nr, kind) }

// Reset is cblock.Reset.
func Reset(cb *ControlBlock) { cblock.Reset(cb) }

// SetInitialState is cblock.SetInitialState.
func SetInitialState(cb *ControlBlock, entry, sp uintptr) { cblock.SetInitialState(cb, entry, sp) }

// CopyThreadState is cblock.CopyThreadState.
func CopyThreadState(child, parent *ControlBlock) { cblock.CopyThreadState(child, parent) }
