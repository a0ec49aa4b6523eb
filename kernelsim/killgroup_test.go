package kernelsim

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// kill of a process group or of every process: the others are signalled
// by the host kernel (here: logged), the caller's own signal is queued for
// the guest; Linux's results (a native probe: kill(INT_MIN) and an empty
// group ESRCH, kill(0) and kill(-1) 0, signal 65 EINVAL).
func TestKillOfAGroup(t *testing.T) {
	task, other, f := mainFakeTask(t)
	usr1 := uint64(unix.SIGUSR1)
	task.sigmask, other.sigmask = bit(int(usr1)), bit(int(usr1)) // no kicks
	own := unix.Getpgrp()
	for _, c := range []struct {
		name   string
		target int
		sig    uint64
		want   unix.Errno
	}{
		{"INT_MIN", math.MinInt32, 0, unix.ESRCH},
		{"an empty group", -999999, 0, unix.ESRCH},
		{"signal 65 to the group", 0, 65, unix.EINVAL},
		{"signal 0 to the group", 0, 0, 0},
		{"signal 0 to everyone", -1, 0, 0},
	} {
		if r := call(task, unix.SYS_KILL, uint64(int64(c.target)), c.sig); r != neg(c.want) {
			t.Errorf("kill(%s) = %d, want %v", c.name, r, c.want)
		}
	}
	f.calls = nil
	if r := call(task, unix.SYS_KILL, 0, usr1); r != 0 {
		t.Fatalf("kill(0, SIGUSR1) = %d", r)
	}
	if task.P.sig.pending.mask != bit(int(usr1)) {
		t.Error("the caller's own signal is not queued for the guest")
	}
	for _, c := range f.calls {
		q := int(c.a[0])
		pg, alive := processGroup(q)
		if !alive || pg != own {
			// Gone or moved since: the group is shared with whatever
			// else the test run started (go test runs packages side by
			// side, the e2e suite's processes among them, which exit
			// and call setpgid and setsid). Only the rest is checked.
			pg = own
		}
		if c.nr != unix.SYS_KILL || q == pid || pg != own || c.a[1] != usr1 {
			t.Errorf("host call %v: not a kill of another member of group %d", c, own)
		}
	}
	// kill(-1) reaches neither init nor the caller.
	task.P.sig.pending.mask = 0
	f.calls = nil
	call(task, unix.SYS_KILL, ^uint64(0), usr1)
	for _, c := range f.calls {
		if q := int(c.a[0]); q == 1 || q == pid {
			t.Errorf("kill(-1) signalled %d", q)
		}
	}
	if task.P.sig.pending.mask != 0 {
		t.Error("kill(-1) queued the signal for the caller")
	}
	// The host kernel's refusals: one member that got it is enough for a
	// group; for everyone, EPERM alone is success.
	f.ret = func(int, Args) int64 { return neg(unix.EPERM) }
	if len(listProcesses(func(pg int) bool { return pg == own })) > 1 {
		if r := call(task, unix.SYS_KILL, 0, usr1); r != 0 {
			t.Errorf("kill(0) with the others refused = %d, want 0: the caller got it", r)
		}
	}
	if r := call(task, unix.SYS_KILL, ^uint64(0), usr1); r != 0 {
		t.Errorf("kill(-1) refused by some = %d, want 0", r)
	}
}
