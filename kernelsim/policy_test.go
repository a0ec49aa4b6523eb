package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAnswer(t *testing.T) {
	cases := []struct {
		name string
		nr   int
		a    Args
		ret  int64
		ok   bool
	}{
		{"refused row", unix.SYS_RSEQ, Args{}, -int64(unix.ENOSYS), true},
		{"seccomp(2)", unix.SYS_SECCOMP, Args{}, -int64(unix.EPERM), true},
		{"unknown number", 1000, Args{}, -int64(unix.ENOSYS), true},
		{"negative number", -1, Args{}, -int64(unix.ENOSYS), true},
		{"prctl SET_SECCOMP", unix.SYS_PRCTL, Args{prSetSeccomp}, -int64(unix.EINVAL), true},
		{"prctl GET_SECCOMP", unix.SYS_PRCTL, Args{prGetSeccomp}, 0, true},
		{"prctl SET_MM", unix.SYS_PRCTL, Args{prSetMM}, -int64(unix.EPERM), true},
		{"prctl SET_NAME passes", unix.SYS_PRCTL, Args{unix.PR_SET_NAME}, 0, false},
		{"arch_prctl SET_GS", unix.SYS_ARCH_PRCTL, Args{archSetGS}, -int64(unix.EPERM), true},
		{"arch_prctl SET_FS is per platform", unix.SYS_ARCH_PRCTL, Args{archSetFS}, 0, false},
		{"getpid is the kernel's", unix.SYS_GETPID, Args{}, 0, false},
		{"mmap is guarded, not answered", unix.SYS_MMAP, Args{}, 0, false},
		// The ptrace platform's guest attaches natively, where the kernel
		// places it as it would without vsysbed.
		{"shmat is guarded, not answered", unix.SYS_SHMAT, Args{}, 0, false},
		{"shmdt is guarded, not answered", unix.SYS_SHMDT, Args{}, 0, false},
	}
	for _, c := range cases {
		ret, ok := Answer(c.nr, c.a)
		if ret != c.ret || ok != c.ok {
			t.Errorf("%s: Answer = %d, %v; want %d, %v", c.name, ret, ok, c.ret, c.ok)
		}
	}
	// Every refused row of the table is answered with its errno.
	for _, row := range Table() {
		if row.Route != Refused {
			continue
		}
		if ret, ok := Answer(row.Nr, Args{}); !ok || ret != -int64(row.Errno) {
			t.Errorf("%s: Answer = %d, %v; want -%v", row.Name, ret, ok, row.Errno)
		}
	}
}
