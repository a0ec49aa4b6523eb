package tls

/*
#cgo CFLAGS: -O2 -fno-stack-protector -Wall
#include <signal.h>
#include "entry.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// KernelFunc handles one kernel-route syscall described by cb (Nr, Args,
// Site, Kind), writes the raw result to cb.Ret, and sets FlagLeave in
// cb.Flags to make the thread leave the guest.
type KernelFunc func(cb *ControlBlock)

var kernel KernelFunc

// SetKernel installs the Go side of kernel-route calls.
func SetKernel(f KernelFunc) { kernel = f }

//export vsysbedKernelCall
func vsysbedKernelCall(cb *C.struct_vsysbed_cb) {
	kernel((*ControlBlock)(unsafe.Pointer(cb)))
}

// SetRewrite turns the lazy rewriting of trapped call sites on or off
// for this process (--rewrite=lazy|off): with it on, the C trap path asks
// kernelsim (tls.NrPatch) to rewrite a site whose bytes may match.
func SetRewrite(on bool) {
	if on {
		C.vsysbed_rewrite = 1
	} else {
		C.vsysbed_rewrite = 0
	}
}

// Rewriting reports whether SetRewrite turned rewriting on.
func Rewriting() bool { return C.vsysbed_rewrite != 0 }

// AddPoke records that head, the first byte of a call site being
// rewritten, may hold an int3 from now on: a guest thread that executes it
// resumes at stub (entry.c's fault_handler). False if the table is full
// (the site must then be left as it is).
func AddPoke(head, stub uint64) bool {
	return C.vsysbed_poke_add(C.uint64_t(head), C.uint64_t(stub)) != 0
}

// ResetPokes forgets every site AddPoke recorded (execve).
func ResetPokes() { C.vsysbed_poke_reset() }

// PatchedEntryAddress is vsysbed_patched_entry's address.
func PatchedEntryAddress() uintptr { return uintptr(C.vsysbed_patched_entry_address()) }

// SetRoute makes nr take the fast route (a raw syscall from the
// trampoline) or the kernel route (Go).
func SetRoute(nr int, fast bool) {
	if nr < 0 || nr >= NrMax {
		return
	}
	if fast {
		C.vsysbed_routes[nr] = C.ROUTE_FAST
	} else {
		C.vsysbed_routes[nr] = C.ROUTE_KERNEL
	}
}

// SetRouteChecked makes nr take the C entry's checked route (entry.c's
// checked_call): run there when its arguments need nothing of kernelsim's
// handler, else the kernel route. Only close, getdents64, open and openat
// have one; SetRoute undoes it.
func SetRouteChecked(nr int) {
	if nr < 0 || nr >= NrMax {
		return
	}
	C.vsysbed_routes[nr] = C.ROUTE_CHECKED
}

// SetProcDev tells the C entry /proc's device: a checked call on an fd
// there goes to kernelsim. Until it is set (0), every checked call does.
func SetProcDev(dev uint64) { C.vsysbed_set_proc_dev(C.uint64_t(dev)) }

// checkedCall is entry.c's checked_call for the tests: whether the C
// entry ran call nr itself, and its result.
func checkedCall(nr int, a [6]uint64) (int64, bool) {
	var args [6]C.long
	for i, v := range a {
		args[i] = C.long(v)
	}
	var ret C.long
	ran := C.vsysbed_checked_call(C.long(nr), &args[0], &ret) != 0
	return int64(ret), ran
}

// What an fd map entry says of a syscall (entry.h): which arguments are fd
// numbers, and whether its result is a new fd.
const (
	FDArgsMask     = cblock.FDArgsMask
	FDResult       = cblock.FDResult
	FDResultDupfd  = cblock.FDResultDupfd
	GuestHighFDs   = cblock.GuestHighFDs
	fdArgsAllFlags = FDArgsMask | FDResult | FDResultDupfd
)

// SetFDArgs records which arguments of nr are fds (bit i: argument i+1)
// and whether its result is one (FDResult, FDResultDupfd).
func SetFDArgs(nr int, flags uint8) {
	if nr >= 0 && nr < NrMax {
		C.vsysbed_fdargs[nr] = C.uint8_t(flags & fdArgsAllFlags)
	}
}

// SetTimed marks nr as a timed call whose start the fast route notes in
// ControlBlock.CallStart.
func SetTimed(nr int) {
	if nr >= 0 && nr < NrMax {
		C.vsysbed_timed[nr] = 1
	}
}

// SetHostClock gives the C entry the host vDSO's clock_gettime (0: use
// the syscall).
func SetHostClock(addr uintptr) { C.vsysbed_set_host_clock(C.uintptr_t(addr)) }

// SetGoProfiling says that Go's CPU profiler runs: SIGPROF is then Go's;
// otherwise a SIGPROF on a guest thread is the guest's.
func SetGoProfiling(on bool) {
	if on {
		C.vsysbed_go_profiling = 1
	} else {
		C.vsysbed_go_profiling = 0
	}
}

// SetHostFDBase says where the host's fds start: every fd from there is
// the host's unless the guest made it (MarkGuestFD).
func SetHostFDBase(base int) { C.vsysbed_hostfd_base = C.int32_t(base) }

// HostFDBase is where the host's fds start (SetHostFDBase).
func HostFDBase() int { return int(C.vsysbed_hostfd_base) }

// SetRelayTid names the guest thread that takes the host signals Go's
// threads cannot hand on (signal 34): a live one of this process.
func SetRelayTid(tid int) { C.vsysbed_set_relay_tid(C.int32_t(tid)) }

// GoSiginfo is the siginfo of the last signal sig that reached Go's
// handler (os/signal passes on only the number); all zero if none did.
// GoSignalsSeen is how many of signal sig have reached Go's handler
// (os/signal) through tls's relay since the process began.
func GoSignalsSeen(sig int) uint64 { return uint64(C.vsysbed_go_seen(C.int(sig))) }

func GoSiginfo(sig int) [128]byte {
	var b [128]byte
	C.vsysbed_go_siginfo(C.int(sig), unsafe.Pointer(&b[0]))
	return b
}

// SetExeIno tells the C entry the inode of vsysbed's own binary: a
// fast-route stat, newfstatat or statx whose result has it goes to the
// kernel (it may have followed /proc/self/exe).
func SetExeIno(ino uint64) { C.vsysbed_set_exe_ino(C.uint64_t(ino)) }

// MarkSignalfd makes the C entry send read and readv of fd to kernelsim
// (on: fd is a guest signalfd) or take the fast route again.
func MarkSignalfd(fd int, on bool) {
	if fd != int(int32(fd)) {
		return
	}
	o := C.int(0)
	if on {
		o = 1
	}
	C.vsysbed_mark_signalfd(C.int32_t(fd), o)
}

// RaiseFDHigh records that the guest's fd table reaches fd (a new fd, a
// dup2 target): Linux's table grows to hold it and never shrinks.
func RaiseFDHigh(fd int) {
	if fd == int(int32(fd)) && fd >= 0 {
		C.vsysbed_raise_fd_high(C.int32_t(fd))
	}
}

// FDHigh is the highest fd the guest's table has reached (RaiseFDHigh).
func FDHigh() int { return int(C.vsysbed_fd_high) }

// FDTableSize is the size Linux's fd table has for the guest (its
// max_fds) now: cblock.FDTableSize of FDHigh.
func FDTableSize() int { return cblock.FDTableSize(FDHigh()) }

// IsHostFD reports whether fd belongs to the host: the guest's calls on it
// fail with EBADF and it appears in none of the guest's fd listings.
func IsHostFD(fd int) bool {
	return fd == int(int32(fd)) && C.vsysbed_is_host_fd(C.int32_t(fd)) != 0
}

// MarkGuestFD records that the guest holds fd (guest=true) or closed it.
func MarkGuestFD(fd int, guest bool) {
	if fd != int(int32(fd)) {
		return
	}
	g := C.int(0)
	if guest {
		g = 1
	}
	C.vsysbed_mark_guest_fd(C.int32_t(fd), g)
}

// Guest signal dispositions, as the C signal handlers see them.
const (
	DispositionDefault = cblock.DispositionDefault
	DispositionIgnore  = cblock.DispositionIgnore
	DispositionHandler = cblock.DispositionHandler
)

// SetDisposition tells the host's handlers what the guest does with sig.
func SetDisposition(sig int, d int) {
	if sig > 0 && sig <= 64 {
		C.vsysbed_guest_disposition[sig] = C.uint8_t(d)
	}
}

// SetChildAutoReap sets or clears SA_NOCLDWAIT on the host's SIGCHLD
// action: the kernel then reaps this process's children itself, as it
// does natively for a guest whose SIGCHLD is SIG_IGN or SA_NOCLDWAIT.
func SetChildAutoReap(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	if C.vsysbed_child_autoreap(v) != 0 {
		return errors.New("changing the host's SIGCHLD action failed")
	}
	return nil
}

// KickSignal is the host signal that makes a guest thread look at its
// pending guest signals (tgkill it to the thread).
const KickSignal = cblock.KickSignal

// RelayOnly: a host process takes sig on its guest threads only, through
// the relay, never through os/signal (VSYSBED_RELAY_ONLY in entry.h): the
// job-control signals and the ones the supervisor forwards.
func RelayOnly(sig int) bool { return cblock.RelayOnly(sig) }

// XsaveSize is the size of the XSAVE image of the features the OS enabled.
func XsaveSize() int { return xsaveFeatures().size }

// xsaveFeatures are the XSAVE features the OS enabled (XCR0) and the size
// of their image (CPUID 0xd), read once per process: cpuid is a VM exit
// under a hypervisor, and Prepare runs at every thread start.
var xsaveFeatures = sync.OnceValue(func() (x struct {
	mask uint64
	size int
}) {
	var size C.uint32_t
	x.mask = uint64(C.vsysbed_xsave_features(&size))
	x.size = int(size)
	return x
})

// BypassEntry is the address __kernel_vsyscall must jump to.
func BypassEntry() uintptr { return uintptr(C.vsysbed_bypass_address()) }

// Region is the trampoline region: the only code whose syscalls Syscall
// User Dispatch lets through.
func Region() (start, end uintptr) {
	return uintptr(C.vsysbed_region_start_address()), uintptr(C.vsysbed_region_end_address())
}

// InstallHandlers installs the host's SIGSYS handler and the fault
// handlers that chain to Go's. Call it after the Go runtime is up.
func InstallHandlers() error {
	if C.vsysbed_install_handlers() != 0 {
		return errors.New("installing the SIGSYS and fault handlers failed")
	}
	return nil
}

// Prepare fills the parts of a fresh control block the trampolines need.
func Prepare(cb *ControlBlock, trapMode uint8) error {
	x := xsaveFeatures()
	if x.size > XsaveMax {
		return fmt.Errorf("XSAVE area of %d bytes does not fit the control block (%d)", x.size, XsaveMax)
	}
	cb.XsaveMask = x.mask
	cb.TrapMode = trapMode
	cb.Pid = uint32(os.Getpid())
	if hasFSGSBASE() {
		cb.Flags |= FlagFSGSBASE
	}
	cb.Selector = 0
	cb.State = StateHost
	return nil
}

// Run enters the guest on the calling thread, which must be locked
// (runtime.LockOSThread), with the registers in cb.Trap and the extended
// state in cb.Xsave (see SetInitialState, CopyThreadState), and returns when
// kernelsim sets FlagLeave. A readyFD of 0 or more is a fork child's link
// to its parent: "ready\n" goes out on it from C as the last step before
// the guest's first instruction, so that no Go runs on the thread between
// the two (the process exits with exitstatus.Failed if it cannot be sent).
func Run(cb *ControlBlock, readyFD int) {
	C.vsysbed_run((*C.struct_vsysbed_cb)(unsafe.Pointer(cb)), C.int(readyFD))
}

// exitFailed is the status the C entry exits with when it cannot tell a
// fork child's parent it is ready.
const exitFailed = C.VSYSBED_EXIT_FAILED

// DieBySignal resets sig to its default action and raises it on the
// calling thread: the host process dies the way the guest did.
func DieBySignal(sig int) { C.vsysbed_die_by_signal(C.int(sig)) }

// StopBySignal stops the host process by sig (SIGTSTP, SIGTTIN, SIGTTOU)
// at its default action, as the guest's default action would: raised on
// this thread at SIG_DFL, so the kernel applies its own rules (waitpid's
// WSTOPSIG, the orphaned process group's discard); the relay's action
// is back when it returns, after the SIGCONT.
func StopBySignal(sig int) { C.vsysbed_stop_by_signal(C.int(sig)) }

// hasFSGSBASE is hostHasFSGSBASE, read once per process (a file read at
// every thread start otherwise).
var hasFSGSBASE = sync.OnceValue(hostHasFSGSBASE)

// hostHasFSGSBASE: the kernel lets user space use rdfsbase/wrfsbase
// (AT_HWCAP2 bit 1). VSYSBED_NO_FSGSBASE=1 forces the arch_prctl path,
// so both paths can be tested on a machine that has the instructions.
func hostHasFSGSBASE() bool {
	if os.Getenv("VSYSBED_NO_FSGSBASE") == "1" {
		return false
	}
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return false
	}
	for i := 0; i+16 <= len(b); i += 16 {
		if binary.LittleEndian.Uint64(b[i:]) == 26 { // AT_HWCAP2
			return binary.LittleEndian.Uint64(b[i+8:])&(1<<1) != 0
		}
	}
	return false
}
