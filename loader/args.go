package loader

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// execve's limits on its arguments (fs/exec.c), which both the top-level
// load and the guest's own execve apply, so that both refuse exactly what
// Linux refuses.
const (
	// maxArgStrlen is MAX_ARG_STRLEN: the longest string, its NUL included.
	maxArgStrlen = 32 * pageSize
	// argMax is ARG_MAX: the room a stack limit below 512 KiB still gets.
	argMax = 32 * pageSize
	// stkLim is _STK_LIM: the strings get at most three quarters of it.
	stkLim = 8 << 20
)

// ArgLimit is the room bprm_stack_limits gives the strings and their
// pointers under a stack limit (RLIMIT_STACK's soft value): a quarter of
// it, at most 6 MiB, at least 128 KiB.
func ArgLimit(rlimStack uint64) uint64 {
	return max(min(stkLim/4*3, rlimStack/4), argMax)
}

// stackRlimit is the calling process's RLIMIT_STACK (the guest's: kernelsim
// passes it through).
func stackRlimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
		return DefaultStackSize
	}
	return rl.Cur
}

// argSpace is execve's accounting of the strings it copies to the new
// stack: every string with its NUL against the limit less one pointer per
// original argv and envp entry (counted once, before any #! rewriting,
// as Linux does). The 8-byte end marker is not counted.
type argSpace struct {
	used, room uint64
}

// newArgSpace accounts the filename, envp and argv of an execve the way
// do_execveat_common copies them; argv is already at least [""] (Linux
// supplies the empty argv[0], one byte). rlimStack 0 means the process's own.
func newArgSpace(filename string, argv, envp []string, rlimStack uint64) (*argSpace, error) {
	if rlimStack == 0 {
		rlimStack = stackRlimit()
	}
	limit := ArgLimit(rlimStack)
	ptrs := uint64(len(argv)+len(envp)) * 8
	if limit <= ptrs {
		return nil, tooBig(fmt.Sprintf("%d argument and environment pointers need %d bytes, the limit is %d", len(argv)+len(envp), ptrs, limit))
	}
	sp := &argSpace{room: limit - ptrs}
	if err := sp.add(filename); err != nil {
		return nil, err
	}
	for _, list := range [][]string{envp, argv} {
		for _, s := range list {
			if err := sp.add(s); err != nil {
				return nil, err
			}
		}
	}
	return sp, nil
}

// add copies one more string (copy_strings, copy_string_kernel).
func (sp *argSpace) add(s string) error {
	n := uint64(len(s)) + 1
	if n > maxArgStrlen {
		return tooBig(fmt.Sprintf("an argument or environment string of %d bytes is longer than %d", len(s), maxArgStrlen-1))
	}
	if sp.used+n > sp.room {
		return tooBig(fmt.Sprintf("arguments and environment need more than %d bytes (a quarter of RLIMIT_STACK, at least 128 KiB, at most 6 MiB, less 8 bytes per string)", sp.room))
	}
	sp.used += n
	return nil
}

// script is binfmt_script's rewrite: argv[0] goes, then the script's path,
// the #! argument if any and the interpreter's name come in.
func (sp *argSpace) script(argv0, path, arg, interp string) error {
	sp.used -= uint64(len(argv0)) + 1
	if err := sp.add(path); err != nil {
		return err
	}
	if arg != "" {
		if err := sp.add(arg); err != nil {
			return err
		}
	}
	return sp.add(interp)
}

func tooBig(reason string) *ExecError {
	return &ExecError{Errno: unix.E2BIG, Reason: "argument list too long: " + reason}
}
