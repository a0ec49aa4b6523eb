package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

// readable: poll says fd has data (a signalfd: a signal of its mask pends).
func readable(t *testing.T, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1 && fds[0].Revents&unix.POLLIN != 0
}

// hostReads is a fakeMachine's answer that makes its reads, and what it
// asks of an fd, on the host (realFiles too: its pipes are real).
func hostReads(nr int, a Args) int64 {
	if nr == unix.SYS_READ || nr == unix.SYS_FCNTL {
		return hostMachine{}.Syscall(nr, &a)
	}
	return 0
}

// A signalfd as Linux's: the checks of signalfd4, the fd's flags, reads
// that dequeue the mask's pending signals as signalfd_siginfo records
// (thread's first, lowest first), EAGAIN when none pends under
// SFD_NONBLOCK, poll readable exactly while one pends.
func TestSignalfd(t *testing.T) {
	task, _, f := mainFakeTask(t)
	f.ret = hostReads // a blocking read waits on the token's real pipe
	realFiles(f)
	p := task.P
	mask, buf := uint64(guestMem), uint64(guestMem+1024)
	usr1, usr2 := int(unix.SIGUSR1), int(unix.SIGUSR2)
	f.putU64(mask, bit(usr1)|bit(usr2)|unblockable)
	for _, c := range []struct {
		name string
		a    []uint64
		want unix.Errno
	}{
		{"a mask of 4 bytes", []uint64{^uint64(0), mask, 4, 0}, unix.EINVAL},
		{"an unknown flag", []uint64{^uint64(0), mask, 8, 1}, unix.EINVAL},
		{"a mask to nothing", []uint64{^uint64(0), 0x10, 8, 0}, unix.EFAULT},
		{"fd 0, not a signalfd", []uint64{0, mask, 8, 0}, unix.EINVAL},
		{"a closed fd", []uint64{999, mask, 8, 0}, unix.EBADF},
	} {
		if r := call(task, unix.SYS_SIGNALFD4, c.a...); r != neg(c.want) {
			t.Errorf("signalfd4(%s) = %d, want %v", c.name, r, c.want)
		}
	}
	r := call(task, unix.SYS_SIGNALFD4, ^uint64(0), mask, 8, unix.O_NONBLOCK|unix.O_CLOEXEC)
	if r < 0 {
		t.Fatalf("signalfd4 = %d", r)
	}
	fd := int(r)
	t.Cleanup(func() { p.closeSignalfd(fd); unix.Close(fd) })
	if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		t.Error("SFD_NONBLOCK: the fd blocks")
	}
	if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("SFD_CLOEXEC: the fd is inherited by exec")
	}
	if sf := p.sigfds[fd]; sf == nil || sf.mask != bit(usr1)|bit(usr2) {
		t.Fatalf("signalfd's mask: SIGKILL and SIGSTOP are dropped silently")
	}
	if r := call(task, unix.SYS_READ, uint64(fd), buf, 128); r != neg(unix.EAGAIN) {
		t.Errorf("read with nothing pending = %d, want EAGAIN", r)
	}
	if r := call(task, unix.SYS_READ, uint64(fd), buf, 127); r != neg(unix.EINVAL) {
		t.Errorf("read of 127 bytes = %d, want EINVAL", r)
	}
	if readable(t, fd) {
		t.Error("readable with nothing pending")
	}

	task.sigmask = bit(usr1) | bit(usr2)
	p.send(task, nil, usr2, valued(usr2, 5))
	p.send(task, task, usr1, userInfo(usr1, siTkill))
	if !readable(t, fd) {
		t.Fatal("not readable with SIGUSR1 and SIGUSR2 pending")
	}
	// sigpending still shows them: the signals stay the guest's.
	if got := pendingOf(t, task, f); got != bit(usr1)|bit(usr2) {
		t.Errorf("rt_sigpending %#x while the signalfd holds them", got)
	}
	if r := call(task, unix.SYS_READ, uint64(fd), buf, 128*3); r != 256 {
		t.Fatalf("read = %d, want two records", r)
	}
	rec := f.mem[guestMem][1024:]
	if signo, code, spid := le32(rec[0:]), int32(le32(rec[8:])), le32(rec[12:]); signo != uint32(usr1) || code != siTkill || int(spid) != pid {
		t.Errorf("first record: signo %d code %d pid %d; want the thread's SIGUSR1 by tkill", signo, code, spid)
	}
	if signo, code, val := le32(rec[128:]), int32(le32(rec[136:])), le32(rec[128+44:]); signo != uint32(usr2) || code != -1 || val != 5 {
		t.Errorf("second record: signo %d code %d ssi_int %d", signo, code, val)
	}
	if p.sig.pending.mask|task.pending.mask != 0 || readable(t, fd) {
		t.Error("the read left signals pending, or the fd readable")
	}

	// A new mask through the same fd; readv scatters the record.
	f.putU64(mask, bit(40))
	if r := call(task, unix.SYS_SIGNALFD, uint64(fd), mask, 8); r != int64(fd) {
		t.Errorf("signalfd(fd, new mask) = %d, want the fd", r)
	}
	p.send(task, nil, usr1, userInfo(usr1, siUser))
	if readable(t, fd) {
		t.Error("readable for a signal outside the new mask")
	}
	p.send(task, nil, 40, valued(40, 8))
	iov := uint64(guestMem + 256)
	f.putU64(iov, buf)
	f.putU64(iov+8, 100)
	f.putU64(iov+16, buf+512)
	f.putU64(iov+24, 100)
	clear(f.mem[guestMem][1024:])
	for i := 512; i < 612; i++ {
		rec[i] = 0xff
	}
	if r := call(task, unix.SYS_READV, uint64(fd), iov, 2); r != 128 {
		t.Fatalf("readv = %d", r)
	}
	if le32(rec[0:]) != 40 || le32(rec[44:]) != 8 {
		t.Errorf("readv: signo %d, ssi_int %d", le32(rec[0:]), le32(rec[44:]))
	}
	if rec[512] != 0 || rec[512+27] != 0 || rec[512+28] != 0xff {
		t.Errorf("the record's last 28 bytes are not at the second buffer's start: % x", rec[512:512+32])
	}
	if r := call(task, unix.SYS_READV, uint64(fd), iov, 1025); r != neg(unix.EINVAL) {
		t.Errorf("readv of 1025 buffers = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_READV, uint64(fd), 0x10, 1); r != neg(unix.EFAULT) {
		t.Errorf("readv of an iovec to nothing = %d, want EFAULT", r)
	}
	if p.sig.pending.mask != bit(usr1) {
		t.Errorf("pending %#x: SIGUSR1 was outside the mask", p.sig.pending.mask)
	}

	// Closed, the number is no signalfd any more.
	f.calls = nil
	if r := call(task, unix.SYS_CLOSE, uint64(fd)); r != 0 {
		t.Errorf("close = %d", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_CLOSE, Args{uint64(fd)}})
	if p.sigfds[fd] != nil {
		t.Error("a closed signalfd is still known")
	}
}
