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
	selfExeOnce.Do(func() { selfExe, _ = os.Readlink("/proc/self/exe") }) // as isHostExe's
	exe, err := readlinkHost("/proc/" + strconv.Itoa(of) + "/exe")
	return err == nil && selfExe != "" && exe == selfExe
}

// fdDirFilter says whether the guest's fd is open on an fd directory of
// /proc, and if so which entries to leave out of its listings.
func (p *Process) fdDirFilter(fd int) func(int) bool {
	target, err := fdLink(fd)
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
	if p.hostMapFile(path) {
		return true
	}
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
	return filterDirentNames(buf, func(name string) bool {
		n, err := strconv.Atoi(name)
		return err == nil && hidden(n)
	})
}

// filterDirentNames drops the entries hidden says to by name.
func filterDirentNames(buf []byte, hidden func(string) bool) []byte {
	out := buf[:0:0]
	for off := 0; off+19 <= len(buf); {
		reclen := int(buf[off+16]) | int(buf[off+17])<<8
		if reclen == 0 || off+reclen > len(buf) {
			break
		}
		if !hidden(cstring(buf[off+19 : off+reclen])) {
			out = append(out, buf[off:off+reclen]...)
		}
		off += reclen
	}
	return out
}

// mapFilesDirFilter: fd is open on this process's map_files directory;
// the entries that are not the guest's ranges are left out of its
// listings (nil: another directory).
func (p *Process) mapFilesDirFilter(fd int) func(string) bool {
	target, err := readlinkHost("/proc/thread-self/fd/" + strconv.Itoa(fd))
	if err != nil || target != "/proc/"+strconv.Itoa(pid)+"/map_files" {
		return nil
	}
	return func(name string) bool {
		return name != "." && name != ".." && p.hostMapFile(target+"/"+name)
	}
}

var errNoEntry = -int64(unix.ENOENT)

// hostMapFile: path names an entry of this process's /proc map_files (a
// link to the file behind a mapping, by its range) that is not the
// guest's: the host's binary, libraries or shard files, which the guest
// could otherwise open (as root) and write. ENOENT, as for a range
// nothing is mapped at. Another process's map_files is left to the
// kernel.
func (p *Process) hostMapFile(path string) bool {
	of, start, end, ok := parseMapFiles(path)
	if !ok || of != pid {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.vmas.covers(start, end)
}

// parseMapFiles parses /proc/{self,thread-self,PID}/map_files/START-END
// (hex, as the kernel names them).
func parseMapFiles(path string) (of int, start, end uint64, ok bool) {
	rest, found := strings.CutPrefix(filepath.Clean(path), "/proc/")
	if !found {
		return 0, 0, 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] != "map_files" {
		return 0, 0, 0, false
	}
	switch parts[0] {
	case "self", "thread-self":
		of = pid
	default:
		n, err := strconv.Atoi(parts[0])
		if err != nil {
			return 0, 0, 0, false
		}
		of = n
	}
	lo, hi, found := strings.Cut(parts[2], "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2 error
	start, err1 = strconv.ParseUint(lo, 16, 64)
	end, err2 = strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || start >= end {
		return 0, 0, 0, false
	}
	return of, start, end, true
}
