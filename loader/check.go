package loader

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
	prog, obj, err := resolve(spec.Path, argv, spec.Envp, spec.StackRlimit)
	if err != nil {
		return err
	}
	defer prog.Close()
	if obj.Interp != "" {
		return checkInterp(prog.name, obj.Interp)
	}
	return nil
}
