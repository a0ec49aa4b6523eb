package kernelsim

import (
	"fmt"
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// kill of a process group or of every process: the others are signalled
// by the host kernel (here: logged), the caller's own signal is queued for
// the guest; Linux's results (a native probe: kill(INT_MIN) and an empty
// group ESRCH, kill(0) and kill(-1) 0, signal 65 EINVAL). The processes
// and their groups are the fake machine's /proc: this process and 100 and
// 200 in group 77, 300 in 88, init in 1.
func TestKillOfAGroup(t *testing.T) {
	task, other, f := mainFakeTask(t)
	usr1 := uint64(unix.SIGUSR1)
	task.sigmask, other.sigmask = bit(int(usr1)), bit(int(usr1)) // no kicks
	const own = 77
	files := f.HostFiles.(*fakeFiles)
	files.dirs["/proc"] = []string{"1", "100", "200", "300", itoa(pid), "self"}
	for q, pg := range map[int]int{1: 1, 100: own, 200: own, 300: 88, pid: own} {
		files.files["/proc/"+itoa(q)+"/stat"] = []byte(fmt.Sprintf("%d (a b) c) S 1 %d %d 0", q, pg, pg))
	}
	refuse := false
	f.ret = func(nr int, a Args) int64 {
		switch {
		case nr == unix.SYS_GETPGID:
			return own
		case nr == unix.SYS_KILL && refuse:
			return neg(unix.EPERM)
		}
		return 0
	}
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
	kill := func(q int) fakeCall { return fakeCall{unix.SYS_KILL, Args{uint64(q), usr1}} }
	getpgid := fakeCall{unix.SYS_GETPGID, Args{}}
	expectCalls(t, f, getpgid, kill(100), kill(200))
	// kill(-1) reaches neither init nor the caller.
	task.P.sig.pending.mask = 0
	call(task, unix.SYS_KILL, ^uint64(0), usr1)
	expectCalls(t, f, getpgid, kill(100), kill(200), kill(300))
	if task.P.sig.pending.mask != 0 {
		t.Error("kill(-1) queued the signal for the caller")
	}
	// The host kernel's refusals: one member that got it is enough for a
	// group; for everyone, EPERM alone is success.
	refuse = true
	if r := call(task, unix.SYS_KILL, 0, usr1); r != 0 {
		t.Errorf("kill(0) with the others refused = %d, want 0: the caller got it", r)
	}
	if r := call(task, unix.SYS_KILL, ^uint64(0), usr1); r != 0 {
		t.Errorf("kill(-1) refused by some = %d, want 0", r)
	}
	if r := call(task, unix.SYS_KILL, ^uint64(87), usr1); r != neg(unix.EPERM) {
		t.Errorf("kill(-88) refused by its one member = %d, want EPERM", r)
	}
}
