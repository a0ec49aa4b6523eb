package kernelsim

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vaspace"
)

// fakePlatform is a Platform without host threads or processes: what the
// handlers ask of it is logged. Exit, Die and Stop return (the real ones
// end or stop the process); Reserve is vaspace's own, since the tests that
// attach System V segments need a real reservation.
type fakePlatform struct {
	log       []string
	mask      uint64 // the "host thread's" mask ThreadMask changes
	maskErr   unix.Errno
	reserve   func(length uintptr) (uintptr, unix.Errno) // nil: vaspace.Map
	continued bool                                       // Stop's answer
	files     []string                                   // ProcFile's contents
	procErr   unix.Errno                                 // ProcFile's error
	memErr    unix.Errno                                 // MemFile's error
}

func (f *fakePlatform) logf(format string, a ...any) {
	f.log = append(f.log, fmt.Sprintf(format, a...))
}

func (f *fakePlatform) StartThread(func())                                 { f.logf("StartThread") }
func (f *fakePlatform) Enter(*cblock.ControlBlock, func(), *os.File) error { return unix.ENOSYS }
func (f *fakePlatform) Release(*cblock.ControlBlock) bool                  { return true }
func (f *fakePlatform) StartProcess() (int, *os.File, unix.Errno)          { return 0, nil, unix.EAGAIN }
func (f *fakePlatform) StartVfork() (int, VforkHost, unix.Errno)           { return 0, nil, unix.EAGAIN }
func (f *fakePlatform) StartChildThread(func(error))                       { f.logf("StartChildThread") }

func (f *fakePlatform) Exit(code int, record func()) {
	f.logf("Exit %d", code)
	record()
}

func (f *fakePlatform) Die(sig int, record func()) {
	f.logf("Die %d", sig)
	record()
}

func (f *fakePlatform) Stop(sig int) bool {
	f.logf("Stop %d", sig)
	return f.continued
}

func (f *fakePlatform) ThreadMask(how int, set uint64) (uint64, unix.Errno) {
	f.logf("ThreadMask %d %#x", how, set)
	if f.maskErr != 0 {
		return 0, f.maskErr
	}
	old := f.mask
	switch how {
	case unix.SIG_BLOCK:
		f.mask |= set
	case unix.SIG_SETMASK:
		f.mask = set
	}
	return old, 0
}

func (f *fakePlatform) Reserve(length uintptr, prot, flags, fd int, off uint64) (uintptr, unix.Errno) {
	f.logf("Reserve %#x", length)
	if f.reserve != nil {
		return f.reserve(length)
	}
	return vaspace.Map(length, prot, flags, fd, off)
}

// ProcFile is a real memfd (the /proc tests read it back); its content is
// logged too.
func (f *fakePlatform) ProcFile(content []byte, cloexec bool) (int, unix.Errno) {
	f.files = append(f.files, string(content))
	if f.procErr != 0 {
		return -1, f.procErr
	}
	flags := 0
	if cloexec {
		flags = unix.MFD_CLOEXEC
	}
	fd, err := unix.MemfdCreate("fake-proc", flags)
	if err != nil {
		return -1, err.(unix.Errno)
	}
	unix.Write(fd, content)
	unix.Seek(fd, 0, 0)
	return fd, 0
}

func (f *fakePlatform) CopyToChild(pid int, addr uint64, n int, prot int) error {
	f.logf("CopyToChild %d %#x+%#x", pid, addr, n)
	return nil
}

// platformOf is the fake platform of a fakeTask's process.
func platformOf(t *Task) *fakePlatform { return t.P.plat.(*fakePlatform) }

func expectLog(t *testing.T, f *fakePlatform, want ...string) {
	t.Helper()
	if fmt.Sprint(f.log) != fmt.Sprint(want) {
		t.Errorf("platform calls %q, want %q", f.log, want)
	}
	f.log = nil
}

// fakeVforkHost is a vfork child's host process without one.
type fakeVforkHost struct {
	log  []string
	pgid int64
	exec *VforkExec
	gone chan struct{}
	// sending: called where the real one is about to send the exec
	// request (and so the new image may start).
	sending func()
}

func (h *fakeVforkHost) logf(format string, a ...any) {
	h.log = append(h.log, fmt.Sprintf(format, a...))
}

// Exit and Die do not record: the child's host process records its own.
func (h *fakeVforkHost) Exit(code int, _ func()) { h.logf("Exit %d", code) }
func (h *fakeVforkHost) Die(sig int, _ func())   { h.logf("Die %d", sig) }
func (h *fakeVforkHost) Stop(sig int) bool       { h.logf("Stop %d", sig); return false }
func (h *fakeVforkHost) Setsid() int64           { h.logf("Setsid"); return 4242 }
func (h *fakeVforkHost) Setpgid(pgid int64) int64 {
	h.logf("Setpgid %d", pgid)
	h.pgid = pgid
	return 0
}
func (h *fakeVforkHost) Getpgid() int64 { return h.pgid }
func (h *fakeVforkHost) Getsid() int64  { return 4242 }
func (h *fakeVforkHost) Exec(st *VforkExec, sending func()) unix.Errno {
	sending()
	if h.sending != nil {
		h.sending()
	}
	h.logf("Exec %s", st.Path)
	h.exec = st
	return 0
}
func (h *fakeVforkHost) Wait() {
	if h.gone != nil {
		<-h.gone
	}
}
func (h *fakeVforkHost) Close() {}

func (h *fakeVforkHost) FilesView(rest string) string { return "/fake/thread/" + rest }

func fmtList[T any](l []T) string { return fmt.Sprint(l) }

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

// TokenPipe is a real pipe (the signalfd tests poll its read end); the
// token is taken from the read end itself, which holds the byte whenever
// Take is called.
func (f *fakePlatform) TokenPipe(nonblock, cloexec bool) (int, Token, error) {
	var fds [2]int
	flags := 0
	if cloexec {
		flags = unix.O_CLOEXEC
	}
	if err := unix.Pipe2(fds[:], flags); err != nil {
		return -1, nil, err
	}
	unix.SetNonblock(fds[0], nonblock)
	f.logf("TokenPipe")
	return fds[0], fakeToken{f, fds[0], fds[1]}, nil
}

type fakeToken struct {
	f    *fakePlatform
	r, w int
}

func (t fakeToken) Put() {
	t.f.logf("Put")
	unix.Write(t.w, []byte{1})
}

func (t fakeToken) Take() {
	t.f.logf("Take")
	var b [1]byte
	unix.Read(t.r, b[:])
}

func (t fakeToken) Close() {
	t.f.logf("Close")
	unix.Close(t.w)
}

// MemFile is a real memfd (the shared mappings' tests look at its inode),
// logged; memErr fails it instead.
func (f *fakePlatform) MemFile(name string, size uint64) (int, unix.Errno) {
	f.logf("MemFile %s %#x", name, size)
	if f.memErr != 0 {
		return -1, f.memErr
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, err.(unix.Errno)
	}
	unix.Ftruncate(fd, int64(size))
	return fd, 0
}
