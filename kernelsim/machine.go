package kernelsim

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Machine is what the syscall handlers ask of the platform below the
// guest: its memory, and the host's system calls made on its behalf.
// Handlers reach it through readGuest, writeGuest and passthrough only, so
// that a unit test can run one against a fake (memory as byte slices, a
// log of the calls it would have made; machine_test.go) without a guest.
//
// Threads, host processes and the host resources a handler needs beyond
// these (its thread's mask, the guest window's reservations, /proc answer
// files, signalfd's pipes, ending and stopping the process) go through the
// other half of the boundary, Platform (platform.go; ARCHITECTURE.md, "The
// kernel and its platform").
type Machine interface {
	// ReadMem and WriteMem copy guest memory; a bad address is EFAULT,
	// never a fault in the host.
	ReadMem(addr uint64, b []byte) error
	WriteMem(addr uint64, b []byte) error
	// Syscall issues nr on the host and returns the raw result
	// (-4095..-1 is -errno).
	Syscall(nr int, a *Args) int64
}

// kick interrupts guest thread tid so that it looks at its pending
// signals (cblock.KickSignal), through the Machine: a unit test sees the
// kick in its log instead of signalling a thread of its own.
func kick(tid int) {
	machine.Syscall(unix.SYS_TGKILL, &Args{uint64(pid), uint64(tid), uint64(cblock.KickSignal)})
}

// machine is the platform's (SetMachine). Until one is set, a call is a
// bug: it panics, rather than touching memory or the host unasked.
var machine Machine = noMachine{}

// SetMachine makes m the Machine of every handler in this host process:
// platform/inprocess sets its own at init (the host process itself), the
// unit tests their fakes.
func SetMachine(m Machine) { machine = m }

type noMachine struct{}

const noMachineSet = "kernelsim: no Machine set (platform/inprocess sets it at init)"

func (noMachine) ReadMem(uint64, []byte) error  { panic(noMachineSet) }
func (noMachine) WriteMem(uint64, []byte) error { panic(noMachineSet) }
func (noMachine) Syscall(int, *Args) int64      { panic(noMachineSet) }

// hostCall issues nr on the host through the Machine for kernelsim's own
// use (not a guest call passed through): the result, or its errno, as
// unix.Syscall6 returns them. A pointer in args must stay put for the
// call: heap memory kept alive (a runtime.Pinner), never a stack slot.
func hostCall(nr int, args ...uint64) (uint64, unix.Errno) {
	var a Args
	copy(a[:], args)
	r := machine.Syscall(nr, &a)
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return uint64(r), 0
}
