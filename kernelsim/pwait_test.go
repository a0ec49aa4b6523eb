package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

// ppoll, pselect6 and epoll_pwait with a signal mask: the mask is the
// guest's for the call, atomically — a signal it lets through that is
// already pending interrupts the call before it starts (EINTR, and the
// handler runs with the temporary mask, the old one saved for its frame,
// as Linux's sigsuspend-like restore); the checks are Linux's.
func TestPwaitTemporaryMask(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	usr1, usr2 := int(unix.SIGUSR1), int(unix.SIGUSR2)
	mask := uint64(guestMem)
	f.putU64(mask, bit(usr2))
	pwait := func(nr int, a ...uint64) int64 {
		task.CB.Nr = uint64(nr)
		return call(task, nr, a...)
	}
	for _, c := range []struct {
		name string
		nr   int
		a    []uint64
		want unix.Errno
	}{
		{"ppoll, a mask of 4 bytes", unix.SYS_PPOLL, []uint64{0, 0, 0, mask, 4}, unix.EINVAL},
		{"ppoll, a mask to nothing", unix.SYS_PPOLL, []uint64{0, 0, 0, 0x10, 8}, unix.EFAULT},
		{"epoll_pwait, a mask of 16 bytes", unix.SYS_EPOLL_PWAIT, []uint64{3, 0, 1, 0, mask, 16}, unix.EINVAL},
		{"pselect6, its mask argument to nothing", unix.SYS_PSELECT6, []uint64{0, 0, 0, 0, 0, 0x10}, unix.EFAULT},
	} {
		if r := pwait(c.nr, c.a...); r != neg(c.want) {
			t.Errorf("%s = %d, want %v", c.name, r, c.want)
		}
	}
	expectCalls(t, f)
	// No mask: the kernel's call as it came.
	pwait(unix.SYS_PPOLL, 0, 0, 0, 0, 8)
	expectCalls(t, f, fakeCall{unix.SYS_PPOLL, Args{0, 0, 0, 0, 8}})

	// A mask and nothing pending: the host call gets a host mask of its
	// own, and the guest's mask is as it was after.
	task.sigmask = bit(usr1)
	if r := pwait(unix.SYS_PPOLL, 0, 0, 0, mask, 8); r != 0 {
		t.Errorf("ppoll = %d", r)
	}
	if len(f.calls) != 1 || f.calls[0].a[3] == mask || f.calls[0].a[4] != 8 {
		t.Errorf("host calls %v: the guest's mask pointer is not the host's", f.calls)
	}
	f.calls = nil
	if task.sigmask != bit(usr1) || task.hasSavedMask {
		t.Errorf("after the call: mask %#x, saved %v", task.sigmask, task.hasSavedMask)
	}
	// SIGUSR1 pends, blocked; the temporary mask lets it through.
	task.P.sig.actions[usr1] = sigaction{handler: 0x401000}
	task.pending.add(usr1, userInfo(usr1, siUser))
	if r := pwait(unix.SYS_EPOLL_PWAIT, 3, guestMem+64, 1, ^uint64(0), mask, 8); r != neg(unix.EINTR) {
		t.Errorf("epoll_pwait with SIGUSR1 pending = %d, want EINTR", r)
	}
	expectCalls(t, f)
	if task.sigmask != bit(usr2) || !task.hasSavedMask || task.savedMask != bit(usr1) {
		t.Errorf("mask %#x, saved %v %#x: the handler runs under the temporary mask", task.sigmask, task.hasSavedMask, task.savedMask)
	}
	// Another thread took it before the delivery: back to the old mask.
	task.pending.take(usr1)
	if r := task.afterSyscall(task.CB, unix.SYS_EPOLL_PWAIT, &Args{}, neg(unix.EINTR)); r != neg(unix.EINTR) || task.sigmask != bit(usr1) || task.hasSavedMask {
		t.Errorf("afterSyscall = %d, mask %#x, saved %v", r, task.sigmask, task.hasSavedMask)
	}
	// pselect6's struct { sigset_t *ss; size_t ss_len; }.
	ss := uint64(guestMem + 128)
	f.putU64(ss, mask)
	f.putU64(ss+8, 8)
	if r := pwait(unix.SYS_PSELECT6, 0, 0, 0, 0, 0, ss); r != 0 || len(f.calls) != 1 || f.calls[0].a[5] == ss {
		t.Errorf("pselect6 = %d, host calls %v", r, f.calls)
	}
}
