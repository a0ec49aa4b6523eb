package ptrace

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/procmem"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tracing"
)

// Tracing (run -e trace=, -o, -c; docs/trace.md) on this platform: the
// tracer sees every call at its seccomp stop and its exit stop, so it
// records each there, reading the tracee's memory; unlike the in-process
// platform, a vDSO time function's fallback is a real syscall here and is
// traced, with the kind vdso.

// tracee reads a traced thread's memory.
type tracee int

func (t tracee) ReadMem(addr uint64, b []byte) error { return procmem.Read(int(t), addr, b) }

// loadTrace opens the run's tracing configuration, if any.
func (r *tracer) loadTrace() error {
	tr, err := tracing.Load(r.dir, 3, kernelsim.Name)
	r.tr = tr
	return err
}

// traceEnter records call nr of th as it enters (at its seccomp stop).
func (r *tracer) traceEnter(th *tracedThread, nr uint64, a kernelsim.Args, kind uint32, site uint64) {
	if r.tr == nil {
		return
	}
	th.traced = r.tr.Enter(th.proc.pid, th.tid, int(int64(nr)), a, kindName(kind), site, tracee(th.tid))
}

// traceExit records the result of th's call (at its exit stop).
func (r *tracer) traceExit(th *tracedThread, rax uint64) {
	if th.traced == nil {
		return
	}
	c := th.traced
	th.traced = nil
	c.Returned = true
	r.tr.Exit(c, int64(rax), tracee(th.tid))
}

// traceEnd is a process's last line.
func (r *tracer) traceEnd(pid int, ws unix.WaitStatus) {
	if r.tr == nil {
		return
	}
	if ws.Signaled() {
		r.tr.End(pid, 0, int(ws.Signal()))
	} else {
		r.tr.End(pid, ws.ExitStatus(), 0)
	}
}

func kindName(k uint32) string {
	switch k {
	case cblock.KindBypass:
		return "bypass"
	case cblock.KindTrap:
		return "trap"
	case cblock.KindVDSO:
		return "vdso"
	}
	return "?"
}
