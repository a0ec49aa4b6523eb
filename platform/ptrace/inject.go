package ptrace

// Syscall injection into a stopped tracee, and with it the one thing the
// ptrace platform does to a fresh image before its first instruction:
// replace the kernel's vDSO with the synthetic one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/procmaps"
	"github.com/vsysbed/vsysbed/internal/procmem"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// traceeGoneError is a tracee that died while the tracer was working on
// it; WS is the wait status the tracer consumed, which the main loop
// must still process.
type traceeGoneError struct {
	Tid int
	WS  unix.WaitStatus
}

func (e *traceeGoneError) Error() string {
	return fmt.Sprintf("ptrace: tracee %d ended during syscall injection", e.Tid)
}

// injection runs syscalls in a tracee stopped at an event stop: the word
// at rip becomes `syscall; int3`, each call sets the registers, lets the
// tracee run into the int3 and reads rax; end puts word and registers
// back. Our own filter stops the injected syscall like any other; the
// injection lets it through.
type injection struct {
	tid     int
	saved   unix.PtraceRegs
	oldWord [8]byte
	// signals that arrived for the tracee meanwhile, to redeliver.
	signals []unix.Signal
}

var injectCode = [...]byte{0x0f, 0x05, 0xcc} // syscall; int3

func beginInjection(tid int) (*injection, error) {
	in := &injection{tid: tid}
	if err := unix.PtraceGetRegs(tid, &in.saved); err != nil {
		return nil, fmt.Errorf("ptrace: GETREGS of %d: %w", tid, err)
	}
	if _, err := unix.PtracePeekText(tid, uintptr(in.saved.Rip), in.oldWord[:]); err != nil {
		return nil, fmt.Errorf("ptrace: reading the code at %#x of %d: %w", in.saved.Rip, tid, err)
	}
	word := in.oldWord
	copy(word[:], injectCode[:])
	if _, err := unix.PtracePokeText(tid, uintptr(in.saved.Rip), word[:]); err != nil {
		return nil, fmt.Errorf("ptrace: writing the injection at %#x of %d: %w", in.saved.Rip, tid, err)
	}
	// At an event stop the tracee is still inside a syscall (execve) whose
	// return value the kernel stores into rax after the stop, over any
	// number set now. So first let that syscall finish straight into the
	// int3; from that stop on, registers set are registers used.
	r := in.saved
	r.Rip = in.saved.Rip + 2
	if _, err := in.run(&r); err != nil {
		in.end()
		return nil, err
	}
	return in, nil
}

// call runs syscall nr with args in the tracee and returns its raw result.
func (in *injection) call(nr uint64, args ...uint64) (uint64, error) {
	var a [6]uint64
	copy(a[:], args)
	r := in.saved
	r.Rip = in.saved.Rip
	r.Rax, r.Orig_rax = nr, ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	return in.run(&r)
}

// run sets the registers r, lets the tracee run into the int3 and
// returns rax there.
func (in *injection) run(r *unix.PtraceRegs) (uint64, error) {
	if err := unix.PtraceSetRegs(in.tid, r); err != nil {
		return 0, fmt.Errorf("ptrace: SETREGS of %d: %w", in.tid, err)
	}
	if err := unix.PtraceCont(in.tid, 0); err != nil {
		return 0, fmt.Errorf("ptrace: resuming %d for an injected call: %w", in.tid, err)
	}
	for {
		var ws unix.WaitStatus
		if _, err := wait4(in.tid, &ws); err != nil {
			return 0, fmt.Errorf("ptrace: waiting for %d: %w", in.tid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return 0, &traceeGoneError{Tid: in.tid, WS: ws}
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_SECCOMP:
			// Our own call at our own filter: let it run.
		case sig == unix.SIGTRAP && ws.TrapCause() <= 0:
			// The int3 after the syscall.
			if err := unix.PtraceGetRegs(in.tid, r); err != nil {
				return 0, fmt.Errorf("ptrace: GETREGS of %d: %w", in.tid, err)
			}
			return r.Rax, nil
		case sig == unix.SIGTRAP|0x80, sig == unix.SIGTRAP:
			// A stray syscall-exit or event stop: nothing to do.
		case IsGroupStop(in.tid):
		case sig == unix.SIGSEGV || sig == unix.SIGBUS || sig == unix.SIGILL:
			// Resumed without it, the injected code would fault forever.
			return 0, fmt.Errorf("ptrace: %s in %d at %#x during syscall injection", sig, in.tid, in.saved.Rip)
		default:
			in.signals = append(in.signals, sig)
		}
		if err := unix.PtraceCont(in.tid, 0); err != nil {
			return 0, fmt.Errorf("ptrace: resuming %d: %w", in.tid, err)
		}
	}
}

// end restores the code word and the registers. The tracee stays stopped;
// the signals that arrived meanwhile are queued again with tgkill.
func (in *injection) end() error {
	var errs []error
	if _, err := unix.PtracePokeText(in.tid, uintptr(in.saved.Rip), in.oldWord[:]); err != nil {
		errs = append(errs, fmt.Errorf("ptrace: restoring the code at %#x of %d: %w", in.saved.Rip, in.tid, err))
	}
	if err := unix.PtraceSetRegs(in.tid, &in.saved); err != nil {
		errs = append(errs, fmt.Errorf("ptrace: restoring the registers of %d: %w", in.tid, err))
	}
	for _, s := range in.signals {
		unix.Tgkill(tgidOf(in.tid), in.tid, s)
	}
	return errors.Join(errs...)
}

// readMem reads len(b) bytes of tid's memory at addr.
func readMem(tid int, addr uint64, b []byte) error {
	if err := procmem.Read(tid, addr, b); err != nil {
		return fmt.Errorf("ptrace: reading %d bytes at %#x of %d: %w", len(b), addr, tid, err)
	}
	return nil
}

// writeMem writes b into tid's memory at addr (which must be writable:
// process_vm_writev honours page protections).
func writeMem(tid int, addr uint64, b []byte) error {
	if err := procmem.Write(tid, addr, b); err != nil {
		return fmt.Errorf("ptrace: writing %d bytes at %#x of %d: %w", len(b), addr, tid, err)
	}
	return nil
}

// readWord reads the 64-bit word at addr of tid.
func readWord(tid int, addr uint64) (uint64, error) {
	var w uint64
	b := unsafe.Slice((*byte)(unsafe.Pointer(&w)), 8)
	if err := readMem(tid, addr, b); err != nil {
		return 0, err
	}
	return w, nil
}

// kernelVDSONames are the kernel's own vDSO mappings (6.x splits the data
// page into [vvar] and [vvar_vclock]).
var kernelVDSONames = map[string]bool{"[vdso]": true, "[vvar]": true, "[vvar_vclock]": true}

// injectVDSO gives tid's process, stopped at its exec event, the synthetic
// vDSO: an injected mmap, the filled image written in, the image's
// protections, the kernel's [vdso]/[vvar] unmapped, and AT_SYSINFO_EHDR
// on the initial stack pointed at the image. It returns the image base.
func injectVDSO(tid int, im *vdsoinject.Image, size uint64) (base uint64, err error) {
	in, err := beginInjection(tid)
	if err != nil {
		return 0, err
	}
	defer func() {
		if e := in.end(); e != nil && err == nil {
			err = e
		}
	}()
	fail := func(what string, ret uint64) error {
		return fmt.Errorf("ptrace: injected %s in %d: %w", what, tid, unix.Errno(-int64(ret)))
	}
	ret, err := in.call(unix.SYS_MMAP, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return 0, err
	}
	if isErrorResult(ret) {
		return 0, fail("mmap", ret)
	}
	base = ret
	img, err := im.Fill(uintptr(base), nil) // every slot: the image's own fallback
	if err != nil {
		return 0, err
	}
	if err := writeMem(tid, base, img); err != nil {
		return 0, err
	}
	for _, r := range im.Regions() {
		if r.Len == 0 {
			continue
		}
		if ret, err := in.call(unix.SYS_MPROTECT, base+r.Off, r.Len, uint64(r.Prot)); err != nil {
			return 0, err
		} else if isErrorResult(ret) {
			return 0, fail("mprotect", ret)
		}
	}
	maps, err := procmaps.Read(tid)
	if err != nil {
		return 0, fmt.Errorf("ptrace: %w", err)
	}
	var stackEnd uint64
	for _, m := range maps {
		if m.Start <= in.saved.Rsp && in.saved.Rsp < m.End {
			stackEnd = m.End
		}
		if !kernelVDSONames[m.Path] {
			continue
		}
		if ret, err := in.call(unix.SYS_MUNMAP, m.Start, m.End-m.Start); err != nil {
			return 0, err
		} else if isErrorResult(ret) {
			return 0, fail("munmap "+m.Path, ret)
		}
	}
	if stackEnd == 0 {
		return 0, fmt.Errorf("ptrace: rsp %#x of %d lies in no mapping", in.saved.Rsp, tid)
	}
	stack := make([]byte, stackEnd-in.saved.Rsp)
	if err := readMem(tid, in.saved.Rsp, stack); err != nil {
		return 0, err
	}
	off, err := auxvValueOffset(stack, atSysinfoEhdr)
	if errors.Is(err, ErrNoAuxvEntry) {
		// A kernel booted with vdso=0 passes none; the guest then finds
		// no vDSO at all, as it would natively.
		return base, nil
	}
	if err != nil {
		return 0, err
	}
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], base)
	if err := writeMem(tid, in.saved.Rsp+uint64(off), w[:]); err != nil {
		return 0, err
	}
	return base, nil
}
