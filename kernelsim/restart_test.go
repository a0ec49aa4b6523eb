package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// A raw syscall a handler interrupted: with SA_RESTART the frame holds the
// call rewound onto its `syscall`, and the handler's rt_sigreturn to it
// marks the thread's next entry as that call again (FlagRestarted: not
// counted twice); without, the frame carries -EINTR, counted as the
// guest's error.
func TestHandlerOverARawSyscall(t *testing.T) {
	const stack, stackSize = 0x7100_0000, 64 << 10
	const insn, handler = 0x401000, 0x402000
	for _, tc := range []struct {
		name          string
		flags         uint64
		wantErrors    uint32
		wantRestarted bool
	}{
		{"SA_RESTART", saRestart, 0, true},
		{"no SA_RESTART", 0, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, f := fakeTask(t, nil, [2]uint64{})
			f.mem[stack] = make([]byte, stackSize)
			task.P.sig.actions[unix.SIGUSR1] = sigaction{handler: handler, flags: tc.flags}
			task.pending.add(int(unix.SIGUSR1), userInfo(int(unix.SIGUSR1), siUser))
			cb := task.CB
			cb.Kind = cblock.KindTrap
			cb.Trap = cblock.Regs{Rip: insn + 2, Rsp: stack + stackSize - 256, Rflags: 0x202}
			a := Args{3}
			task.afterSyscall(cb, unix.SYS_READV, &a, -int64(unix.EINTR))
			if cb.Trap.Rip != handler {
				t.Fatalf("rip %#x, want the handler's", cb.Trap.Rip)
			}
			if got := cb.Errors[unix.SYS_READV]; got != tc.wantErrors {
				t.Errorf("errors %d, want %d", got, tc.wantErrors)
			}
			// The handler returns: its ret popped the restorer's address.
			cb.Trap.Rsp += 8
			sysRtSigreturn(task, &Args{})
			if got := cb.Flags&cblock.FlagRestarted != 0; got != tc.wantRestarted {
				t.Errorf("FlagRestarted %v, want %v (resumed at %#x)", got, tc.wantRestarted, cb.Trap.Rip)
			}
			if tc.wantRestarted && (cb.Trap.Rip != insn || cb.Trap.Rax != unix.SYS_READV) {
				t.Errorf("resumed at %#x rax %d, want the syscall again", cb.Trap.Rip, cb.Trap.Rax)
			}
		})
	}
}

// A handler that does not return to the rewound call (a longjmp) leaves
// no mark: the next call is a new one.
func TestRestartMarkNeedsTheSameContext(t *testing.T) {
	r := bypassRestart{again: true, retAddr: 0x401000, guestSP: 0x7000}
	if !r.apply(&cblock.Regs{Rip: 0x401000, Rsp: 0x7000}) {
		t.Error("the rewound context itself must match")
	}
	if r.apply(&cblock.Regs{Rip: 0x401234, Rsp: 0x7000}) || r.apply(&cblock.Regs{Rip: 0x401000, Rsp: 0x6ff0}) {
		t.Error("another context must not match")
	}
}

// Handlers that always leave by longjmp never return their records: the
// newest stay, as many as maxRestarts.
func TestRestartRecordsAreBounded(t *testing.T) {
	task, _ := fakeTask(t, nil, [2]uint64{})
	for i := range 3 * maxRestarts {
		task.noteRestart(&bypassRestart{frame: uint64(i)})
	}
	if n := len(task.restarts); n != maxRestarts {
		t.Fatalf("%d records, want %d", n, maxRestarts)
	}
	if last := task.restarts[maxRestarts-1].frame; last != 3*maxRestarts-1 {
		t.Errorf("newest record's frame %d, want %d", last, 3*maxRestarts-1)
	}
}
