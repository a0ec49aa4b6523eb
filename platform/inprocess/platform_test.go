package inprocess

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/vaspace"
)

// A vfork child's exec hands over the calling thread's own fd table (each
// fd at its number, its close-on-exec flag kept), its umask and its cwd
// (the last fd).
func TestVforkExecTakesTheThreadsFDsCwdAndUmask(t *testing.T) {
	h, host := linkPair(t)
	r, w, err := os.Pipe() // close-on-exec, as os opens everything
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := unix.FcntlInt(r.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	old := unix.Umask(0o27)
	defer unix.Umask(old)
	done := make(chan unix.Errno, 1)
	sending := make(chan struct{})
	go func() { done <- h.Exec(&kernelsim.VforkExec{Path: "/bin/true"}, func() { close(sending) }) }()
	op, size := readRequest(t, host)
	if op != vforkExec {
		t.Fatalf("request %d, want vforkExec", op)
	}
	select {
	case <-sending: // before the request: the execve's trace record goes first
	default:
		t.Fatal("Exec sent its request before it called sending")
	}
	got, fds, err := receiveExec(host, size, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if errno := <-done; errno != 0 {
		t.Fatalf("Exec = %v", errno)
	}
	if got.Umask != 0o27 || unix.Umask(0o27) != 0o27 {
		t.Errorf("umask %#o handed over, want 0o27 (and kept)", got.Umask)
	}
	found := map[int]bool{}
	for _, f := range got.FDs {
		switch f.Num {
		case int(r.Fd()):
			found[f.Num] = !f.Cloexec
		case int(w.Fd()):
			found[f.Num] = f.Cloexec
		}
	}
	if !found[int(r.Fd())] || !found[int(w.Fd())] {
		t.Errorf("fds %+v: want %d without close-on-exec and %d with it", got.FDs, r.Fd(), w.Fd())
	}
	var cwd, dot unix.Stat_t
	if err := unix.Fstat(fds[len(fds)-1], &cwd); err != nil || unix.Stat(".", &dot) != nil || cwd.Ino != dot.Ino {
		t.Errorf("the last fd is not the cwd (%v)", err)
	}
}

// The child's host process as its thread asks about it: its group and
// session, its end (Wait), and its stop by SIGSTOP, whatever the signal.
func TestVforkHostOfALiveProcess(t *testing.T) {
	// In our group: a child that moved to a group of its own as it
	// started could be taken, by kernelsim's tests running beside these,
	// for a member of their group that is not one.
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	child := cmd.Process.Pid
	h := &vforkHost{pid: child, fdBase: 1000}
	sid, _ := unix.Getsid(0)
	if g, s := h.Getpgid(), h.Getsid(); g != int64(unix.Getpgrp()) || s != int64(sid) {
		t.Errorf("Getpgid %d, Getsid %d, want %d and %d", g, s, unix.Getpgrp(), sid)
	}
	if h.Stop(int(unix.SIGTSTP)) {
		t.Error("a vfork child's stop says its thread was continued")
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(child, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() || ws.StopSignal() != unix.SIGSTOP {
		t.Errorf("after Stop: %v, status %#x, want stopped by SIGSTOP", err, uint32(ws))
	}
	waited := make(chan struct{})
	go func() { h.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while the process lives")
	case <-time.After(50 * time.Millisecond):
	}
	unix.Kill(child, unix.SIGKILL)
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return when the process ended")
	}
	cmd.Wait()
	if g := h.Getpgid(); g != -int64(unix.ESRCH) {
		t.Errorf("Getpgid of a process gone = %d, want -ESRCH", g)
	}
	h.Wait() // gone already: returns at once
}

// ThreadMask is the calling OS thread's own mask.
func TestThreadMaskIsTheThreads(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pl platform
	usr2 := uint64(1) << (unix.SIGUSR2 - 1)
	old, e := pl.ThreadMask(unix.SIG_BLOCK, usr2)
	if e != 0 {
		t.Fatal(e)
	}
	now, _ := pl.ThreadMask(unix.SIG_SETMASK, old)
	if now != old|usr2 {
		t.Errorf("mask %#x after blocking SIGUSR2, want %#x", now, old|usr2)
	}
	if back, _ := pl.ThreadMask(unix.SIG_BLOCK, 0); back != old {
		t.Errorf("mask %#x after restoring, want %#x", back, old)
	}
	if _, e := pl.ThreadMask(99, 0); e != unix.EINVAL {
		t.Errorf("ThreadMask(99) = %v, want EINVAL", e)
	}
}

// Reserve places the guest's memory in vaspace's window.
func TestReserveIsInTheGuestsWindow(t *testing.T) {
	var pl platform
	at, e := pl.Reserve(0x3000, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, at, 0x3000, 0)
	if !vaspace.In(uint64(at), 0x3000) {
		t.Errorf("reserved at %#x, outside [%#x, %#x)", at, vaspace.Lo, vaspace.Hi)
	}
}

// TokenPipe: the guest's read end with the flags asked, the host's ends
// above the host's fd base; readable exactly while the token is in, and
// Take never blocks, whatever the guest's end's flags.
func TestTokenPipe(t *testing.T) {
	pl := platform{fdBase: 100}
	for _, c := range []struct{ nonblock, cloexec bool }{{false, false}, {true, true}} {
		fd, tok, err := pl.TokenPipe(c.nonblock, c.cloexec)
		if err != nil {
			t.Fatal(err)
		}
		fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if fl&unix.O_NONBLOCK != 0 != c.nonblock || fdfl&unix.FD_CLOEXEC != 0 != c.cloexec {
			t.Errorf("%+v: flags %#x, fd flags %#x", c, fl, fdfl)
		}
		if h := tok.(token); h.write < 500 || h.drain < 500 {
			t.Errorf("host ends %d, %d: below the host's base + 400", h.write, h.drain)
		}
		readable := func() bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(fds, 0)
			return n == 1
		}
		if readable() {
			t.Errorf("%+v: readable before Put", c)
		}
		tok.Put()
		if !readable() {
			t.Errorf("%+v: not readable after Put", c)
		}
		tok.Take()
		if readable() {
			t.Errorf("%+v: readable after Take", c)
		}
		tok.Take() // empty: returns
		tok.Close()
		unix.Close(fd)
	}
}

// A host process's first guest thread raises GOMAXPROCS to threadProcs,
// so that guest threads in guest code leave Ps idle (thread.go).
func TestStartThreadRaisesGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	threadProcsOnce = sync.Once{}
	t.Cleanup(func() {
		runtime.GOMAXPROCS(old)
		threadProcsOnce = sync.Once{}
	})
	ran := make(chan struct{})
	platform{}.StartThread(func() { close(ran) })
	<-ran
	if n := runtime.GOMAXPROCS(0); n != threadProcs {
		t.Errorf("GOMAXPROCS %d after the first thread, want %d", n, threadProcs)
	}
}

// After growStack a guest thread's goroutine calls 16 KiB deep without its
// stack being copied: a local keeps its address (a copy moves every frame).
func TestGrowStackGrowsTheStackOnce(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no GC shrinks the stack meanwhile
	moved := make(chan bool)
	go func() {
		growStack(0)
		var x byte
		before := uintptr(unsafe.Pointer(&x))
		deepFrames(16)
		moved <- uintptr(unsafe.Pointer(&x)) != before
	}()
	if <-moved {
		t.Error("the stack was copied after growStack")
	}
}

// deepFrames uses n KiB of stack.
//
//go:noinline
func deepFrames(n int) byte {
	var b [1 << 10]byte
	b[n] = byte(n)
	if n == 0 {
		return b[0]
	}
	return deepFrames(n-1) + b[n]
}
