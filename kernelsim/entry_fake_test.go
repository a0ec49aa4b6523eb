package kernelsim

import (
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The tests' default Entry is a fakeEntry: kernelsim links no C entry
// (platform/inprocess hands tls's in), so its tables live here, with the
// C entry's rules for the fd ones (a host fd is one at or above the base
// the guest did not make; the table's high mark only grows), and every
// call is logged for the tests that look (useFakeEntry).
func init() { SetEntry(newFakeEntry()) }

// fakeXsaveSize is the fake's XSAVE image size: x86-64 with AVX-512's
// (a real entry reads it from CPUID).
const fakeXsaveSize = 2696

type fakeEntry struct {
	mu          sync.Mutex
	log         []string
	base        int
	guestFDs    map[int]bool
	high        int
	disposition [65]int
	signalfds   map[int]bool
	fast        [cblock.NrMax]bool
	checked     [cblock.NrMax]bool
	pokes       int
}

func newFakeEntry() *fakeEntry {
	return &fakeEntry{base: math.MaxInt32, high: 2, guestFDs: map[int]bool{}, signalfds: map[int]bool{}}
}

// useFakeEntry makes a fresh fakeEntry the Entry for the rest of t.
func useFakeEntry(t *testing.T) *fakeEntry {
	t.Helper()
	old := entry
	f := newFakeEntry()
	SetEntry(f)
	t.Cleanup(func() { SetEntry(old) })
	return f
}

func (f *fakeEntry) logf(format string, a ...any) {
	f.log = append(f.log, fmt.Sprintf(format, a...))
}

// calls is the log so far, and empties it.
func (f *fakeEntry) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

func (f *fakeEntry) SetFDArgs(nr int, flags uint8) {}

func (f *fakeEntry) SetHostFDBase(base int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("SetHostFDBase %d", base)
	f.base = base
}

func (f *fakeEntry) HostFDBase() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base
}

func (f *fakeEntry) IsHostFD(fd int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fd >= f.base && fd-f.base < cblock.GuestHighFDs && !f.guestFDs[fd]
}

func (f *fakeEntry) MarkGuestFD(fd int, guest bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("MarkGuestFD %d %v", fd, guest)
	if fd >= f.base {
		f.guestFDs[fd] = guest
	}
}

func (f *fakeEntry) RaiseFDHigh(fd int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.high = max(f.high, fd)
}

func (f *fakeEntry) FDHigh() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.high
}

func (f *fakeEntry) SetDisposition(sig int, d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("SetDisposition %d %d", sig, d)
	if sig > 0 && sig <= 64 {
		f.disposition[sig] = d
	}
}

func (f *fakeEntry) MarkSignalfd(fd int, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("MarkSignalfd %d %v", fd, on)
	f.signalfds[fd] = on
}

func (f *fakeEntry) SetRelayTid(tid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("SetRelayTid %d", tid)
}

func (f *fakeEntry) GoSignalsSeen(int) uint64    { return 0 }
func (f *fakeEntry) GoSiginfo(int) [128]byte     { return [128]byte{} }
func (f *fakeEntry) SetChildAutoReap(bool) error { return nil }
func (f *fakeEntry) DieBySignal(sig int)         { panic(fmt.Sprintf("fakeEntry: DieBySignal %d", sig)) }

func (f *fakeEntry) SetRoute(nr int, fast bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nr >= 0 && nr < cblock.NrMax {
		f.fast[nr] = fast
		f.checked[nr] = false
	}
}

func (f *fakeEntry) routeFast(nr int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fast[nr]
}

func (f *fakeEntry) SetTimed(int)     {}
func (f *fakeEntry) SetExeIno(uint64) {}

// SetRouteChecked: as the C entry, a checked route is not the fast one
// (SetRoute undoes it).
func (f *fakeEntry) SetRouteChecked(nr int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nr >= 0 && nr < cblock.NrMax {
		f.fast[nr] = false
		f.checked[nr] = true
	}
}

func (f *fakeEntry) routeChecked(nr int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checked[nr]
}

func (f *fakeEntry) SetProcDev(uint64) {}

func (f *fakeEntry) AddPoke(head, stub uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("AddPoke %#x %#x", head, stub)
	f.pokes++
	return true
}

func (f *fakeEntry) ResetPokes() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("ResetPokes")
	f.pokes = 0
}

// Prepare fills what tls.Prepare fills but the CPU's features (the XSAVE
// mask, FSGSBASE), which the tests never run on.
func (f *fakeEntry) Prepare(cb *cblock.ControlBlock, trapMode uint8) error {
	cb.TrapMode = trapMode
	cb.Pid = uint32(os.Getpid())
	cb.Selector = 0
	cb.State = cblock.StateHost
	return nil
}

func (f *fakeEntry) XsaveSize() int { return fakeXsaveSize }

// BypassEntry is an address no test maps: a frame that returns there is
// only ever read.
func (f *fakeEntry) BypassEntry() uintptr { return 0x7ffff7ff1000 }
