package inprocess

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/hostfiles"
	"github.com/vsysbed/vsysbed/internal/procmem"
	"github.com/vsysbed/vsysbed/kernelsim"
)

// The in-process platform's Machine is the host process itself: kernelsim
// reaches guest memory and issues its host calls through it from the
// start (init), before any guest process is made or adopted.
func init() { kernelsim.SetMachine(hostMachine{pid: unix.Getpid()}) }

// hostMachine: guest memory lives in this address space, but a guest
// pointer may be bad, and reading it directly would fault inside Go and
// kill the host: the copies go through process_vm_readv/writev on our own
// pid, which turn a bad pointer into EFAULT. Its files are the host's own
// (hostfiles.Files, the real calls).
type hostMachine struct {
	pid int
	hostfiles.Files
}

func (m hostMachine) ReadMem(addr uint64, buf []byte) error { return procmem.Read(m.pid, addr, buf) }

func (m hostMachine) WriteMem(addr uint64, buf []byte) error { return procmem.Write(m.pid, addr, buf) }

// Syscall uses Syscall6, not RawSyscall6: a blocking call must not hold
// the Go scheduler's P.
func (hostMachine) Syscall(nr int, a *kernelsim.Args) int64 {
	r, _, errno := unix.Syscall6(uintptr(nr), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
	if errno != 0 {
		return -int64(errno)
	}
	return int64(r)
}
