package kernelsim

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/hostfiles"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// fakeMachine is a Machine without a guest: memory is a set of byte
// slices at guest addresses, and every host call a handler makes is
// logged and answered by ret (nil: 0).
type fakeMachine struct {
	mem   map[uint64][]byte
	calls []fakeCall
	ret   func(nr int, a Args) int64
	// HostFiles answers the path and buffer calls: a *fakeFiles (its
	// tables, ENOENT for the rest), or hostfiles.Files for a test whose
	// handler must see this process's real /proc (realFiles).
	HostFiles
	// fds, when not nil, is the fd table (fd: its FD_ flags) that answers
	// fcntl, close and dup3 (logged as every call, before ret): a closed
	// fd is EBADF.
	fds map[int]int
}

// fdCall answers nr from the fake fd table, if it is one of its calls.
func (f *fakeMachine) fdCall(nr int, a Args) (int64, bool) {
	fd := int(int32(a[0]))
	_, open := f.fds[fd]
	switch nr {
	case unix.SYS_FCNTL, unix.SYS_CLOSE, unix.SYS_DUP3:
	default:
		return 0, false
	}
	if !open {
		return neg(unix.EBADF), true
	}
	switch {
	case nr == unix.SYS_CLOSE:
		delete(f.fds, fd)
	case nr == unix.SYS_DUP3:
		fl := 0
		if a[2]&unix.O_CLOEXEC != 0 {
			fl = unix.FD_CLOEXEC
		}
		f.fds[int(int32(a[1]))] = fl
		return int64(int32(a[1])), true
	case a[1] == unix.F_GETFD:
		return int64(f.fds[fd]), true
	case a[1] == unix.F_SETFD:
		f.fds[fd] = int(a[2])
	case a[1] == unix.F_DUPFD_CLOEXEC:
		for n := int(a[2]); ; n++ {
			if _, taken := f.fds[n]; !taken {
				f.fds[n] = unix.FD_CLOEXEC
				return int64(n), true
			}
		}
	}
	return 0, true
}

// realFiles makes f's HostFiles this process's own, for a test whose host
// calls are real (its opens, its pipes).
func realFiles(f *fakeMachine) { f.HostFiles = hostfiles.Files{} }

type fakeCall struct {
	nr int
	a  Args
}

func (c fakeCall) String() string { return fmt.Sprintf("%s%#x", Name(c.nr), c.a) }

// slice is [addr, addr+n) of a region, or false when it is not all mapped.
func (f *fakeMachine) slice(addr uint64, n int) ([]byte, bool) {
	for start, b := range f.mem {
		if addr >= start && addr+uint64(n) <= start+uint64(len(b)) && addr+uint64(n) >= addr {
			return b[addr-start : addr-start+uint64(n)], true
		}
	}
	return nil, false
}

func (f *fakeMachine) ReadMem(addr uint64, b []byte) error {
	s, ok := f.slice(addr, len(b))
	if !ok {
		return unix.EFAULT
	}
	copy(b, s)
	return nil
}

func (f *fakeMachine) WriteMem(addr uint64, b []byte) error {
	s, ok := f.slice(addr, len(b))
	if !ok {
		return unix.EFAULT
	}
	copy(s, b)
	return nil
}

func (f *fakeMachine) Syscall(nr int, a *Args) int64 {
	f.calls = append(f.calls, fakeCall{nr, *a})
	if f.fds != nil {
		if r, ok := f.fdCall(nr, *a); ok {
			return r
		}
	}
	if f.ret != nil {
		return f.ret(nr, *a)
	}
	return 0
}

func (f *fakeMachine) u64(addr uint64) uint64 {
	s, ok := f.slice(addr, 8)
	if !ok {
		panic(fmt.Sprintf("no guest memory at %#x", addr))
	}
	return binary.LittleEndian.Uint64(s)
}

func (f *fakeMachine) putU64(addr, v uint64) {
	s, ok := f.slice(addr, 8)
	if !ok {
		panic(fmt.Sprintf("no guest memory at %#x", addr))
	}
	binary.LittleEndian.PutUint64(s, v)
}

// guestMem is where fakeTask's guest memory starts (one page of it).
const guestMem = 0x7000_0000

// fakeTask is a task of a new process whose machine and platform are
// fakes (platformOf): the guest
// owns vmas, its break reservation is brk (start, max), and it has one
// page of readable memory at guestMem.
func fakeTask(t *testing.T, vmas [][2]uint64, brk [2]uint64) (*Task, *fakeMachine) {
	t.Helper()
	f := &fakeMachine{mem: map[uint64][]byte{guestMem: make([]byte, pageSize)}, HostFiles: newFakeFiles()}
	old := machine
	machine = f
	t.Cleanup(func() { machine = old })
	p := NewProcess(Config{Image: Image{Mappings: vmas, BrkStart: brk[0], BrkMax: brk[1]}, HostFDBase: 1000, Platform: &fakePlatform{}}, nil)
	return p.NewTask(new(cblock.ControlBlock)), f
}

func call(t *Task, nr int, a ...uint64) int64 {
	var args Args
	copy(args[:], a)
	return t.syscall(nr, &args)
}

func expectCalls(t *testing.T, f *fakeMachine, want ...fakeCall) {
	t.Helper()
	if fmt.Sprint(f.calls) != fmt.Sprint(want) {
		t.Errorf("host calls %v, want %v", f.calls, want)
	}
	f.calls = nil
}

func TestMunmapTouchesOnlyTheGuestsPieces(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}, {0x30000, 0x31000}}, [2]uint64{})
	// Linux unmaps whatever the range holds; the host's part of it stays.
	if r := call(task, unix.SYS_MUNMAP, 0x8000, 0x20000); r != 0 {
		t.Fatalf("munmap across host and guest memory = %d, want 0", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_MUNMAP, Args{0x10000, 0x10000}})
	if task.P.vmas.covers(0x10000, 0x11000) {
		t.Error("the unmapped range is still the guest's")
	}
	// Nothing mapped there: 0, and nothing reaches the host.
	if r := call(task, unix.SYS_MUNMAP, 0x50000, 0x1000); r != 0 {
		t.Errorf("munmap of a hole = %d, want 0", r)
	}
	expectCalls(t, f)
	for _, c := range []struct{ addr, len uint64 }{{0x30001, 0x1000}, {0x30000, 0}, {^uint64(0) - 0xfff, 0x2000}} {
		if r := call(task, unix.SYS_MUNMAP, c.addr, c.len); r != -int64(unix.EINVAL) {
			t.Errorf("munmap(%#x, %#x) = %d, want EINVAL", c.addr, c.len, r)
		}
	}
	expectCalls(t, f)
	if r := call(task, unix.SYS_MUNMAP, 0x30000, 0x1000); r != 0 {
		t.Errorf("munmap of the guest's page = %d", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_MUNMAP, Args{0x30000, 0x1000}})
}

func TestMmapFixedNeverReplacesHostMemory(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	f.ret = func(nr int, a Args) int64 { return int64(a[0]) }
	anon := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
	rw := uint64(unix.PROT_READ | unix.PROT_WRITE)
	if r := call(task, unix.SYS_MMAP, 0x10000, 0x2000, rw, anon|unix.MAP_FIXED, ^uint64(0), 0); r != 0x10000 {
		t.Fatalf("MAP_FIXED inside the guest = %#x", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_MMAP, Args{0x10000, 0x2000, rw, anon | unix.MAP_FIXED, ^uint64(0), 0}})
	// Over memory the guest does not own: as an occupied
	// MAP_FIXED_NOREPLACE, which the kernel refuses where the host is.
	call(task, unix.SYS_MMAP, 0x1f000, 0x2000, rw, anon|unix.MAP_FIXED, ^uint64(0), 0)
	expectCalls(t, f, fakeCall{unix.SYS_MMAP, Args{0x1f000, 0x2000, rw, anon | unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0}})
	if !task.P.vmas.covers(0x1f000, 0x21000) {
		t.Error("a mapping the kernel made is not recorded as the guest's")
	}
	// A host fd is no fd of the guest's.
	if r := call(task, unix.SYS_MMAP, 0, 0x1000, rw, unix.MAP_PRIVATE, 1000, 0); r != -int64(unix.EBADF) {
		t.Errorf("mmap of host fd 1000 = %d, want EBADF", r)
	}
	expectCalls(t, f)
}

func TestRangeGuards(t *testing.T) {
	task, f := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	for _, c := range []struct {
		nr        int
		addr, len uint64
		want      int64
	}{
		{unix.SYS_MPROTECT, 0x10000, 0x1000, 0},
		{unix.SYS_MPROTECT, 0x1f000, 0x2000, -int64(unix.ENOMEM)},
		{unix.SYS_MPROTECT, 0x10001, 0x1000, -int64(unix.EINVAL)},
		{unix.SYS_MADVISE, 0x8000, 0x1000, -int64(unix.ENOMEM)},
	} {
		if r := call(task, c.nr, c.addr, c.len, unix.PROT_READ); r != c.want {
			t.Errorf("%s(%#x, %#x) = %d, want %d", Name(c.nr), c.addr, c.len, r, c.want)
		}
	}
	expectCalls(t, f, fakeCall{unix.SYS_MPROTECT, Args{0x10000, 0x1000, unix.PROT_READ}})
	if r := call(task, unix.SYS_MREMAP, 0x8000, 0x1000, 0x2000, unix.MREMAP_MAYMOVE); r != -int64(unix.EFAULT) {
		t.Errorf("mremap of host memory = %d, want EFAULT", r)
	}
	if r := call(task, unix.SYS_MREMAP, 0x10000, 0x1000, 0x1000, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, 0x40000); r != -int64(unix.EFAULT) {
		t.Errorf("mremap onto host memory = %d, want EFAULT", r)
	}
	expectCalls(t, f)
}

func TestBrkStaysInItsReservation(t *testing.T) {
	const start, limit = 0x100000, 0x200000
	task, f := fakeTask(t, nil, [2]uint64{start, limit})
	if r := call(task, unix.SYS_BRK, 0); r != start {
		t.Fatalf("brk(0) = %#x, want the start %#x", r, start)
	}
	if r := call(task, unix.SYS_BRK, start+0x1800); r != start+0x1800 {
		t.Fatalf("brk grow = %#x", r)
	}
	rw := uint64(unix.PROT_READ | unix.PROT_WRITE)
	expectCalls(t, f, fakeCall{unix.SYS_MMAP, Args{start, 0x2000, rw, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, ^uint64(0), 0}})
	// Past the reservation: refused, the break unchanged, as Linux
	// answers a break it cannot move.
	if r := call(task, unix.SYS_BRK, limit+0x1000); r != start+0x1800 {
		t.Errorf("brk past the reservation = %#x, want the old break", r)
	}
	expectCalls(t, f)
	// Shrinking gives the pages back (PROT_NONE, still reserved).
	if r := call(task, unix.SYS_BRK, start); r != start {
		t.Errorf("brk shrink = %#x", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_MMAP, Args{start, 0x2000, unix.PROT_NONE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_NORESERVE, ^uint64(0), 0}})
	// A failed grow leaves the break where it was.
	f.ret = func(int, Args) int64 { return -int64(unix.ENOMEM) }
	if r := call(task, unix.SYS_BRK, start+0x5000); r != start {
		t.Errorf("brk whose mmap failed = %#x, want %#x", r, start)
	}
}

func TestSigprocmask(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	set, old := uint64(guestMem), uint64(guestMem+8)
	usr1 := uint64(1) << (unix.SIGUSR1 - 1)
	kill, stop := uint64(1)<<(unix.SIGKILL-1), uint64(1)<<(unix.SIGSTOP-1)
	f.putU64(set, usr1|kill|stop)
	if r := call(task, unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, set, old, 8); r != 0 {
		t.Fatalf("rt_sigprocmask = %d", r)
	}
	if f.u64(old) != 0 {
		t.Errorf("old mask %#x, want 0", f.u64(old))
	}
	if task.sigmask != usr1 {
		t.Errorf("mask %#x, want SIGUSR1 alone (%#x): SIGKILL and SIGSTOP cannot be blocked", task.sigmask, usr1)
	}
	f.putU64(set, usr1)
	call(task, unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, set, old, 8)
	if task.sigmask != 0 || f.u64(old) != usr1 {
		t.Errorf("after SIG_UNBLOCK: mask %#x, old %#x", task.sigmask, f.u64(old))
	}
	for _, c := range []struct {
		a    []uint64
		want unix.Errno
	}{
		{[]uint64{unix.SIG_BLOCK, set, old, 4}, unix.EINVAL},
		{[]uint64{7, set, 0, 8}, unix.EINVAL},
		{[]uint64{unix.SIG_BLOCK, 0x10, 0, 8}, unix.EFAULT},
		{[]uint64{unix.SIG_BLOCK, 0, 0x10, 8}, unix.EFAULT},
	} {
		if r := call(task, unix.SYS_RT_SIGPROCMASK, c.a...); r != -int64(c.want) {
			t.Errorf("rt_sigprocmask%#x = %d, want %v", c.a, r, c.want)
		}
	}
	expectCalls(t, f)
}

func TestVirtualRlimits(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	lim := uint64(guestMem)
	f.putU64(lim, 64)
	f.putU64(lim+8, 128)
	if r := call(task, unix.SYS_SETRLIMIT, unix.RLIMIT_NOFILE, lim); r != 0 {
		t.Fatalf("setrlimit(NOFILE) = %d", r)
	}
	f.putU64(lim, 0)
	f.putU64(lim+8, 0)
	if r := call(task, unix.SYS_GETRLIMIT, unix.RLIMIT_NOFILE, lim); r != 0 {
		t.Fatalf("getrlimit(NOFILE) = %d", r)
	}
	if f.u64(lim) != 64 || f.u64(lim+8) != 128 {
		t.Errorf("getrlimit(NOFILE) = {%d, %d}, want the guest's {64, 128}", f.u64(lim), f.u64(lim+8))
	}
	// The guest's limit, not the host's: nothing reached the host.
	expectCalls(t, f)
	f.putU64(lim, 200)
	f.putU64(lim+8, 100)
	if r := call(task, unix.SYS_SETRLIMIT, unix.RLIMIT_NOFILE, lim); r != -int64(unix.EINVAL) {
		t.Errorf("setrlimit soft > hard = %d, want EINVAL", r)
	}
}

func TestSigactionIsTheGuestsState(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	act, old := uint64(guestMem), uint64(guestMem+64)
	kill, stop := uint64(1)<<(unix.SIGKILL-1), uint64(1)<<(unix.SIGSTOP-1)
	f.putU64(act, 0x401000)               // handler
	f.putU64(act+8, saRestart)            // flags
	f.putU64(act+16, 0x402000)            // restorer
	f.putU64(act+24, kill|stop|1<<(10-1)) // mask: SIGKILL, SIGSTOP, SIGUSR1
	if r := call(task, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), act, 0, 8); r != 0 {
		t.Fatalf("rt_sigaction = %d", r)
	}
	if r := call(task, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), 0, old, 8); r != 0 {
		t.Fatalf("rt_sigaction (query) = %d", r)
	}
	if f.u64(old) != 0x401000 || f.u64(old+8) != saRestart || f.u64(old+16) != 0x402000 {
		t.Errorf("old action {%#x %#x %#x}", f.u64(old), f.u64(old+8), f.u64(old+16))
	}
	if f.u64(old+24) != 1<<(10-1) {
		t.Errorf("old action's mask %#x: SIGKILL and SIGSTOP are never blocked", f.u64(old+24))
	}
	call(task, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), 0, old, 8)
	for _, c := range []struct {
		a    []uint64
		want unix.Errno
	}{
		{[]uint64{uint64(unix.SIGKILL), act, 0, 8}, unix.EINVAL},
		{[]uint64{uint64(unix.SIGSTOP), act, 0, 8}, unix.EINVAL},
		{[]uint64{0, 0, old, 8}, unix.EINVAL},
		{[]uint64{65, 0, old, 8}, unix.EINVAL},
		{[]uint64{uint64(unix.SIGUSR1), act, 0, 16}, unix.EINVAL},
		{[]uint64{uint64(unix.SIGUSR1), 0x10, 0, 8}, unix.EFAULT},
		{[]uint64{uint64(unix.SIGUSR1), 0, 0x10, 8}, unix.EFAULT},
	} {
		if r := call(task, unix.SYS_RT_SIGACTION, c.a...); r != -int64(c.want) {
			t.Errorf("rt_sigaction%#x = %d, want %v", c.a, r, c.want)
		}
	}
	// SIGKILL's action may be read, never set.
	if r := call(task, unix.SYS_RT_SIGACTION, uint64(unix.SIGKILL), 0, old, 8); r != 0 || f.u64(old) != 0 {
		t.Errorf("rt_sigaction(SIGKILL, NULL, old) = %d, handler %#x", r, f.u64(old))
	}
	expectCalls(t, f)
}

func TestSigaltstack(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	ss, old := uint64(guestMem), uint64(guestMem+64)
	f.putU64(ss, 0x500000)
	f.putU64(ss+16, 1<<16)
	if r := call(task, unix.SYS_SIGALTSTACK, ss, old); r != 0 {
		t.Fatalf("sigaltstack = %d", r)
	}
	if flags := uint32(f.u64(old + 8)); flags != ssDisable {
		t.Errorf("old stack's flags %#x, want SS_DISABLE", flags)
	}
	call(task, unix.SYS_SIGALTSTACK, 0, old)
	if f.u64(old) != 0x500000 || f.u64(old+16) != 1<<16 || uint32(f.u64(old+8)) != 0 {
		t.Errorf("stack {%#x, flags %#x, %#x}", f.u64(old), uint32(f.u64(old+8)), f.u64(old+16))
	}
	f.putU64(ss+16, 1024) // below MINSIGSTKSZ
	if r := call(task, unix.SYS_SIGALTSTACK, ss, 0); r != -int64(unix.ENOMEM) {
		t.Errorf("a small stack = %d, want ENOMEM", r)
	}
	f.putU64(ss+8, 0x4) // an unknown flag
	if r := call(task, unix.SYS_SIGALTSTACK, ss, 0); r != -int64(unix.EINVAL) {
		t.Errorf("an unknown flag = %d, want EINVAL", r)
	}
	if r := call(task, unix.SYS_SIGALTSTACK, 0x10, 0); r != -int64(unix.EFAULT) {
		t.Errorf("a bad pointer = %d, want EFAULT", r)
	}
	expectCalls(t, f)
}

func TestMapFilesOfTheHostDoNotExist(t *testing.T) {
	task, _ := fakeTask(t, [][2]uint64{{0x10000, 0x20000}}, [2]uint64{})
	p := task.P
	self := "/proc/" + itoa(pid) + "/map_files/"
	for path, want := range map[string]bool{
		self + "10000-20000":                             false,
		"/proc/self/map_files/10000-11000":               false,
		"/proc/self/map_files/555555554000-555555556000": true,
		self + "8000-11000":                              true, // partly the host's
		"/proc/thread-self/map_files/30000-31000":        true,
		"/proc/1/map_files/30000-31000":                  false, // not ours to judge
		"/proc/self/map_files":                           false,
		"/proc/self/map_files/x-y":                       false,
		"/proc/self/fd/3":                                false,
	} {
		if got := p.hostMapFile(path); got != want {
			t.Errorf("hostMapFile(%q) = %v, want %v", path, got, want)
		}
	}
	ent := func(name string) []byte {
		reclen := (19 + len(name) + 1 + 7) &^ 7
		b := make([]byte, reclen)
		b[16], b[17] = byte(reclen), byte(reclen>>8)
		copy(b[19:], name)
		return b
	}
	var buf []byte
	for _, n := range []string{".", "..", "10000-20000", "555555554000-555555556000"} {
		buf = append(buf, ent(n)...)
	}
	hidden := func(name string) bool { return name != "." && name != ".." && p.hostMapFile(self+name) }
	out := filterDirentNames(buf, hidden)
	if want := append(append(ent("."), ent("..")...), ent("10000-20000")...); string(out) != string(want) {
		t.Errorf("listing kept %q", out)
	}
}
