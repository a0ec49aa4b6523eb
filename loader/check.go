package loader

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Check answers whether Load(spec) would get past every check that does
// not need memory: the file, its #! chain, its ELF headers, its
// interpreter, and the size of the arguments. execve calls it before
// tearing down the old image, so that a failing execve (ENOENT, EACCES,
// ENOEXEC, E2BIG) returns its error to a caller left untouched.
func Check(spec Spec) error {
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{""}
	}
	prog, obj, err := resolve(spec.Path, argv)
	if err != nil {
		return err
	}
	defer prog.Close()
	if obj.Interp != "" {
		interp, err := openExec(obj.Interp)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return &ExecError{Path: prog.name, Errno: unix.ENOENT, Reason: fmt.Sprintf("interpreter %s not found", obj.Interp)}
			}
			return err
		}
		defer interp.Close()
		if _, err := parseELF(interp.f, interp.size); err != nil {
			return err
		}
	}
	stackSize := spec.StackSize
	if stackSize == 0 {
		stackSize = DefaultStackSize
	}
	// The layout of a stack at an aligned dummy top: only the size checks
	// matter here.
	_, err = layoutStack(1<<46, stackArgs{Argv: prog.argv, Envp: spec.Envp, ExecFn: spec.Path, Limit: stackSize / 4})
	return err
}
