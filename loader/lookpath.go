package loader

import (
	"strings"

	"golang.org/x/sys/unix"
)

// defaultPath is what execvp searches when PATH is unset (glibc's _CS_PATH).
const defaultPath = "/bin:/usr/bin"

// LookPath finds file the way execvp(3) does: a name containing '/' is
// used as is; otherwise each PATH entry is tried in order ("" means the
// current directory) and the first regular file with execute permission
// wins. When nothing is found the error is ENOENT, or EACCES if some
// candidate existed but was not executable — so a shell can report 127
// or 126. path is $PATH; pass "" (unset) for the default search path.
func LookPath(file, path string) (string, error) {
	if file == "" {
		return "", &ExecError{Path: file, Errno: unix.ENOENT, Reason: "no such file or directory"}
	}
	if strings.Contains(file, "/") {
		return file, nil
	}
	if path == "" {
		path = defaultPath
	}
	sawDenied := false
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		cand := dir + "/" + file
		var st unix.Stat_t
		if unix.Stat(cand, &st) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 ||
			unix.Faccessat(unix.AT_FDCWD, cand, unix.X_OK, unix.AT_EACCESS) != nil {
			sawDenied = true
			continue
		}
		return cand, nil
	}
	if sawDenied {
		return "", &ExecError{Path: file, Errno: unix.EACCES, Reason: "permission denied (found in PATH, but not an executable file)"}
	}
	return "", &ExecError{Path: file, Errno: unix.ENOENT, Reason: "command not found"}
}
