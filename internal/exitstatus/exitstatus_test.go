package exitstatus

import (
	"syscall"
	"testing"
)

func TestOf(t *testing.T) {
	for _, c := range []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{0, 0},
		{42 << 8, 42},
		{syscall.WaitStatus(syscall.SIGKILL), 137},
		{syscall.WaitStatus(syscall.SIGSEGV) | 0x80, 139}, // core dumped
		{syscall.WaitStatus(syscall.SIGSTOP)<<8 | 0x7f, Failed},
	} {
		if got := Of(c.ws); got != c.want {
			t.Errorf("Of(%#x) = %d, want %d", uint32(c.ws), got, c.want)
		}
	}
}
