package inprocess

import (
	"encoding/binary"
	"io"
	"os"
	"reflect"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tls"
)

// linkPair is the two ends of a vfork link: the child thread's vforkHost
// and the child host process's end, as StartVfork and awaitVfork hold them.
func linkPair(t *testing.T) (*vforkHost, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &vforkHost{link: os.NewFile(uintptr(fds[0]), "thread"), fd: fds[0]}
	host := os.NewFile(uintptr(fds[1]), "host")
	t.Cleanup(func() { h.Close(); host.Close() })
	return h, host
}

// readRequest is awaitVfork's reading of one request.
func readRequest(t *testing.T, f *os.File) (op uint64, arg int64) {
	t.Helper()
	var hdr [16]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(hdr[0:]), int64(binary.LittleEndian.Uint64(hdr[8:]))
}

func TestVforkRequestsAndReplies(t *testing.T) {
	h, host := linkPair(t)
	type req struct {
		op  uint64
		arg int64
	}
	got := make(chan req, 4)
	go func() {
		for i := 0; i < 2; i++ {
			op, arg := readRequest(t, host)
			got <- req{op, arg}
			// The raw results awaitVfork sends: a pid, then -EPERM.
			if op == vforkSetsid {
				reply(host, result(4321, nil))
			} else {
				reply(host, result(0, unix.EPERM))
			}
		}
	}()
	if r := h.Setsid(); r != 4321 {
		t.Errorf("Setsid = %d, want 4321", r)
	}
	if r := h.Setpgid(77); r != -int64(unix.EPERM) {
		t.Errorf("Setpgid = %d, want -EPERM", r)
	}
	if r := <-got; r != (req{vforkSetsid, 0}) {
		t.Errorf("first request %+v", r)
	}
	if r := <-got; r != (req{vforkSetpgid, 77}) {
		t.Errorf("second request %+v", r)
	}
	recorded := false
	record := func() { recorded = true }
	h.Exit(0x1ff, record) // the status's low byte, as exit(2)
	if op, arg := readRequest(t, host); op != vforkExit || arg != 0xff {
		t.Errorf("Exit sent %d %d", op, arg)
	}
	h.Die(int(unix.SIGSEGV), record)
	if recorded {
		t.Error("a vfork child's exit was recorded on its parent's thread")
	}
	if op, arg := readRequest(t, host); op != vforkDie || arg != int64(unix.SIGSEGV) {
		t.Errorf("Die sent %d %d", op, arg)
	}
}

// A host process that is gone answers nothing: the request is ESRCH, the
// kernel's answer for a process that no longer exists.
func TestVforkRequestToAGoneHostIsESRCH(t *testing.T) {
	h, host := linkPair(t)
	host.Close()
	if r := h.Setpgid(0); r != -int64(unix.ESRCH) {
		t.Errorf("Setpgid to a closed link = %d, want -ESRCH", r)
	}
}

func TestVforkExecHandsOverStateAndFDs(t *testing.T) {
	h, host := linkPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	st := &kernelsim.VforkExec{
		Path: "/bin/true", Argv: []string{"true"}, Envp: []string{"A=1"},
		FDs: []kernelsim.ForkFD{{Num: 5}}, Umask: 0o27, Mask: 1 << 9, Comm: "true", FDFloor: 40,
	}
	done := make(chan unix.Errno, 1)
	go func() { done <- h.exec(st, []int{int(w.Fd()), int(w.Fd())}, func() {}) }()
	op, size := readRequest(t, host)
	if op != vforkExec {
		t.Fatalf("request %d, want vforkExec", op)
	}
	got, fds, err := receiveExec(host, size, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if errno := <-done; errno != 0 {
		t.Errorf("Exec = %v", errno)
	}
	if !reflect.DeepEqual(got.Argv, st.Argv) || got.Path != st.Path || got.Umask != st.Umask || got.Mask != st.Mask || got.FDFloor != st.FDFloor {
		t.Errorf("exec state %+v, want %+v", got, st)
	}
	if len(fds) != 2 {
		t.Fatalf("%d fds, want 2 (the guest's one and the cwd)", len(fds))
	}
	for _, fd := range fds {
		if fd < 1200 {
			t.Errorf("received fd %d, want one above the host's base + 200 (1200)", fd)
		}
	}
	// The received fd is the pipe's write end.
	if _, err := unix.Write(fds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, err := r.Read(b); n != 1 || err != nil || b[0] != 'x' {
		t.Errorf("read %q, %v through the received fd", b[:n], err)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if _, _, err := receiveExec(host, 0, 1000); err == nil {
		t.Error("receiveExec took an empty state")
	}
}

// The fork child's --trap flag names the parent's mode.
func TestTrapName(t *testing.T) {
	if trapName(tls.TrapSUD) != "sud" || trapName(tls.TrapSeccomp) != "seccomp" {
		t.Errorf("trapName: %q, %q", trapName(tls.TrapSUD), trapName(tls.TrapSeccomp))
	}
}

// A vfork child's own fd table is the one FilesView shows: an fd its
// thread opens is there, and not in /proc/self's (its parent's).
func TestVforkFilesViewIsTheThreads(t *testing.T) {
	h := &vforkHost{}
	type seen struct {
		fd, tid    int
		own, other bool
		err        error
	}
	done := make(chan seen)
	platform{}.StartChildThread(func(err error) {
		if err != nil {
			done <- seen{err: err}
			return
		}
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			// A number the parent's table has nothing at.
			fd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 900)
		}
		if err != nil {
			done <- seen{err: err}
			return
		}
		name := strconv.Itoa(fd)
		_, errOwn := os.Lstat(h.FilesView("fd/" + name))
		_, errOther := os.Lstat("/proc/self/fd/" + name)
		unix.Close(fd)
		done <- seen{fd: fd, tid: unix.Gettid(), own: errOwn == nil, other: errOther == nil}
	})
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	if s.tid == unix.Getpid() {
		// Go ran it on the main thread, whose table /proc/self shows.
		t.Skip("the child's thread is the thread group leader")
	}
	if !s.own || s.other {
		t.Errorf("fd %d of the child's thread: in FilesView %v, in /proc/self/fd %v; want true, false", s.fd, s.own, s.other)
	}
}
