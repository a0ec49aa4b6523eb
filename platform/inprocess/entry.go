package inprocess

import (
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tls"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The in-process platform's Entry is tls's C entry, set at init beside
// the Machine: the only place kernelsim's tables reach C. A host process
// registered for the SYNC_CORE membarrier before Go started a thread
// (tls/synccore.c) tells kernelsim so here.
func init() {
	kernelsim.SetEntry(tlsEntry{})
	if tried, err := tls.SyncCoreRegistration(); tried && err == nil {
		kernelsim.SyncCoreRegistered()
	}
}

// tlsEntry hands each of kernelsim's Entry calls to tls as it is.
type tlsEntry struct{}

func (tlsEntry) SetFDArgs(nr int, flags uint8)  { tls.SetFDArgs(nr, flags) }
func (tlsEntry) SetHostFDBase(base int)         { tls.SetHostFDBase(base) }
func (tlsEntry) HostFDBase() int                { return tls.HostFDBase() }
func (tlsEntry) IsHostFD(fd int) bool           { return tls.IsHostFD(fd) }
func (tlsEntry) MarkGuestFD(fd int, guest bool) { tls.MarkGuestFD(fd, guest) }
func (tlsEntry) RaiseFDHigh(fd int)             { tls.RaiseFDHigh(fd) }
func (tlsEntry) FDHigh() int                    { return tls.FDHigh() }
func (tlsEntry) SetDisposition(sig, d int)      { tls.SetDisposition(sig, d) }
func (tlsEntry) MarkSignalfd(fd int, on bool)   { tls.MarkSignalfd(fd, on) }
func (tlsEntry) SetRelayTid(tid int)            { tls.SetRelayTid(tid) }
func (tlsEntry) GoSignalsSeen(sig int) uint64   { return tls.GoSignalsSeen(sig) }
func (tlsEntry) GoSiginfo(sig int) [128]byte    { return tls.GoSiginfo(sig) }
func (tlsEntry) SetChildAutoReap(on bool) error { return tls.SetChildAutoReap(on) }
func (tlsEntry) DieBySignal(sig int)            { tls.DieBySignal(sig) }
func (tlsEntry) SetRoute(nr int, fast bool)     { tls.SetRoute(nr, fast) }
func (tlsEntry) SetTimed(nr int)                { tls.SetTimed(nr) }
func (tlsEntry) SetExeIno(ino uint64)           { tls.SetExeIno(ino) }
func (tlsEntry) SetRouteChecked(nr int)         { tls.SetRouteChecked(nr) }
func (tlsEntry) SetProcDev(dev uint64)          { tls.SetProcDev(dev) }
func (tlsEntry) AddPoke(head, stub uint64) bool { return tls.AddPoke(head, stub) }
func (tlsEntry) ResetPokes()                    { tls.ResetPokes() }
func (tlsEntry) XsaveSize() int                 { return tls.XsaveSize() }
func (tlsEntry) BypassEntry() uintptr           { return tls.BypassEntry() }
func (tlsEntry) Prepare(cb *cblock.ControlBlock, trapMode uint8) error {
	return tls.Prepare(cb, trapMode)
}
