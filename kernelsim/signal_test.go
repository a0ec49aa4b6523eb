package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// A new process keeps what an execve keeps: the ignored signals stay
// ignored (never SIGKILL or SIGSTOP), the first thread keeps its mask
// (without the two), every other disposition is SIG_DFL.
func TestInheritSignals(t *testing.T) {
	p := NewProcess(Config{HostFDBase: 1000, Platform: &fakePlatform{}}, nil)
	task := p.NewTask(&cblock.ControlBlock{})
	ignored := bit(int(unix.SIGHUP)) | bit(int(unix.SIGPIPE)) | bit(int(unix.SIGKILL)) | bit(int(unix.SIGSTOP)) | bit(64)
	mask := bit(int(unix.SIGUSR1)) | bit(int(unix.SIGSTOP)) | bit(int(unix.SIGKILL)) | bit(33)
	p.InheritSignals(task, ignored, mask)
	t.Cleanup(func() { // the C side's table is global
		for _, sig := range []int{int(unix.SIGHUP), int(unix.SIGPIPE), 64} {
			entry.SetDisposition(sig, cblock.DispositionDefault)
		}
	})
	for sig := 1; sig <= nsig; sig++ {
		want := uint64(sigDfl)
		if sig == int(unix.SIGHUP) || sig == int(unix.SIGPIPE) || sig == 64 {
			want = sigIgn
		}
		if got := p.sig.actions[sig].handler; got != want {
			t.Errorf("signal %d: handler %d, want %d", sig, got, want)
		}
	}
	if want := bit(int(unix.SIGUSR1)) | bit(33); task.sigmask != want {
		t.Errorf("mask %#x, want %#x", task.sigmask, want)
	}
}
