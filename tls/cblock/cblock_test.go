package cblock_test

import (
	"testing"
	"unsafe"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tls/cblock/cbtest"
)

// mappedBlock is a control block in an anonymous mapping, every byte 0xa5 (cbtest.Mapped).
func mappedBlock(t *testing.T) (*cblock.ControlBlock, []byte) { return cbtest.Mapped(t) }

func TestResetKeepsCountsAndClearsTheThread(t *testing.T) {
	cb, mem := mappedBlock(t)
	cb.Self = uint64(uintptr(unsafe.Pointer(cb)))
	cb.Magic, cb.Version, cb.Threads = cblock.Magic, cblock.Version, 3
	cb.Flags = cblock.FlagLeave | cblock.FlagFSGSBASE | cblock.FlagResume
	cb.Counts[39][cblock.KindTrap] = 6000
	cb.Errors[2] = 4
	cb.Sites[17] = cblock.Site{Addr: 0x401000, Nr: 39, Kind: cblock.KindTrap, Count: 6000}
	cb.Exit = cblock.Exit{Done: 1, Code: 3, Signal: 11, FaultAddr: 1, FaultRip: 2, SitesDropped: 9}
	before := append([]byte(nil), mem...)

	cblock.Reset(cb)

	if cb.Threads != 4 {
		t.Errorf("Threads = %d, want 4 (one more)", cb.Threads)
	}
	if cb.Self != uint64(uintptr(unsafe.Pointer(cb))) || cb.Magic != cblock.Magic || cb.Version != cblock.Version {
		t.Errorf("self/magic/version changed: %#x %#x %d", cb.Self, cb.Magic, cb.Version)
	}
	if cb.Flags != 0 || cb.State != cblock.StateHost || cb.Tid != 0 || cb.SigPending != 0 || cb.HostSig != 0 ||
		cb.GuestFS != 0 || cb.HostSP != 0 || cb.Selector != 0 || cb.FaultSig != 0 || cb.Pid != 0 {
		t.Errorf("thread state survived: flags=%#x state=%d tid=%d sigpending=%d hostsig=%#x guest_fs=%#x host_sp=%#x selector=%d fault_sig=%d pid=%d",
			cb.Flags, cb.State, cb.Tid, cb.SigPending, cb.HostSig, cb.GuestFS, cb.HostSP, cb.Selector, cb.FaultSig, cb.Pid)
	}
	if cb.Trap != (cblock.Regs{}) {
		t.Errorf("trap frame survived: %+v", cb.Trap)
	}
	if cb.Exit != (cblock.Exit{SitesDropped: 9}) {
		t.Errorf("exit record = %+v, want only sites_dropped 9 kept", cb.Exit)
	}

	// Byte by byte: the counted regions are untouched, everything of the
	// thread's is zero.
	type region struct {
		name       string
		start, end uintptr
		keep       bool
	}
	offThreads := unsafe.Offsetof(cb.Threads)
	offExit := unsafe.Offsetof(cb.Exit)
	offDropped := offExit + unsafe.Offsetof(cb.Exit.SitesDropped)
	regions := []region{
		{"self, magic, version", 0, unsafe.Offsetof(cb.State), true},
		{"header", unsafe.Offsetof(cb.State), offThreads, false},
		{"header past threads, trap frame", offThreads + 4, offExit, false},
		{"exit record but sites_dropped", offExit, offDropped, false},
		{"sites_dropped", offDropped, offDropped + 8, true},
		{"counts and sites", cblock.OffCounts, cblock.OffXsave, true},
		{"xsave", cblock.OffXsave, cblock.OffXsave + cblock.XsaveMax, false},
		{"hostinfo", cblock.OffHostInfo, cblock.OffErrors, false},
		{"errors", cblock.OffErrors, cblock.OffErrors + 4*cblock.NrMax, true},
	}
	for _, r := range regions {
		for i := r.start; i < r.end; i++ {
			if r.keep && mem[i] != before[i] {
				t.Errorf("%s: byte %d changed from %#x to %#x", r.name, i, before[i], mem[i])
				break
			}
			if !r.keep && mem[i] != 0 {
				t.Errorf("%s: byte %d = %#x, want 0", r.name, i, mem[i])
				break
			}
		}
	}
}

func TestResetCountsABlockFromBeforeThreadsAsOne(t *testing.T) {
	cb, _ := mappedBlock(t)
	cb.Threads = 0
	cblock.Reset(cb)
	if cb.Threads != 2 {
		t.Errorf("Threads = %d, want 2: the old block's thread and the new one", cb.Threads)
	}
}
