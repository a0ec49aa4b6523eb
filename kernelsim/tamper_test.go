package kernelsim

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// tamperTask is a fake task with the given --inject rules and
// personality; the host answers getppid with 77.
func tamperTask(t *testing.T, f *rundir.Tamper) (*Task, *fakeMachine) {
	t.Helper()
	task, m := fakeTask(t, nil, [2]uint64{})
	m.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_GETPPID {
			return 77
		}
		return 0
	}
	tm, err := newTampering(f)
	if err != nil {
		t.Fatal(err)
	}
	task.P.tamper = tm
	return task, m
}

func tampered(task *Task, nr int) int64 {
	var a Args
	return task.tamperedSyscall(task.CB, nr, &a)
}

func TestInjectionCountsPerThreadAndLastRuleWins(t *testing.T) {
	task, m := tamperTask(t, &rundir.Tamper{Inject: []string{
		"getppid:retval=5:when=2..3",
		"getppid:error=EPERM:pid=999999", // another process: never takes a call here
		"chdir:signal=SIGUSR1:when=2",
	}})
	var got []int64
	for range 5 {
		got = append(got, tampered(task, unix.SYS_GETPPID))
	}
	if want := []int64{77, 5, 5, 77, 77}; !equal(got, want) {
		t.Errorf("getppid results %v, want %v", got, want)
	}
	if len(m.calls) != 3 {
		t.Errorf("%d getppid calls reached the host, want 3 (two were replaced)", len(m.calls))
	}
	// A second thread counts from 1 again, as strace counts per tracee.
	other := task.P.NewTask(new(cblock.ControlBlock))
	if r := tampered(other, unix.SYS_GETPPID); r != 77 {
		t.Errorf("the other thread's first getppid = %d, want 77", r)
	}
	if r := tampered(other, unix.SYS_GETPPID); r != 5 || other.Tampered() != "injected getppid:retval=5:when=2..3" {
		t.Errorf("the other thread's second getppid = %d (%q), want 5, injected", r, other.Tampered())
	}
	// signal= without a return: the call runs, the signal is pending.
	tampered(task, unix.SYS_CHDIR)
	if task.pending.mask != 0 || task.Tampered() != "" {
		t.Errorf("first chdir: pending %#x, tampered %q", task.pending.mask, task.Tampered())
	}
	if r := tampered(task, unix.SYS_CHDIR); r != 0 || task.pending.mask != bit(int(unix.SIGUSR1)) {
		t.Errorf("second chdir = %d, pending %#x, want 0 with SIGUSR1", r, task.pending.mask)
	}
}

func TestInjectionScopes(t *testing.T) {
	// The later rule, scoped to our pid, wins over the general one.
	task, _ := tamperTask(t, &rundir.Tamper{Inject: []string{
		"getppid:retval=1",
		"getppid:retval=2:pid=" + strconv.Itoa(pid),
		"chdir:error=EACCES:exe=other-program",
		"chdir:error=ENOENT:exe=guest",
	}})
	task.P.Exe = "/usr/bin/guest"
	if r := tampered(task, unix.SYS_GETPPID); r != 2 {
		t.Errorf("getppid = %d, want 2 (the pid-scoped rule)", r)
	}
	if r := tampered(task, unix.SYS_CHDIR); r != -int64(unix.ENOENT) {
		t.Errorf("chdir = %d, want ENOENT (the exe-scoped rule)", r)
	}
	task.P.Exe = "/usr/bin/other-program"
	if r := tampered(task, unix.SYS_CHDIR); r != -int64(unix.EACCES) {
		t.Errorf("chdir in other-program = %d, want EACCES", r)
	}
}

func TestPersonalityFailsWhatItLacks(t *testing.T) {
	task, m := tamperTask(t, &rundir.Tamper{Personality: "tiny", Syscalls: []string{"getppid"}})
	if r := tampered(task, unix.SYS_GETPPID); r != 77 {
		t.Errorf("getppid = %d, want the host's 77", r)
	}
	m.calls = nil
	if r := tampered(task, unix.SYS_CHDIR); r != -int64(unix.ENOSYS) || task.Tampered() != "missing in tiny" || len(m.calls) != 0 {
		t.Errorf("chdir = %d (%q, %d host calls), want ENOSYS, missing, none", r, task.Tampered(), len(m.calls))
	}
	// Every call outside the personality, and every injected one, takes
	// the kernel route.
	routes := task.P.tamper.withRoutes(map[int]bool{unix.SYS_GETPPID: true})
	if fast, ok := routes[unix.SYS_CHDIR]; !ok || fast {
		t.Error("chdir is not sent to Go")
	}
	if !routes[unix.SYS_GETPPID] {
		t.Error("an override of an implemented call was lost")
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
