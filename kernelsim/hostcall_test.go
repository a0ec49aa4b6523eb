package kernelsim

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelsim's own host calls (hostCall) go through the Machine: these
// tests see them in a fakeMachine's log.

// pullHeld takes what the host kernel holds for the thread, without
// waiting, until it says there is nothing (EAGAIN).
func TestPullHeldTakesUntilNothingIsLeft(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	alrm := uint64(unix.SIGALRM)
	left := 2
	f.ret = func(nr int, a Args) int64 {
		if left == 0 {
			return neg(unix.EAGAIN)
		}
		left--
		// The record goes where the call says, as the kernel's.
		binary.LittleEndian.PutUint32(unsafe.Slice((*byte)(guestPtr(a[1])), 4), uint32(alrm))
		return int64(alrm)
	}
	got := pullHeld(bit(int(alrm)))
	if len(got) != 2 || got[0].sig != int(alrm) || got[1].sig != int(alrm) || le32(got[0].si[:]) != uint32(alrm) {
		t.Fatalf("pulled %+v, want SIGALRM twice", got)
	}
	if len(f.calls) != 3 {
		t.Fatalf("host calls %v, want three rt_sigtimedwait", f.calls)
	}
	for _, c := range f.calls {
		if c.nr != unix.SYS_RT_SIGTIMEDWAIT || c.a[3] != 8 || c.a[2] == 0 {
			t.Errorf("host call %v, want rt_sigtimedwait(set, info, zero timeout, 8)", c)
		}
	}
	f.calls = nil
	if got := pullHeld(0); got != nil || len(f.calls) != 0 {
		t.Errorf("an empty set pulled %v with calls %v", got, f.calls)
	}
	// A result that is no signal ends it too, instead of 64 records.
	f.ret = func(int, Args) int64 { return 0 }
	if got := pullHeld(bit(int(alrm))); len(got) != 0 {
		t.Errorf("a zero result pulled %v", got)
	}
}

// The set pullHeld asks for is the one given, at the call.
func TestPullHeldAsksForItsSet(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	var asked uint64
	f.ret = func(nr int, a Args) int64 {
		asked = binary.LittleEndian.Uint64(unsafe.Slice((*byte)(guestPtr(a[0])), 8))
		return neg(unix.EAGAIN)
	}
	want := bit(int(unix.SIGALRM)) | bit(int(unix.SIGCHLD))
	pullHeld(want)
	if asked != want {
		t.Errorf("rt_sigtimedwait's set %#x, want %#x", asked, want)
	}
}

// A fork that failed half way kills the child's host process and reaps
// it, and the guest sees ENOMEM.
func TestForkFailedKillsAndReaps(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	if r := task.P.forkFailed(4711, errors.New("test")); r != neg(unix.ENOMEM) {
		t.Errorf("forkFailed = %d, want ENOMEM", r)
	}
	expectCalls(t, f, fakeCall{unix.SYS_KILL, Args{4711, uint64(unix.SIGKILL)}}, fakeCall{unix.SYS_WAIT4, Args{4711}})
}

// A SIGCONT the process receives is told to the supervisor when it is the
// process's parent, marked as forwarded, and not otherwise.
func TestContinuedNoticeGoesToTheSupervisor(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	old := SupervisorPID
	t.Cleanup(func() { SupervisorPID = old })
	SupervisorPID = 777
	ppid := int64(777)
	var sent []byte
	f.ret = func(nr int, a Args) int64 {
		switch nr {
		case unix.SYS_GETPPID:
			return ppid
		case unix.SYS_RT_SIGQUEUEINFO:
			sent = make([]byte, 128)
			copy(sent, unsafe.Slice((*byte)(guestPtr(a[2])), len(sent)))
		}
		return 0
	}
	continuedNotice()
	if len(f.calls) != 2 || f.calls[1].nr != unix.SYS_RT_SIGQUEUEINFO || f.calls[1].a[0] != 777 || f.calls[1].a[1] != uint64(unix.SIGCONT) {
		t.Fatalf("host calls %v, want getppid then rt_sigqueueinfo(777, SIGCONT)", f.calls)
	}
	if le32(sent[0:]) != uint32(unix.SIGCONT) || le32(sent[16:]) != uint32(pid) || binary.LittleEndian.Uint64(sent[24:])>>32 != ForwardMark {
		t.Errorf("siginfo % x: want SIGCONT from us, marked", sent[:32])
	}
	f.calls = nil
	ppid = 1 // the supervisor is not our parent: not ours to tell
	continuedNotice()
	expectCalls(t, f, fakeCall{unix.SYS_GETPPID, Args{}})
	SupervisorPID = 0 // no supervisor: nothing asked
	continuedNotice()
	expectCalls(t, f)
}

// A rewrite's stub page is mapped near the site, never over anything:
// tried below, then above, at growing distances; a kernel that put it
// elsewhere (no MAP_FIXED_NOREPLACE) has it unmapped and the next tried.
func TestStubPageIsMappedNearTheSite(t *testing.T) {
	task, f := fakeTask(t, nil, [2]uint64{})
	const head = 0x5000_1234
	base := uint64(head) &^ (pageSize - 1)
	n := 0
	f.ret = func(nr int, a Args) int64 {
		if nr != unix.SYS_MMAP {
			return 0
		}
		n++
		switch n {
		case 1:
			return neg(unix.EEXIST) // below: taken
		case 2:
			return 0x1234_0000 // above: placed elsewhere
		}
		return int64(a[0])
	}
	at, ok := task.P.mapStubPage(head)
	if want := base - 128<<10; !ok || at != want {
		t.Fatalf("stub page at %#x (%v), want %#x", at, ok, want)
	}
	flags := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE)
	prot := uint64(unix.PROT_READ | unix.PROT_EXEC)
	expectCalls(t, f,
		fakeCall{unix.SYS_MMAP, Args{base - 64<<10, pageSize, prot, flags, ^uint64(0)}},
		fakeCall{unix.SYS_MMAP, Args{base + 64<<10, pageSize, prot, flags, ^uint64(0)}},
		fakeCall{unix.SYS_MUNMAP, Args{0x1234_0000, pageSize}},
		fakeCall{unix.SYS_MMAP, Args{base - 128<<10, pageSize, prot, flags, ^uint64(0)}})
	if !task.P.vmas.covers(at, at+pageSize) {
		t.Error("the stub page is not the guest's")
	}
}
