package bpf

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TSyncError reports that seccomp could not apply the filter to every
// thread: thread TID already runs under a filter that is not an ancestor of
// the caller's (SECCOMP_FILTER_FLAG_TSYNC returns its id instead of an
// errno).
type TSyncError struct{ TID int }

func (e *TSyncError) Error() string {
	return fmt.Sprintf("bpf: seccomp TSYNC: thread %d cannot take the filter (it has a diverging filter)", e.TID)
}

// InstallTrapFilter loads filter into the kernel for every thread of the
// process. The filter cannot be removed again; threads created later
// inherit it.
func InstallTrapFilter(filter []unix.SockFilter) error {
	if len(filter) == 0 {
		return errors.New("bpf: install: empty filter")
	}
	if len(filter) > MaxInstructions {
		return fmt.Errorf("%w: %d instructions", ErrProgramTooLong, len(filter))
	}
	// no_new_privs is per thread and seccomp checks it on the calling
	// thread, so both calls must happen on the same one. TSYNC then copies
	// no_new_privs to the other threads along with the filter.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("bpf: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r1, _, errno := unix.RawSyscall(unix.SYS_SECCOMP,
		unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("bpf: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w", errno)
	}
	if r1 != 0 {
		return &TSyncError{TID: int(r1)}
	}
	return nil
}
