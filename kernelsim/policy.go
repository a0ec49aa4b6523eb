package kernelsim

import "golang.org/x/sys/unix"

// Answer is kernelsim's own answer to call nr with arguments a when it
// does not depend on the platform: the calls the table refuses, and the
// prctl and arch_prctl requests that would change the confinement or the
// registers vsysbed itself relies on. ok is false when the call is the
// kernel's to run (passed through, or emulated per platform).
//
// The in-process platform's handlers answer these the same way; the
// ptrace platform, whose guest runs natively, applies Answer at each
// syscall stop so that a guest meets the same kernel on both — and so that
// a guest cannot install a seccomp filter of its own, which would decide
// before the tracer's and hide calls from it.
func Answer(nr int, a Args) (ret int64, ok bool) {
	if nr < 0 || nr > MaxNr {
		return -int64(unix.ENOSYS), true
	}
	if row := &table[nr]; row.Route == Refused {
		return -int64(row.Errno), true
	}
	switch nr {
	case unix.SYS_PRCTL:
		return prctlAnswer(a)
	case unix.SYS_ARCH_PRCTL:
		if a[0] == archSetGS {
			return -int64(unix.EPERM), true
		}
	}
	return 0, false
}

// prctlAnswer: vsysbed's own seccomp filter (or Syscall User Dispatch) is
// in force and is not the guest's to see or change; no_new_privs is
// already set, so setting it succeeds and the guest's view stays its own.
func prctlAnswer(a Args) (int64, bool) {
	switch a[0] {
	case prSetSeccomp, prSetSyscallUserDsp:
		return -int64(unix.EINVAL), true
	case prGetSeccomp, prSetNoNewPrivs, prGetNoNewPrivs:
		return 0, true
	case prSetMM:
		return -int64(unix.EPERM), true
	}
	return 0, false
}
