package bpf

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The weakened test build lets exactly its listed syscalls through from
// guest code; the real build traps them like everything else.
func TestWeakenedSyscalls(t *testing.T) {
	prog, err := TrapFilter([]Range{{0x1000, 0x2000}})
	if err != nil {
		t.Fatal(err)
	}
	weak := map[uint32]bool{}
	for _, nr := range weakenedSyscalls {
		weak[nr] = true
	}
	const guestIP = 0x4000_0000_1234
	for _, nr := range []uint32{unix.SYS_GETPID, unix.SYS_GETPPID, unix.SYS_WRITE, unix.SYS_EXIT_GROUP} {
		want := uint32(retTrap)
		if weak[nr] {
			want = retAllow
		}
		if got := run(t, prog, int32(nr), archX86_64, guestIP); got != want {
			t.Errorf("nr %d from guest code: %s, want %s", nr, retName(got), retName(want))
		}
	}
	// The weakening never opens the x32 or foreign-arch holes.
	for _, nr := range weakenedSyscalls {
		if got := run(t, prog, int32(nr|x32SyscallBit), archX86_64, guestIP); got != retTrap {
			t.Errorf("x32 nr %d: %s, want TRAP", nr, retName(got))
		}
		if got := run(t, prog, int32(nr), unix.AUDIT_ARCH_I386, guestIP); got != retTrap {
			t.Errorf("i386 nr %d: %s, want TRAP", nr, retName(got))
		}
	}
}
