package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A fork child re-attaches its parent's System V segments (attachSysV):
// these tests see its host calls in a fakeMachine's log.

// The whole segment goes straight to its address, and a piece whose
// protection mprotect changed gets it back; one the kernel put elsewhere
// is detached and the attach fails.
func TestAttachSysVWhole(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	const base, size = 0x4000_0000, 0x3000
	at := int64(base)
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_SHMAT {
			return at
		}
		return 0
	}
	rw, ro := unix.PROT_READ|unix.PROT_WRITE, unix.PROT_READ
	g := []ForkRegion{
		{Start: base, End: base + 0x1000, Prot: rw, ShmID: 7, ShmSize: size},
		{Start: base + 0x1000, End: base + size, Prot: ro, Offset: 0x1000, ShmID: 7, ShmSize: size},
	}
	if err := attachSysV(g); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, f,
		fakeCall{unix.SYS_SHMAT, Args{7, base, 0}}, // writable: a piece is
		fakeCall{unix.SYS_MPROTECT, Args{base + 0x1000, 0x2000, uint64(ro)}})

	at = 0x5000_0000
	if err := attachSysV(g); err == nil {
		t.Error("an attachment the kernel placed elsewhere was taken")
	}
	expectCalls(t, f, fakeCall{unix.SYS_SHMAT, Args{7, base, 0}}, fakeCall{unix.SYS_SHMDT, Args{0x5000_0000}})

	// Read-only pieces only, never attached writable: SHM_RDONLY.
	at = base
	ro1 := []ForkRegion{{Start: base, End: base + size, Prot: ro, ShmID: 7, ShmSize: size}}
	attachSysV(ro1)
	expectCalls(t, f, fakeCall{unix.SYS_SHMAT, Args{7, base, unix.SHM_RDONLY}})
}

// A part of a segment the parent kept is attached elsewhere in the window
// and moved into place; the rest is let go with the temporary range.
func TestAttachSysVPart(t *testing.T) {
	_, f := fakeTask(t, nil, [2]uint64{})
	const start, size = 0x4000_1000, 0x4000
	var tmp uint64
	f.ret = func(nr int, a Args) int64 {
		if nr == unix.SYS_SHMAT {
			tmp = a[1]
			return int64(a[1])
		}
		return 0
	}
	rw := unix.PROT_READ | unix.PROT_WRITE
	g := []ForkRegion{{Start: start, End: start + 0x2000, Prot: rw, Offset: 0x1000, ShmID: 9, ShmSize: size}}
	if err := attachSysV(g); err != nil {
		t.Fatal(err)
	}
	defer hostMachine{}.Syscall(unix.SYS_MUNMAP, &Args{tmp, size}) // the reservation is vaspace's, real
	expectCalls(t, f,
		fakeCall{unix.SYS_SHMAT, Args{9, tmp, shmRemap}},
		fakeCall{unix.SYS_MREMAP, Args{tmp + 0x1000, 0x2000, 0x2000, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, start}},
		fakeCall{unix.SYS_MUNMAP, Args{tmp, size}})
	if tmp == 0 {
		t.Error("no temporary range")
	}
}
