package kernelsim

import (
	"strings"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/tracing"
)

// Tracing (vsysbed run -e trace=, -o, -c; package tracing): when the run
// directory holds a tracing configuration, every traced number takes the
// kernel route (NewProcess), so each of its calls reaches Dispatch, which
// records it as it enters and as it leaves. Untraced numbers keep their
// routes, and with tracing off nothing changes but one nil check in
// Dispatch.

// dispatchTraced is Dispatch's tail while tracing: call, with its record
// started before and written after (also when the thread unwinds instead
// of returning: a vfork child dying by a signal).
func (t *Task) dispatchTraced(cb *cblock.ControlBlock, nr int) {
	tc := t.traceEnter(cb, nr)
	if tc == nil {
		t.call(cb, nr)
		return
	}
	t.traced = tc
	defer func() {
		if t.traced == tc { // not written ahead (traceAhead)
			t.traced = nil
			t.traceExit(tc, cb)
		}
	}()
	t.call(cb, nr)
	tc.Returned = true
}

// traceAhead writes the record of the call in progress now, with result
// ret, before the call has returned: a vfork child's execve, whose new
// image runs in another host process that writes its own records from
// its first instruction on, so that the execve's line comes before them
// as it does natively.
func (t *Task) traceAhead(ret int64) {
	tc := t.traced
	if tc == nil {
		return
	}
	t.traced = nil
	tc.Returned = true
	tc.Injected = strings.HasPrefix(t.Tampered(), "injected ")
	t.P.trace.Exit(tc, ret, machine)
}

// traceEnter starts the record of call nr, or returns nil.
func (t *Task) traceEnter(cb *cblock.ControlBlock, nr int) *tracing.Call {
	tr := t.P.trace
	if tr == nil || !tr.Traces(nr) {
		return nil
	}
	pid, tid := t.guest.ids(cb)
	return tr.Enter(pid, tid, nr, cb.Args, kindName(cb.Kind), cb.Site, machine)
}

// traceExit writes the record with the call's result; a call that
// unwound instead of returning (a vfork child dying by a signal) is "?".
func (t *Task) traceExit(c *tracing.Call, cb *cblock.ControlBlock) {
	if !c.Returned {
		t.P.trace.Unfinished(c)
		return
	}
	c.Injected = strings.HasPrefix(t.Tampered(), "injected ")
	t.P.trace.Exit(c, int64(cb.Ret), machine)
}

func kindName(k uint32) string {
	switch k {
	case cblock.KindBypass:
		return "bypass"
	case cblock.KindTrap:
		return "trap"
	case cblock.KindPatched:
		return "patched"
	case cblock.KindInt80:
		return "int80"
	}
	return "?"
}

// tracedRoutes sends every traced number through Go.
func (p *Process) tracedRoutes() {
	for nr := 0; nr <= MaxNr; nr++ {
		if p.trace.Traces(nr) {
			entry.SetRoute(nr, false)
		}
	}
}

// traceEnd is the process's last trace line (strace's +++ exited/killed +++).
func (t *Task) traceEnd(code, sig int) {
	if t.P.trace == nil {
		return
	}
	p, _ := t.guest.ids(t.CB)
	t.P.trace.End(p, code, sig)
}
