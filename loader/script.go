package loader

import "bytes"

// shebangMax is BINPRM_BUF_SIZE: Linux looks at no more of a script than this.
const shebangMax = 256

// maxScriptDepth bounds #! chains (a script whose interpreter is a script...):
// exec_binprm runs at most 6 handlers, so 5 scripts may lead to an ELF.
const maxScriptDepth = 5

// parseShebang splits a "#!" line the way fs/binfmt_script.c does: the
// interpreter is the first word, and everything after it (leading blanks
// skipped, trailing blanks stripped) is one optional argument, spaces and
// all. head is the start of the file, at most shebangMax bytes are looked
// at. ok is false when head does not start with "#!"; err is an ENOEXEC
// *ExecError (no Path) for a "#!" line Linux would refuse.
func parseShebang(head []byte) (interp, arg string, ok bool, err error) {
	if len(head) < 2 || head[0] != '#' || head[1] != '!' {
		return "", "", false, nil
	}
	if len(head) > shebangMax {
		head = head[:shebangMax]
	}
	line := head[2:]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	} else if len(head) == shebangMax {
		// No newline within a full buffer: Linux accepts the line only if
		// the interpreter name itself ends inside it, since a truncated path
		// would name a different file. (A shorter file is NUL-padded in the
		// kernel's buffer, so its name always ends.)
		rest := bytes.TrimLeft(line, " \t")
		if len(rest) == 0 {
			return "", "", true, notExec("#! line names no interpreter")
		}
		if !bytes.ContainsAny(rest, " \t\x00") {
			return "", "", true, notExec("#! interpreter name is longer than %d bytes", shebangMax)
		}
		// The kernel terminates the string in the buffer's last byte.
		line = line[:len(line)-1]
	}
	if nul := bytes.IndexByte(line, 0); nul >= 0 {
		line = line[:nul]
	}
	line = bytes.Trim(line, " \t")
	if len(line) == 0 {
		return "", "", true, notExec("#! line names no interpreter")
	}
	name := line
	if sp := bytes.IndexAny(line, " \t"); sp >= 0 {
		name = line[:sp]
		arg = string(bytes.TrimLeft(line[sp:], " \t"))
	}
	return string(name), arg, true, nil
}

// scriptArgv is the argv Linux builds for a script: the interpreter, its
// optional argument, the script path as given to execve, then the
// original argv without argv[0].
func scriptArgv(interp, arg, script string, argv []string) []string {
	out := []string{interp}
	if arg != "" {
		out = append(out, arg)
	}
	out = append(out, script)
	if len(argv) > 1 {
		out = append(out, argv[1:]...)
	}
	return out
}
