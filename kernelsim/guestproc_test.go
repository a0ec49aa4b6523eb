package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

// What the core asks the task's guest process: a process's own thread
// answers for the host process, a vfork child for itself.
func TestGuestProcessAnswers(t *testing.T) {
	parent, _ := fakeTask(t, nil, [2]uint64{})
	parent.CB.Tid = 4321
	child, _ := vforkTask(t, parent)
	for _, c := range []struct {
		name                   string
		task                   *Task
		pid, tid               int
		threads, files, memory bool
	}{
		{"own thread", parent, pid, 4321, true, true, true},
		{"vfork child", child, 5555, 5555, false, false, false},
	} {
		p, tid := c.task.guest.ids(c.task.CB)
		if p != c.pid || tid != c.tid || c.task.guestPid() != c.pid {
			t.Errorf("%s: ids %d/%d, guestPid %d, want %d/%d", c.name, p, tid, c.task.guestPid(), c.pid, c.tid)
		}
		g := c.task.guest
		if g.ownsThreads() != c.threads || g.ownsFiles() != c.files || g.ownsMemory() != c.memory {
			t.Errorf("%s: owns threads/files/memory %v/%v/%v, want %v/%v/%v", c.name,
				g.ownsThreads(), g.ownsFiles(), g.ownsMemory(), c.threads, c.files, c.memory)
		}
	}
}

// A shared anonymous mapping is backed by a memfd in the host's fd table
// (shmem.go), but not a vfork child's: that table is not its own.
func TestSharedAnonMmapOnlyInOwnFDTable(t *testing.T) {
	const at, n = 0x10000, 0x2000
	parent, f := fakeTask(t, [][2]uint64{{at, at + 0x10000}}, [2]uint64{})
	child, _ := vforkTask(t, parent)
	flags := uint64(unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_FIXED)
	minus1 := ^uint64(0)
	f.ret = func(nr int, a Args) int64 { return int64(a[0]) }

	if r := call(child, unix.SYS_MMAP, at, n, unix.PROT_READ, flags, minus1, 0); r != at {
		t.Fatalf("the vfork child's mmap = %#x", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_MMAP, Args{at, n, unix.PROT_READ, flags, minus1, 0}})

	if r := call(parent, unix.SYS_MMAP, at, n, unix.PROT_READ, flags, minus1, 0); r != at {
		t.Fatalf("the parent's mmap = %#x", r)
	}
	defer parent.P.closeShmem()
	if len(f.calls) != 1 {
		t.Fatalf("host calls %v, want one mmap", f.calls)
	}
	c := f.calls[0]
	if c.nr != unix.SYS_MMAP || c.a[3]&unix.MAP_ANONYMOUS != 0 || int(c.a[4]) < 0 || c.a[5] != 0 {
		t.Errorf("the parent's mapping %v, want one of a memfd", c)
	}
}

// /proc/self/status and stat are answered for a process's own threads
// (procstatus.go); a vfork child's pass through to its thread's view.
func TestVforkChildsStatusPassesThrough(t *testing.T) {
	parent, _ := fakeTask(t, nil, [2]uint64{})
	child, _ := vforkTask(t, parent)
	if _, ok, errno := child.procStatusContent("/proc/self/status"); ok || errno != 0 {
		t.Errorf("the vfork child's status: answered (ok %v, %d)", ok, errno)
	}
}
