package kernelsim

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vaspace"
)

// personality(2): the old value back, 0xffffffff only asks; the
// guest's own, which /proc/self/personality shows ("%08x\n").
func TestPersonality(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	hostOpens(t, f)
	const addrNoRandomize = 0x0040000
	if r := call(task, unix.SYS_PERSONALITY, 0xffffffff); r != 0 {
		t.Errorf("personality(query) = %#x, want 0", r)
	}
	if r := call(task, unix.SYS_PERSONALITY, addrNoRandomize); r != 0 {
		t.Errorf("personality(ADDR_NO_RANDOMIZE) = %#x, want the old 0", r)
	}
	if r := call(task, unix.SYS_PERSONALITY, 0xffffffff); r != addrNoRandomize {
		t.Errorf("personality(query) = %#x, want %#x", r, addrNoRandomize)
	}
	f.WriteMem(guestMem, []byte("/proc/self/personality\x00"))
	if got := readFD(t, call(task, unix.SYS_OPEN, guestMem, unix.O_RDONLY)); got != "00040000\n" {
		t.Errorf("/proc/self/personality reads %q", got)
	}
	for _, c := range f.calls {
		if c.nr == unix.SYS_PERSONALITY {
			t.Errorf("the host's personality was asked: %v", c)
		}
	}
}

// SCM_RIGHTS of a host fd fails as a closed fd's does (EBADF);
// sendmmsg sends the messages before a failing one.
func TestSendmsgOfAHostFD(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	msg := func(at uint64, fd uint32) {
		ctl := at + 64
		f.putU64(at+32, ctl) // msg_control
		f.putU64(at+40, 24)  // msg_controllen: CMSG_LEN(4) rounded
		f.putU64(ctl, 20)    // cmsg_len
		b := f.mem[guestMem][ctl-guestMem:]
		put32(b[8:], unix.SOL_SOCKET)
		put32(b[12:], unix.SCM_RIGHTS)
		put32(b[16:], fd)
	}
	m1, m2 := uint64(guestMem), uint64(guestMem+512)
	msg(m1, 1)
	msg(m2, 1001)
	if r := call(task, unix.SYS_SENDMSG, 3, m2, 0); r != neg(unix.EBADF) {
		t.Errorf("sendmsg of host fd 1001 = %d, want EBADF", r)
	}
	expectCalls(t, f)
	call(task, unix.SYS_SENDMSG, 3, m1, 0)
	expectCalls(t, f, fakeCall{unix.SYS_SENDMSG, Args{3, m1, 0}})
	// Two mmsghdrs, the second passing a host fd: the first alone goes.
	vec := uint64(guestMem + 1024)
	msg(vec, 1)
	msg(vec+mmsghdrSize, 1001) // its control data overwrote the first's
	f.putU64(vec+32, vec+2048)
	f.WriteMem(vec+2048, f.mem[guestMem][m1+64-guestMem:m1+64+24-guestMem])
	call(task, unix.SYS_SENDMMSG, 3, vec, 2, 0)
	expectCalls(t, f, fakeCall{unix.SYS_SENDMMSG, Args{3, vec, 1, 0}})
	if r := call(task, unix.SYS_SENDMMSG, 3, m2, 1, 0); r != neg(unix.EBADF) {
		t.Errorf("sendmmsg whose first message passes a host fd = %d, want EBADF", r)
	}
	// A header the kernel cannot read is its EFAULT to give.
	call(task, unix.SYS_SENDMSG, 3, 0x10, 0)
	expectCalls(t, f, fakeCall{unix.SYS_SENDMSG, Args{3, 0x10, 0}})
}

// timer_getoverrun answers the overrun as of the timer signal's last
// dequeue: expiries while its signal pended add to it.
func TestTimerOverrunIsTheGuestsDequeue(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	const id = 77
	ev, idAt := uint64(guestMem), uint64(guestMem+64)
	put32(f.mem[guestMem][12:], sigevThreadID)
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_TIMER_CREATE {
			put32(f.mem[guestMem][a[2]-guestMem:], id)
		}
		return 0
	}
	if r := call(task, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, ev, idAt); r != 0 {
		t.Fatalf("timer_create = %d", r)
	}
	timer := func(overrun uint32) siginfo {
		var si siginfo
		put32(si[0:], 40)
		put32(si[8:], uint32(0xfffffffe)) // SI_TIMER
		put32(si[16:], id)
		put32(si[20:], overrun)
		return si
	}
	if !isThreadTimer(timer(0)) {
		t.Error("a SIGEV_THREAD_ID timer is not recorded as one")
	}
	for range 3 {
		task.pending.add(40, timer(0))
	}
	if len(task.pending.infos[40]) != 1 {
		t.Fatalf("%d records queued: a timer has one signal", len(task.pending.infos[40]))
	}
	task.pending.take(40)
	if r := call(task, unix.SYS_TIMER_GETOVERRUN, id); r != 2 {
		t.Errorf("timer_getoverrun = %d, want the 2 expiries while it pended", r)
	}
	// The kernel says it is no timer (any more): its EINVAL.
	f.ret = func(int, Args) int64 { return neg(unix.EINVAL) }
	if r := call(task, unix.SYS_TIMER_GETOVERRUN, id); r != neg(unix.EINVAL) {
		t.Errorf("timer_getoverrun of a deleted timer = %d", r)
	}
	f.ret = nil
	call(task, unix.SYS_TIMER_DELETE, id)
	if isThreadTimer(timer(0)) {
		t.Error("a deleted timer is still recorded")
	}
	f.calls = nil
	call(task, unix.SYS_TIMER_GETOVERRUN, id)
	expectCalls(t, f, fakeCall{unix.SYS_TIMER_GETOVERRUN, Args{id}})
}

// mremap grows in place if it can; with MREMAP_MAYMOVE it moves into the
// guest's window (the kernel would choose host memory).
func TestMremapMovesIntoTheGuestsWindow(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x12000}}, [2]uint64{})
	f.ret = func(nr int, a Args) int64 {
		switch {
		case nr == unix.SYS_MREMAP && a[3]&unix.MREMAP_FIXED == 0:
			return neg(unix.ENOMEM) // no room to grow in place
		case nr == unix.SYS_MREMAP:
			return int64(a[4])
		case nr == unix.SYS_MUNMAP:
			return hostMachine{}.Syscall(nr, &a)
		}
		return 0
	}
	r := call(task, unix.SYS_MREMAP, 0x10000, 0x2000, 0x4000, unix.MREMAP_MAYMOVE)
	if r < 0 || !vaspace.In(uint64(r), 0x4000) {
		t.Fatalf("mremap = %#x, want a place in the guest's window", r)
	}
	if len(f.calls) != 2 || f.calls[0].a[3] != 0 || f.calls[1].a[3] != unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED {
		t.Errorf("host calls %v: in place, then MREMAP_FIXED to the reservation", f.calls)
	}
	p := task.P
	if p.vmas.covers(0x10000, 0x11000) || !p.vmas.covers(uint64(r), uint64(r)+0x4000) {
		t.Error("the guest's ranges did not move with the mapping")
	}
	hostMachine{}.Syscall(unix.SYS_MUNMAP, &Args{uint64(r), 0x4000})
	// Without MREMAP_MAYMOVE, ENOMEM stays.
	f.calls = nil
	if r := call(task, unix.SYS_MREMAP, uint64(r), 0x4000, 0x8000, 0); r != neg(unix.ENOMEM) {
		t.Errorf("mremap in place = %d, want ENOMEM", r)
	}
	// A failed move gives the reservation back.
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_MUNMAP {
			return hostMachine{}.Syscall(nr, &a)
		}
		return neg(unix.ENOMEM)
	}
	task.P.vmas.add(0x10000, 0x12000)
	f.calls = nil
	if r := call(task, unix.SYS_MREMAP, 0x10000, 0x2000, 0x4000, unix.MREMAP_MAYMOVE); r != neg(unix.ENOMEM) {
		t.Errorf("a failed move = %d", r)
	}
	if len(f.calls) != 3 || f.calls[2].nr != unix.SYS_MUNMAP || f.calls[2].a[0] != f.calls[1].a[4] {
		t.Errorf("host calls %v: the reservation is not unmapped", f.calls)
	}
	if !p.vmas.covers(0x10000, 0x12000) {
		t.Error("a failed mremap changed the guest's ranges")
	}
}

// maps lists the guest's mappings only.
func TestMapsListsTheGuestsMappings(t *testing.T) {
	at, e := vaspace.Map(3*pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, at, 3*pageSize, 0)
	start := uint64(at)
	task, f := fakeTask(t, [][2]uint64{{start, start + 3*pageSize}}, [2]uint64{})
	hostOpens(t, f)
	f.WriteMem(guestMem, []byte("/proc/self/maps\x00"))
	r := call(task, unix.SYS_OPEN, guestMem, unix.O_RDONLY)
	if r < 0 {
		t.Fatalf("open of maps = %d", r)
	}
	// The content is made at the first read.
	f.ret = nil
	call(task, unix.SYS_READ, uint64(r), guestMem+512, 0)
	got := readFD(t, r)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	want := fmt.Sprintf("%x-%x r--p ", start, start+3*pageSize)
	// The guest's mapping, and the vsyscall page every native process's
	// maps lists; nothing of the host's.
	if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[1], "[vsyscall]") {
		t.Errorf("maps = %q, want %q… and [vsyscall]", got, want)
	}
}

// Dispatch: a call the fast route already ran keeps its result; a
// signal pending on the way back is delivered.
func TestDispatch(t *testing.T) {
	task, f := frameTask(t)
	cb := task.CB
	cb.Nr = unix.SYS_SET_TID_ADDRESS
	cb.Args = [6]uint64{0x1234}
	task.P.Dispatch(cb)
	if int64(cb.Ret) != int64(pid) || task.tidAddress != 0x1234 {
		t.Errorf("set_tid_address through Dispatch: ret %d, address %#x", int64(cb.Ret), task.tidAddress)
	}
	cb.Nr = unix.SYS_READ
	cb.Flags = cblock.FlagDone
	cb.Ret = 5
	usr1 := int(unix.SIGUSR1)
	task.P.sig.actions[usr1] = sigaction{handler: 0x402000}
	task.pending.add(usr1, userInfo(usr1, siUser))
	cb.SigPending = 1
	task.P.Dispatch(cb)
	if cb.Trap.Rip != 0x402000 || int64(greg(f, cb.Trap.Rsp, gRax)) != 5 {
		t.Errorf("handler rip %#x, saved rax %d; want the handler over the call's result 5", cb.Trap.Rip, int64(greg(f, cb.Trap.Rsp, gRax)))
	}
	expectCalls(t, f)
	// Out of the table: ENOSYS.
	if r := call(task, MaxNr+1); r != neg(unix.ENOSYS) {
		t.Errorf("syscall %d = %d, want ENOSYS", MaxNr+1, r)
	}
	if r := call(task, unix.SYS_SECCOMP); r != neg(unix.EPERM) {
		t.Errorf("seccomp = %d, want the refusal EPERM", r)
	}
}

// A host signal the guest never sees (the kick, one it ignores) that
// interrupted a call: on Linux the call was never interrupted, so it is
// issued again — a sleep with what is left of it.
func TestRestartWhenNothingIsDelivered(t *testing.T) {
	task, f := frameTask(t)
	cb := task.CB
	if r := task.afterSyscall(cb, unix.SYS_READ, &Args{3, guestMem, 10}, neg(unix.EINTR)); r != 0 {
		t.Errorf("read = %d, want the re-issued call's 0", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_READ, Args{3, guestMem, 10}})
	// nanosleep: again for what is left (a timespec of kernelsim's),
	// into the guest's rem.
	req, rem := uint64(guestMem), uint64(guestMem+16)
	f.putU64(req, 5)
	f.putU64(rem, 2)
	f.putU64(rem+8, 500)
	task.afterSyscall(cb, unix.SYS_NANOSLEEP, &Args{req, rem}, neg(unix.EINTR))
	if len(f.calls) != 1 || f.calls[0].nr != unix.SYS_NANOSLEEP || f.calls[0].a[0] == req || f.calls[0].a[1] != rem {
		t.Errorf("host calls %v: nanosleep again for the rest, into rem", f.calls)
	}
	f.calls = nil
	// sleep()'s one timespec as request and rem, with nothing left: done.
	f.putU64(rem, 0)
	f.putU64(rem+8, 0)
	if r := task.afterSyscall(cb, unix.SYS_NANOSLEEP, &Args{rem, rem}, neg(unix.EINTR)); r != 0 {
		t.Errorf("nanosleep with nothing left = %d", r)
	}
	expectCalls(t, f)
	// An absolute clock_nanosleep is the same call again.
	task.afterSyscall(cb, unix.SYS_CLOCK_NANOSLEEP, &Args{unix.CLOCK_MONOTONIC, timerAbstime, req, 0}, neg(unix.EINTR))
	expectCalls(t, f, fakeCall{unix.SYS_CLOCK_NANOSLEEP, Args{unix.CLOCK_MONOTONIC, timerAbstime, req, 0}})
	// A signal the guest ignores interrupted it: the same.
	task.P.sig.actions[unix.SIGUSR1] = sigaction{handler: sigIgn}
	task.pending.add(int(unix.SIGUSR1), userInfo(int(unix.SIGUSR1), siUser))
	task.afterSyscall(cb, unix.SYS_WAIT4, &Args{^uint64(0)}, neg(unix.EINTR))
	expectCalls(t, f, fakeCall{unix.SYS_WAIT4, Args{^uint64(0)}})
}

// mmap looks at the fd before the length, as Linux (EBADF before EINVAL).
func TestMmapChecksTheFDFirst(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	f.fds = map[int]int{0: 0, 1: 0, 2: 0}
	if r := call(task, unix.SYS_MMAP, 0, 0, unix.PROT_READ, unix.MAP_PRIVATE, 999, 0); r != neg(unix.EBADF) {
		t.Errorf("mmap of closed fd 999, length 0 = %d, want EBADF", r)
	}
	if r := call(task, unix.SYS_MMAP, 0, 0, unix.PROT_READ, unix.MAP_PRIVATE, 0, 0); r != neg(unix.EINVAL) {
		t.Errorf("mmap of fd 0, length 0 = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_MMAP, ^uint64(0)&^0xfff, 0x2000, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, ^uint64(0), 0); r != neg(unix.ENOMEM) {
		t.Errorf("MAP_FIXED past the end of the address space = %d, want ENOMEM", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_FCNTL, Args{999, unix.F_GETFD}}, fakeCall{unix.SYS_FCNTL, Args{0, unix.F_GETFD}})
}

// The argument checks of the mm calls come before the ownership guard,
// with Linux's errnos (a native probe of each on unmapped memory).
func TestMmArgumentChecks(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	top := ^uint64(0) &^ 0xfff
	for _, c := range []struct {
		name string
		nr   int
		a    []uint64
		want int64
	}{
		{"mprotect of nothing, length 0", unix.SYS_MPROTECT, []uint64{0x8000, 0, unix.PROT_READ}, 0},
		{"madvise of nothing, length 0", unix.SYS_MADVISE, []uint64{0x8000, 0, unix.MADV_DONTNEED}, 0},
		{"mprotect, unaligned", unix.SYS_MPROTECT, []uint64{0x8001, 0x1000, unix.PROT_READ}, neg(unix.EINVAL)},
		{"mprotect past the end", unix.SYS_MPROTECT, []uint64{top, 0x2000, unix.PROT_READ}, neg(unix.ENOMEM)},
		{"madvise past the end", unix.SYS_MADVISE, []uint64{top, 0x2000, unix.MADV_DONTNEED}, neg(unix.EINVAL)},
		{"mremap, unaligned", unix.SYS_MREMAP, []uint64{0x8001, 0x1000, 0x1000, 0}, neg(unix.EINVAL)},
		{"mremap to length 0", unix.SYS_MREMAP, []uint64{0x8000, 0x1000, 0, 0}, neg(unix.EINVAL)},
		{"mremap, an unknown flag", unix.SYS_MREMAP, []uint64{0x8000, 0x1000, 0x1000, 8}, neg(unix.EINVAL)},
		{"mremap, MREMAP_FIXED alone", unix.SYS_MREMAP, []uint64{0x8000, 0x1000, 0x1000, unix.MREMAP_FIXED, 0x9000}, neg(unix.EINVAL)},
		{"mremap of nothing", unix.SYS_MREMAP, []uint64{0x8000, 0x1000, 0x1000, 0}, neg(unix.EFAULT)},
		{"mremap past the end", unix.SYS_MREMAP, []uint64{top, 0x2000, 0x1000, 0}, neg(unix.EFAULT)},
	} {
		if r := call(task, c.nr, c.a...); r != c.want {
			t.Errorf("%s = %d, want %d", c.name, r, c.want)
		}
	}
	// The length-0 calls are the kernel's (it answers 0 without looking).
	expectCalls(t, f, fakeCall{unix.SYS_MPROTECT, Args{0x8000, 0, unix.PROT_READ}}, fakeCall{unix.SYS_MADVISE, Args{0x8000, 0, unix.MADV_DONTNEED}})
}
