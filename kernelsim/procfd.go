package kernelsim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The fd directories of /proc leave out the host's fds, however they are
// spelled (/proc/self/fd, /proc/thread-self/fd, /proc/PID/fd,
// /proc/PID/task/TID/fd, fdinfo alike) and however the directory was
// opened: getdents64 asks the kernel what the listed fd is, not how the
// guest named it.

// procFD is what a /proc path names: an fd directory (fd < 0) or one
// entry of it, of process pid.
type procFD struct {
	pid int
	fd  int
}

// parseProcFD recognises an fd directory or entry of /proc. "self" and
// "thread-self" are this process.
func parseProcFD(path string) (procFD, bool) {
	rest, ok := strings.CutPrefix(filepath.Clean(path), "/proc/")
	if !ok {
		return procFD{}, false
	}
	parts := strings.Split(rest, "/")
	var who int
	switch parts[0] {
	case "self", "thread-self":
		who = pid
	default:
		n, err := strconv.Atoi(parts[0])
		if err != nil || n <= 0 {
			return procFD{}, false
		}
		who = n
	}
	parts = parts[1:]
	if len(parts) >= 2 && parts[0] == "task" && parts[0] != "" {
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return procFD{}, false
		}
		parts = parts[2:]
	}
	if len(parts) == 0 || (parts[0] != "fd" && parts[0] != "fdinfo") {
		return procFD{}, false
	}
	switch len(parts) {
	case 1:
		return procFD{pid: who, fd: -1}, true
	case 2:
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 {
			return procFD{}, false
		}
		return procFD{pid: who, fd: n}, true
	}
	return procFD{}, false
}

// hiddenFDs is the test of which fds of process p's table are the host's:
// ours exactly; another host process of the tree by range (its own
// record of the guest's high fds is not ours to read); nil for any other
// process, which vsysbed does not run.
func (p *Process) hiddenFDs(of int) func(int) bool {
	if of == pid {
		return isHostFD
	}
	if !isHostProcess(of) {
		return nil
	}
	base := p.HostFDBase
	return func(fd int) bool { return fd >= base }
}

var (
	selfExeOnce sync.Once
	selfExe     string
)

// isHostProcess: pid runs this vsysbed binary (a host process of the
// tree, or the supervisor).
func isHostProcess(of int) bool {
	selfExeOnce.Do(func() { selfExe, _ = os.Readlink("/proc/self/exe") })
	exe, err := os.Readlink("/proc/" + strconv.Itoa(of) + "/exe")
	return err == nil && selfExe != "" && exe == selfExe
}

// fdDirFilter says whether the guest's fd is open on an fd directory of
// /proc, and if so which entries to leave out of its listings.
func (p *Process) fdDirFilter(fd int) func(int) bool {
	target, err := os.Readlink("/proc/thread-self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil
	}
	pf, ok := parseProcFD(target)
	if !ok || pf.fd >= 0 {
		return nil
	}
	return p.hiddenFDs(pf.pid)
}

// hostFDPath: path names a host fd's entry in /proc (ENOENT for the
// guest, as for a closed fd).
func (p *Process) hostFDPath(path string) bool {
	pf, ok := parseProcFD(path)
	if !ok || pf.fd < 0 {
		return false
	}
	hidden := p.hiddenFDs(pf.pid)
	return hidden != nil && hidden(pf.fd)
}

// filterDirents drops the entries whose names are numbers hidden says to
// hide from a getdents64 buffer.
func filterDirents(buf []byte, hidden func(int) bool) []byte {
	out := buf[:0:0]
	for off := 0; off+19 <= len(buf); {
		reclen := int(buf[off+16]) | int(buf[off+17])<<8
		if reclen == 0 || off+reclen > len(buf) {
			break
		}
		name := cstring(buf[off+19 : off+reclen])
		if n, err := strconv.Atoi(name); err != nil || !hidden(n) {
			out = append(out, buf[off:off+reclen]...)
		}
		off += reclen
	}
	return out
}

var errNoEntry = -int64(unix.ENOENT)
