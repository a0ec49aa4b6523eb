package kernelsim

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/hostfiles"
	"github.com/vsysbed/vsysbed/internal/procmem"
)

// The tests' default Machine is this host process, as the in-process
// platform's (platform/inprocess/machine.go, which kernelsim cannot
// import): the tests that need real memory or real host calls use it,
// the others set a fakeMachine (fakeTask).
func init() { SetMachine(hostMachine{}) }

type hostMachine struct{ hostfiles.Files }

func (hostMachine) ReadMem(addr uint64, b []byte) error  { return procmem.Read(pid, addr, b) }
func (hostMachine) WriteMem(addr uint64, b []byte) error { return procmem.Write(pid, addr, b) }

func (hostMachine) Syscall(nr int, a *Args) int64 {
	r, _, errno := unix.Syscall6(uintptr(nr), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
	if errno != 0 {
		return -int64(errno)
	}
	return int64(r)
}
