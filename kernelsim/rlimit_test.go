package kernelsim

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRlimitCallVirtual(t *testing.T) {
	m := map[int]unix.Rlimit{}
	set := func(res int, l unix.Rlimit) { m[res] = l }
	self := func(who int) bool { return who == 0 }
	addr := func(p *[2]uint64) uint64 { return uint64(uintptr(unsafe.Pointer(p))) }

	in := [2]uint64{10, 20}
	if ret, ok := rlimitCall(unix.SYS_SETRLIMIT, &Args{unix.RLIMIT_NOFILE, addr(&in)}, m, self, set); !ok || ret != 0 {
		t.Fatalf("setrlimit: %d, %v", ret, ok)
	}
	var out [2]uint64
	if ret, ok := rlimitCall(unix.SYS_GETRLIMIT, &Args{unix.RLIMIT_NOFILE, addr(&out)}, m, self, set); !ok || ret != 0 || out != in {
		t.Fatalf("getrlimit: %d, %v, %v", ret, ok, out)
	}
	// prlimit64: old value out, new value in, in one call.
	in2, old := [2]uint64{5, 20}, [2]uint64{}
	if ret, ok := rlimitCall(unix.SYS_PRLIMIT64, &Args{0, unix.RLIMIT_NOFILE, addr(&in2), addr(&old)}, m, self, set); !ok || ret != 0 || old != in || m[unix.RLIMIT_NOFILE].Cur != 5 {
		t.Fatalf("prlimit64: %d, %v, old %v, now %v", ret, ok, old, m[unix.RLIMIT_NOFILE])
	}
	bad := [2]uint64{30, 20}
	if ret, _ := rlimitCall(unix.SYS_SETRLIMIT, &Args{unix.RLIMIT_NOFILE, addr(&bad)}, m, self, set); ret != -int64(unix.EINVAL) {
		t.Errorf("soft above hard: %d, want EINVAL", ret)
	}
	if ret, _ := rlimitCall(unix.SYS_SETRLIMIT, &Args{unix.RLIMIT_NOFILE, 8}, m, self, set); ret != -int64(unix.EFAULT) {
		t.Errorf("bad pointer: %d, want EFAULT", ret)
	}
	// Not ours to answer: another process, a resource the host takes on.
	if _, ok := rlimitCall(unix.SYS_PRLIMIT64, &Args{12345, unix.RLIMIT_NOFILE, 0, addr(&out)}, m, self, set); ok {
		t.Error("prlimit64 on another process answered")
	}
	if _, ok := rlimitCall(unix.SYS_GETRLIMIT, &Args{unix.RLIMIT_STACK, addr(&out)}, m, self, set); ok {
		t.Error("RLIMIT_STACK answered: it is the host's")
	}
}

func TestCheckNewLimit(t *testing.T) {
	old := unix.Rlimit{Cur: 10, Max: 20}
	if e := checkNewLimit(old, unix.Rlimit{Cur: 20, Max: 20}); e != 0 {
		t.Errorf("raise soft to hard: %v", e)
	}
	if e := checkNewLimit(old, unix.Rlimit{Cur: 30, Max: 20}); e != unix.EINVAL {
		t.Errorf("soft above hard: %v", e)
	}
	want := unix.EPERM
	if unix.Geteuid() == 0 {
		want = 0 // CAP_SYS_RESOURCE
	}
	if e := checkNewLimit(old, unix.Rlimit{Cur: 10, Max: 40}); e != want {
		t.Errorf("raise hard: %v, want %v", e, want)
	}
}
