package ptrace

// /proc/PID/{status,stat} of a process of the run, on the ptrace
// platform. The guest runs natively, so the kernel's files are right but
// for what the tracer itself puts there: TracerPid, the seccomp filter
// with its no_new_privs, and the ptrace stops (state "t"). An open of one
// (every spelling: self, thread-self, the pid, task/TID, relative to a
// dirfd or the cwd) is turned, at its seccomp stop, into an open of a
// memfd of the tracer's through /proc/TRACER/fd/N holding the file as a
// native run shows it (kernelsim.TracedView), as the in-process platform
// opens a memfd of the guest's view: a new open file, read from offset 0,
// at the number the kernel gives. The arguments come back at the exit.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
)

// atFDCWD is AT_FDCWD as a register holds it.
var atFDCWD = uint64(0xffffffffffffff9c)

// procOpen is an open the tracer redirected: the argument registers to
// put back at its exit, and the memfd to close then.
type procOpen struct {
	rdi, rsi, rdx uint64
	memfd         int
}

// openArgs are the path, dirfd and flags of an open, openat or openat2
// (ok=false: none, or an openat2 whose resolve flags the redirection would
// change).
func openArgs(tid int, nr uint64, regs *unix.PtraceRegs) (dirfd int, pathAddr, flags uint64, ok bool) {
	switch nr {
	case unix.SYS_OPEN:
		return unix.AT_FDCWD, regs.Rdi, regs.Rsi, true
	case unix.SYS_OPENAT:
		return int(int32(regs.Rdi)), regs.Rsi, regs.Rdx, true
	case unix.SYS_OPENAT2:
		if regs.R10 < 24 {
			return 0, 0, 0, false
		}
		var how [24]byte
		if readMem(tid, regs.Rdx, how[:]) != nil {
			return 0, 0, 0, false
		}
		fl, resolve := binary.LittleEndian.Uint64(how[0:]), binary.LittleEndian.Uint64(how[16:])
		if resolve != 0 || fl&unix.O_NOFOLLOW != 0 {
			return 0, 0, 0, false
		}
		return int(int32(regs.Rdi)), regs.Rsi, fl, true
	}
	return 0, 0, 0, false
}

// readPath reads a NUL-terminated path of at most 4096 bytes.
func readPath(tid int, addr uint64) (string, bool) {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < 4096 {
		// Never across a page: the next one may not be mapped.
		n := 256 - int(addr%256)
		if err := readMem(tid, addr, buf[:n]); err != nil {
			return "", false
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), true
		}
		out = append(out, buf[:n]...)
		addr += uint64(n)
	}
	return "", false
}

// tracedProcFile is what path (opened by th relative to dirfd) names
// lexically, when it is the status or stat of a thread of the run:
// the real file's name for the tracer, the file ("status", "stat") and
// the thread (its process's pid for /proc/PID/...).
func (r *tracer) tracedProcFile(th *tracedThread, dirfd int, path string) (real, file string, tid int, ok bool) {
	base := filepath.Base(path)
	if base != "status" && base != "stat" {
		return "", "", 0, false
	}
	if !filepath.IsAbs(path) {
		link := fmt.Sprintf("/proc/%d/cwd", th.tid)
		if dirfd != unix.AT_FDCWD {
			link = fmt.Sprintf("/proc/%d/fd/%d", th.tid, dirfd)
		}
		dir, err := os.Readlink(link)
		if err != nil || !strings.HasPrefix(dir, "/proc") {
			return "", "", 0, false
		}
		path = dir + "/" + path
	}
	rest, ok := strings.CutPrefix(filepath.Clean(path), "/proc/")
	if !ok {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "/")
	switch parts[0] {
	case "self":
		parts[0] = strconv.Itoa(th.proc.pid)
	case "thread-self":
		parts = append([]string{strconv.Itoa(th.proc.pid), "task", strconv.Itoa(th.tid)}, parts[1:]...)
	}
	switch {
	case len(parts) == 2:
	case len(parts) == 4 && parts[1] == "task":
	default:
		return "", "", 0, false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "task" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || !r.ofRun(n) {
			return "", "", 0, false
		}
		tid = n
	}
	return "/proc/" + strings.Join(parts, "/"), base, tid, true
}

// ofRun: id is a traced thread or process of the run (a child whose
// fork event came and that has not stopped yet too).
func (r *tracer) ofRun(id int) bool {
	return r.threads[id] != nil || r.procs[id] != nil || r.expected[id] != nil
}

// redirectProcOpen is the seccomp stop of th's open nr, with regs; it
// turns an open of a traced process's status or stat into the open of
// its native view.
func (r *tracer) redirectProcOpen(th *tracedThread, nr uint64, regs *unix.PtraceRegs) error {
	dirfd, pathAddr, flags, ok := openArgs(th.tid, nr, regs)
	if !ok || flags&unix.O_ACCMODE != unix.O_RDONLY ||
		flags&(unix.O_PATH|unix.O_DIRECTORY|unix.O_CREAT|unix.O_TRUNC|unix.O_TMPFILE) != 0 {
		return nil
	}
	path, ok := readPath(th.tid, pathAddr)
	if !ok {
		return nil
	}
	real, file, tid, ok := r.tracedProcFile(th, dirfd, path)
	if !ok {
		return nil
	}
	host, err := os.ReadFile(real)
	if err != nil {
		return nil // the kernel answers (ENOENT for a thread gone)
	}
	p := th.proc
	if t := r.threads[tid]; t != nil {
		p = t.proc
	} else if q := r.procs[tid]; q != nil {
		p = q
	} else if q := r.expected[tid]; q != nil {
		p = q // not born yet: its parent's flags are its own
	}
	content := kernelsim.TracedView(file, host, r.conf, p.noNewPrivs, r.held[tid])
	fd, err := unix.MemfdCreate("vsysbed-proc", unix.MFD_CLOEXEC)
	if err != nil {
		return nil
	}
	if _, err := unix.Write(fd, content); err != nil {
		unix.Close(fd)
		return nil
	}
	name := append([]byte(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)), 0)
	// Below the red zone: nothing of the guest's lives there.
	addr := (regs.Rsp - 128 - uint64(len(name))) &^ 15
	if writeMem(th.tid, addr, name) != nil {
		unix.Close(fd)
		return nil
	}
	th.procOpen = &procOpen{rdi: regs.Rdi, rsi: regs.Rsi, rdx: regs.Rdx, memfd: fd}
	// The tracer's fd is a magic link: O_NOFOLLOW would refuse it.
	switch nr {
	case unix.SYS_OPEN:
		regs.Rdi, regs.Rsi = addr, flags&^unix.O_NOFOLLOW
	case unix.SYS_OPENAT:
		regs.Rdi, regs.Rsi, regs.Rdx = atFDCWD, addr, flags&^unix.O_NOFOLLOW
	case unix.SYS_OPENAT2:
		regs.Rdi, regs.Rsi = atFDCWD, addr
	}
	if err := unix.PtraceSetRegs(th.tid, regs); err != nil {
		r.endProcOpen(th, nil)
		return ignoreGone(err)
	}
	return nil
}

// endProcOpen is the exit stop of a redirected open: the guest's
// arguments back in regs (set by the caller), the memfd closed.
func (r *tracer) endProcOpen(th *tracedThread, regs *unix.PtraceRegs) {
	po := th.procOpen
	th.procOpen = nil
	if po == nil {
		return
	}
	unix.Close(po.memfd)
	if regs != nil {
		regs.Rdi, regs.Rsi, regs.Rdx = po.rdi, po.rsi, po.rdx
	}
}

// noteNoNewPrivs answers PR_SET_NO_NEW_PRIVS and PR_GET_NO_NEW_PRIVS with
// the guest's own flag (the tracer's filter needed the real one set), as
// the in-process kernelsim does: ok=false for other prctl options.
func (r *tracer) noNewPrivs(th *tracedThread, a kernelsim.Args) (int64, bool) {
	const prSetNoNewPrivs, prGetNoNewPrivs = 38, 39
	switch a[0] {
	case prSetNoNewPrivs:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -int64(unix.EINVAL), true
		}
		th.proc.noNewPrivs = true
		return 0, true
	case prGetNoNewPrivs:
		if a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return -int64(unix.EINVAL), true
		}
		if th.proc.noNewPrivs || r.conf.NoNewPrivs == "1" {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
