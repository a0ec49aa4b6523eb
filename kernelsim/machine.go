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
	// (-4095..-1 is -errno). The guest's fd table is changed and asked
	// through it too, by number (fcntl, dup3, close, close_range, lseek,
	// ftruncate: hostfd.go), so a fake answers them from a table.
	Syscall(nr int, a *Args) int64
	HostFiles
}

// HostFiles is the host's files as kernelsim reads them for the guest:
// the calls that take a path or fill a buffer, which a fake answers from
// tables more plainly than from raw pointers. Its users: the fd table's
// listings and links (/proc/thread-self/fd/N), the /proc files kernelsim
// rewrites (maps, status, stat), the status of an fd (fstat: is it on
// procfs, is it vsysbed's binary, its inode) and the O_PATH opens that
// name a /proc path. Every error is a unix.Errno. platform/inprocess's
// Machine embeds internal/hostfiles.Files, the real calls.
type HostFiles interface {
	ReadFile(path string) ([]byte, error)
	// ReadDir is the names in a directory, sorted, without "." and "..".
	ReadDir(path string) ([]string, error)
	Readlinkat(dirfd int, path string) (string, error)
	Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error
	// Openat opens a file; one kernelsim opens for its own look (an
	// O_PATH fd of a /proc path) it closes with Close, one it opens for
	// the guest (its image) is the guest's fd.
	Openat(dirfd int, path string, flags int, mode uint32) (int, error)
	Close(fd int) error
	Statx(dirfd int, path string, flags, mask int, stx *unix.Statx_t) error
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

func (noMachine) ReadMem(uint64, []byte) error                     { panic(noMachineSet) }
func (noMachine) WriteMem(uint64, []byte) error                    { panic(noMachineSet) }
func (noMachine) Syscall(int, *Args) int64                         { panic(noMachineSet) }
func (noMachine) ReadFile(string) ([]byte, error)                  { panic(noMachineSet) }
func (noMachine) ReadDir(string) ([]string, error)                 { panic(noMachineSet) }
func (noMachine) Readlinkat(int, string) (string, error)           { panic(noMachineSet) }
func (noMachine) Fstatat(int, string, *unix.Stat_t, int) error     { panic(noMachineSet) }
func (noMachine) Openat(int, string, int, uint32) (int, error)     { panic(noMachineSet) }
func (noMachine) Close(int) error                                  { panic(noMachineSet) }
func (noMachine) Statx(int, string, int, int, *unix.Statx_t) error { panic(noMachineSet) }

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
