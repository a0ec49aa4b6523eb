package bpf

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Selector values (SYSCALL_DISPATCH_FILTER_* in linux/prctl.h): the byte
// the kernel reads on every syscall of a thread with dispatch on.
const (
	// SelectorAllow lets syscalls through to the kernel.
	SelectorAllow byte = 0
	// SelectorBlock sends syscalls from outside the allowed region to
	// SIGSYS.
	SelectorBlock byte = 1
)

// ErrSUDNotSupported reports a kernel without Syscall User Dispatch (before
// 5.11, or built without CONFIG_GENERIC_ENTRY).
var ErrSUDNotSupported = errors.New("syscall user dispatch not supported by this kernel")

// EnableSUD turns on Syscall User Dispatch for the calling OS thread only:
// syscalls issued outside [start, start+length) raise SIGSYS while
// *selector is SelectorBlock. The caller must hold runtime.LockOSThread,
// and selector must stay valid and unmoved while dispatch is on (the
// kernel reads it on every syscall): use memory outside the Go heap or a
// package-level variable, never a stack variable.
func EnableSUD(start, length uintptr, selector *byte) error {
	// The kernel answers EINVAL for a wrapping region (and for start != 0
	// with length 0); catch that here so EINVAL below means "unsupported".
	if start != 0 && start+length <= start {
		return fmt.Errorf("%w: dispatch region start %#x length %#x", ErrInvalidRange, start, length)
	}
	err := unix.Prctl(unix.PR_SET_SYSCALL_USER_DISPATCH, unix.PR_SYS_DISPATCH_ON,
		start, length, uintptr(unsafe.Pointer(selector)))
	return sudError("on", err)
}

// DisableSUD turns Syscall User Dispatch off for the calling OS thread.
func DisableSUD() error {
	err := unix.Prctl(unix.PR_SET_SYSCALL_USER_DISPATCH, unix.PR_SYS_DISPATCH_OFF, 0, 0, 0)
	return sudError("off", err)
}

func sudError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("bpf: PR_SET_SYSCALL_USER_DISPATCH %s: %w: %w", op, ErrSUDNotSupported, err)
	}
	return fmt.Errorf("bpf: PR_SET_SYSCALL_USER_DISPATCH %s: %w", op, err)
}
