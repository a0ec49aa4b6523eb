package kernelsim

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pullHeld takes what the kernel keeps pending of a blocked signal, in
// order, without waiting, and nothing once the queue is empty.
func TestPullHeldTakesTheKernelsPendingCopies(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const sig = 40
	set := bit(sig)
	var old uint64
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	defer unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if got := pullHeld(set); len(got) != 0 {
		t.Fatalf("nothing queued: pulled %d", len(got))
	}
	for v := uint32(1); v <= 3; v++ {
		var si siginfo
		put32(si[0:], sig)
		put32(si[8:], uint32(0xffffffff)) // SI_QUEUE
		put32(si[24:], v)                 // si_value
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(unix.Getpid()), uintptr(unix.Gettid()), sig, uintptr(unsafe.Pointer(&si)), 0, 0); e != 0 {
			t.Fatalf("rt_tgsigqueueinfo: %v", e)
		}
	}
	got := pullHeld(set)
	if len(got) != 3 {
		t.Fatalf("pulled %d of 3", len(got))
	}
	for i, h := range got {
		if h.sig != sig || le32(h.si[24:]) != uint32(i+1) {
			t.Errorf("pull %d: signal %d value %d, want %d value %d", i, h.sig, le32(h.si[24:]), sig, i+1)
		}
	}
	if got := pullHeld(set); len(got) != 0 {
		t.Fatalf("queue emptied: pulled %d more", len(got))
	}
	if got := pullHeld(0); got != nil {
		t.Fatalf("empty set: pulled %d", len(got))
	}
}
