package kernelsim

import (
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// A guest's rt_sigaction reaches the entry's disposition table, which the
// host's signal handlers read before any Go runs: a handler, SIG_IGN and
// SIG_DFL each as the entry's own value; a query changes nothing.
func TestSigactionTellsTheEntry(t *testing.T) {
	e := useFakeEntry(t)
	task, f := fakeTask(t, nil, [2]uint64{})
	e.calls()
	act := uint64(guestMem)
	usr2 := uint64(unix.SIGUSR2)
	for _, c := range []struct {
		handler uint64
		want    int
	}{
		{0x401000, cblock.DispositionHandler},
		{sigIgn, cblock.DispositionIgnore},
		{sigDfl, cblock.DispositionDefault},
	} {
		f.putU64(act, c.handler)
		if r := call(task, unix.SYS_RT_SIGACTION, usr2, act, 0, 8); r != 0 {
			t.Fatalf("rt_sigaction(SIGUSR2, %#x) = %d", c.handler, r)
		}
		want := []string{fmt.Sprintf("SetDisposition %d %d", usr2, c.want)}
		if got := e.calls(); !slices.Equal(got, want) {
			t.Errorf("rt_sigaction(SIGUSR2, %#x): the entry was told %q, want %q", c.handler, got, want)
		}
	}
	if r := call(task, unix.SYS_RT_SIGACTION, usr2, 0, act+64, 8); r != 0 {
		t.Fatalf("rt_sigaction (query) = %d", r)
	}
	if got := e.calls(); len(got) != 0 {
		t.Errorf("a query told the entry %q", got)
	}
}

// A new signalfd is marked in the entry (its reads are kernelsim's, and
// the fd is the guest's though it may sit above the host's base); closing
// it unmarks it, so its number's next reads take the fast route again.
func TestSignalfdIsMarkedInTheEntry(t *testing.T) {
	e := useFakeEntry(t)
	task, _, _ := mainFakeTask(t)
	p := task.P
	mask := uint64(guestMem)
	e.calls()
	r := call(task, unix.SYS_SIGNALFD4, ^uint64(0), mask, 8, unix.O_NONBLOCK|unix.O_CLOEXEC)
	if r < 0 {
		t.Fatalf("signalfd4 = %d", r)
	}
	fd := int(r)
	t.Cleanup(func() { p.closeSignalfd(fd); unix.Close(fd) })
	if got := e.calls(); !slices.Contains(got, fmt.Sprintf("MarkSignalfd %d true", fd)) || !slices.Contains(got, fmt.Sprintf("MarkGuestFD %d true", fd)) {
		t.Errorf("signalfd4: the entry was told %q, want the fd marked a guest fd and a signalfd", got)
	}
	// The fake machine's close succeeds without closing: the fd stays
	// for the cleanup.
	if r := call(task, unix.SYS_CLOSE, uint64(fd)); r != 0 {
		t.Fatalf("close = %d", r)
	}
	if got := e.calls(); !slices.Contains(got, fmt.Sprintf("MarkSignalfd %d false", fd)) {
		t.Errorf("close of a signalfd: the entry was told %q, want the signalfd mark dropped", got)
	}
}

// A new process fills the entry's route table from the syscall table,
// with a fork child's overrides on top; while a vfork child runs on one
// of its threads the identity calls switch to the kernel route (the
// child's pid is not the host's), and back when the last one is gone.
func TestRoutesReachTheEntry(t *testing.T) {
	fast, kernel := -1, -1
	for _, row := range Table() {
		if row.Route == Fast && fast < 0 {
			fast = row.Nr
		}
		if row.Route != Fast && kernel < 0 {
			kernel = row.Nr
		}
	}
	if fast < 0 || kernel < 0 {
		t.Fatal("the table has no fast row or no kernel row")
	}

	e := useFakeEntry(t)
	NewProcess(Config{HostFDBase: 1000, Platform: &fakePlatform{}}, nil)
	if !e.routeFast(fast) || e.routeFast(kernel) {
		t.Errorf("routes: %s fast %v (want true), %s fast %v (want false)", Name(fast), e.routeFast(fast), Name(kernel), e.routeFast(kernel))
	}

	e = useFakeEntry(t)
	NewProcess(Config{HostFDBase: 1000, Platform: &fakePlatform{}}, map[int]bool{fast: false, kernel: true})
	if e.routeFast(fast) || !e.routeFast(kernel) {
		t.Errorf("overridden routes: %s fast %v (want false), %s fast %v (want true)", Name(fast), e.routeFast(fast), Name(kernel), e.routeFast(kernel))
	}

	// The checked rows (the C entry's checked_call knows these four)
	// reach it as checked, unless overridden: then as the override says.
	e = useFakeEntry(t)
	NewProcess(Config{HostFDBase: 1000, Platform: &fakePlatform{}}, map[int]bool{unix.SYS_CLOSE: false, unix.SYS_OPENAT: true})
	cChecked := map[int]bool{unix.SYS_CLOSE: true, unix.SYS_GETDENTS64: true, unix.SYS_OPEN: true, unix.SYS_OPENAT: true}
	for _, row := range Table() {
		if row.Checked && (row.Route != Guarded || !cChecked[row.Nr]) {
			t.Errorf("%s: a checked row must be guarded and one the C entry checks", row.Name)
		}
		if row.Checked != cChecked[row.Nr] {
			t.Errorf("%s: checked %v, want %v", row.Name, row.Checked, cChecked[row.Nr])
		}
	}
	if !e.routeChecked(unix.SYS_GETDENTS64) || e.routeFast(unix.SYS_GETDENTS64) {
		t.Errorf("getdents64: checked %v fast %v, want checked", e.routeChecked(unix.SYS_GETDENTS64), e.routeFast(unix.SYS_GETDENTS64))
	}
	if e.routeChecked(unix.SYS_CLOSE) || e.routeFast(unix.SYS_CLOSE) {
		t.Error("close=kernel: still checked or fast")
	}
	if e.routeChecked(unix.SYS_OPENAT) || !e.routeFast(unix.SYS_OPENAT) {
		t.Error("openat=fast: not fast")
	}

	e = useFakeEntry(t)
	p := NewProcess(Config{HostFDBase: 1000, Platform: &fakePlatform{}}, nil)
	routes := func() (out []bool) {
		for _, nr := range identityCalls {
			out = append(out, e.routeFast(nr))
		}
		return out
	}
	var want []bool
	for _, nr := range identityCalls {
		want = append(want, identityFast[nr])
	}
	if got := routes(); !slices.Equal(got, want) {
		t.Fatalf("identity calls' routes %v before any vfork, want %v", got, want)
	}
	p.vforkRoutes(1)
	p.vforkRoutes(1)
	if got := routes(); slices.Contains(got, true) {
		t.Errorf("identity calls' routes %v while vfork children run, want all kernel", got)
	}
	p.vforkRoutes(-1)
	if got := routes(); slices.Contains(got, true) {
		t.Errorf("identity calls' routes %v while one vfork child still runs, want all kernel", got)
	}
	p.vforkRoutes(-1)
	if got := routes(); !slices.Equal(got, want) {
		t.Errorf("identity calls' routes %v after the vfork children, want %v", got, want)
	}
}
