package ptrace

import (
	"encoding/binary"
	"errors"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// initialStack lays out what execve leaves at rsp: argc, argv, NULL,
// envp, NULL, auxv pairs, AT_NULL (pointer values are arbitrary).
func initialStack(argc, envc int, auxv [][2]uint64) []byte {
	var words []uint64
	words = append(words, uint64(argc))
	for i := range argc {
		words = append(words, 0x7ffd0000+uint64(i))
	}
	words = append(words, 0)
	for i := range envc {
		words = append(words, 0x7ffe0000+uint64(i))
	}
	words = append(words, 0)
	for _, kv := range auxv {
		words = append(words, kv[0], kv[1])
	}
	words = append(words, 0, 0)
	b := make([]byte, 8*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

func TestAuxvValueOffset(t *testing.T) {
	auxv := [][2]uint64{{6, 4096}, {atSysinfoEhdr, 0x7fff1000}, {25, 0x7ffd9999}}
	for _, tc := range []struct{ argc, envc int }{{1, 0}, {3, 5}, {0, 0}} {
		stack := initialStack(tc.argc, tc.envc, auxv)
		off, err := auxvValueOffset(stack, atSysinfoEhdr)
		if err != nil {
			t.Fatalf("argc %d envc %d: %v", tc.argc, tc.envc, err)
		}
		if got := binary.LittleEndian.Uint64(stack[off:]); got != 0x7fff1000 {
			t.Errorf("argc %d envc %d: value at offset %d is %#x, want 0x7fff1000", tc.argc, tc.envc, off, got)
		}
		if key := binary.LittleEndian.Uint64(stack[off-8:]); key != atSysinfoEhdr {
			t.Errorf("argc %d envc %d: key before the value is %d", tc.argc, tc.envc, key)
		}
	}
}

func TestAuxvValueOffsetErrors(t *testing.T) {
	noEhdr := initialStack(1, 1, [][2]uint64{{6, 4096}})
	if _, err := auxvValueOffset(noEhdr, atSysinfoEhdr); !errors.Is(err, ErrNoAuxvEntry) {
		t.Errorf("missing key: got %v, want ErrNoAuxvEntry", err)
	}
	// argc, 2 argv, NULL, 2 envp, NULL: the entry's value is bytes 64-71.
	full := initialStack(2, 2, [][2]uint64{{atSysinfoEhdr, 1}})
	for _, n := range []int{0, 7, 8, 24, 56, 64, 71} {
		if _, err := auxvValueOffset(full[:n], atSysinfoEhdr); err == nil || errors.Is(err, ErrNoAuxvEntry) {
			t.Errorf("truncated to %d bytes: got %v, want a truncation error", n, err)
		}
	}
	for _, n := range []int{72, len(full)} {
		if off, err := auxvValueOffset(full[:n], atSysinfoEhdr); err != nil || off != 64 {
			t.Errorf("truncated to %d bytes: got %d, %v; want 64", n, off, err)
		}
	}
	bad := initialStack(1, 0, nil)
	binary.LittleEndian.PutUint64(bad[0:], 1<<40)
	if _, err := auxvValueOffset(bad, atSysinfoEhdr); err == nil {
		t.Error("implausible argc accepted")
	}
}

func TestStopKind(t *testing.T) {
	im, err := vdsoinject.BuildWith(vdsoinject.Options{NoCounters: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newVDSOLayout(im)
	if err != nil {
		t.Fatal(err)
	}
	const base = 0x7f0000000000
	// The rip after each fallback's `syscall`, found in the code itself.
	after := func(tg vdsoinject.Target) uint64 {
		off, _ := im.FallbackOffset(tg)
		for i := off; i+1 < uint64(len(im.Data)); i++ {
			if im.Data[i] == 0x0f && im.Data[i+1] == 0x05 {
				return base + i + 2
			}
		}
		t.Fatalf("no syscall in %s's fallback", tg)
		return 0
	}
	for _, tc := range []struct {
		name      string
		base, rip uint64
		want      int
	}{
		{"__kernel_vsyscall", base, after(vdsoinject.KernelVsyscall), cblock.KindBypass},
		{"clock_gettime", base, after(vdsoinject.ClockGettime), cblock.KindVDSO},
		{"getcpu", base, after(vdsoinject.Getcpu), cblock.KindVDSO},
		{"clock_getres", base, after(vdsoinject.ClockGetres), cblock.KindVDSO},
		{"guest code", base, 0x401234, cblock.KindTrap},
		{"just past the image", base, base + l.size + 2, cblock.KindTrap},
		{"no image yet", 0, after(vdsoinject.KernelVsyscall), cblock.KindTrap},
		{"image header", base, base + 2, cblock.KindTrap},
		{"rip 0", base, 0, cblock.KindTrap},
	} {
		if got := l.stopKind(tc.base, tc.rip); got != tc.want {
			t.Errorf("%s: stopKind(%#x, %#x) = %d, want %d", tc.name, tc.base, tc.rip, got, tc.want)
		}
	}
}

func TestCountCall(t *testing.T) {
	cb := new(cblock.ControlBlock)
	countCall(cb, 39, 0x1000, cblock.KindTrap, true)
	countCall(cb, 39, 0x1000, cblock.KindTrap, true)
	countCall(cb, 39, 0x2000, cblock.KindBypass, true)
	countCall(cb, 228, 0, cblock.KindVDSO, false)
	countCall(cb, 9999, 0x3000, cblock.KindTrap, true) // beyond NrMax: site only
	if cb.Counts[39][cblock.KindTrap] != 2 || cb.Counts[39][cblock.KindBypass] != 1 || cb.Counts[228][cblock.KindVDSO] != 1 {
		t.Errorf("counts: trap %d bypass %d vdso %d", cb.Counts[39][cblock.KindTrap], cb.Counts[39][cblock.KindBypass], cb.Counts[228][cblock.KindVDSO])
	}
	sites := map[[3]uint64]uint64{}
	for _, s := range cb.Sites {
		if s.Count != 0 {
			sites[[3]uint64{s.Addr, uint64(s.Nr), uint64(s.Kind)}] = s.Count
		}
	}
	want := map[[3]uint64]uint64{
		{0x1000, 39, cblock.KindTrap}: 2, {0x2000, 39, cblock.KindBypass}: 1, {0x3000, 9999, cblock.KindTrap}: 1,
	}
	if len(sites) != len(want) {
		t.Fatalf("sites %v, want %v", sites, want)
	}
	for k, n := range want {
		if sites[k] != n {
			t.Errorf("site %v: count %d, want %d", k, sites[k], n)
		}
	}
}

func TestCountCallDropsWhenProbesExhausted(t *testing.T) {
	cb := new(cblock.ControlBlock)
	for i := range cb.Sites {
		cb.Sites[i] = cblock.Site{Addr: ^uint64(i), Nr: 1, Kind: cblock.KindTrap, Count: 1}
	}
	countCall(cb, 39, 0x1000, cblock.KindTrap, true)
	if cb.Exit.SitesDropped != 1 || cb.Counts[39][cblock.KindTrap] != 1 {
		t.Errorf("full table: dropped %d, count %d; want 1, 1", cb.Exit.SitesDropped, cb.Counts[39][cblock.KindTrap])
	}
}

func TestResultClasses(t *testing.T) {
	for _, tc := range []struct {
		rax            uint64
		err, restarted bool
	}{
		{0, false, false},
		{42, false, false},
		{^uint64(0), true, false},            // -EPERM
		{uint64(1<<64 - 4095), true, false},  // -4095
		{uint64(1<<64 - 4096), false, false}, // an address, not an error
		{uint64(1<<64 - errRestartSys), true, true},
		{uint64(1<<64 - errRestartBlock), true, true},
	} {
		if got := isErrorResult(tc.rax); got != tc.err {
			t.Errorf("isErrorResult(%#x) = %v", tc.rax, got)
		}
		if got := isRestartResult(tc.rax); got != tc.restarted {
			t.Errorf("isRestartResult(%#x) = %v", tc.rax, got)
		}
	}
}

func TestParseStatusIDs(t *testing.T) {
	status := "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4243\nPPid:\t4000\nTracerPid:\t1\n"
	if tgid, ppid := parseStatusIDs(status); tgid != 4242 || ppid != 4000 {
		t.Errorf("got tgid %d ppid %d, want 4242 4000", tgid, ppid)
	}
	if tgid, ppid := parseStatusIDs("garbage"); tgid != 0 || ppid != 0 {
		t.Errorf("garbage: got %d %d", tgid, ppid)
	}
}

// seccompData is struct seccomp_data's first fields: nr, arch. The
// kernel loads them in host order; x/net/bpf's VM loads big-endian, so
// the test data is big-endian for the VM to see the kernel's values.
func seccompData(nr, arch uint32) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	return b
}

// TestTracePolicy runs the stub's filter on the BPF VM: every x86-64
// syscall (and any other architecture's) goes to the tracer.
func TestTracePolicy(t *testing.T) {
	p := tracePolicy()
	insns, err := p.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	const auditArchX8664, auditArchI386 = 0xc000003e, 0x40000003
	const retTrace, retErrnoENOSYS = uint32(seccomp.ActionTrace), uint32(seccomp.ActionErrno) | 38
	for _, tc := range []struct {
		name     string
		nr, arch uint32
		want     uint32
	}{
		{"getpid", 39, auditArchX8664, retTrace},
		{"read", 0, auditArchX8664, retTrace},
		{"execve", 59, auditArchX8664, retTrace},
		{"clone3", 435, auditArchX8664, retTrace},
		{"unknown number", 1000, auditArchX8664, retTrace},
		{"i386 int 0x80", 20, auditArchI386, retTrace},
		{"x32 getpid", 0x40000000 | 39, auditArchX8664, retErrnoENOSYS},
	} {
		got, err := vm.Run(seccompData(tc.nr, tc.arch))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if uint32(got) != tc.want {
			t.Errorf("%s: filter returned %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestRestartsWith(t *testing.T) {
	for _, tc := range []struct {
		code, flags uint64
		want        bool
	}{
		{errRestartSys, saRestart, true},
		{errRestartSys, 0, false},
		{errRestartNoIntr, 0, true},
		{errRestartNoHand, saRestart, false},
		{errRestartBlock, saRestart, false},
	} {
		if got := restartsWith(tc.code, tc.flags); got != tc.want {
			t.Errorf("restartsWith(%d, %#x) = %v, want %v", tc.code, tc.flags, got, tc.want)
		}
	}
}

func TestResetHandlersAtExec(t *testing.T) {
	h := map[uint64]sigDisposition{
		2:  {handler: 0x401000, flags: saRestart}, // a handler: back to SIG_DFL
		13: {handler: 1},                          // SIG_IGN survives execve
		15: {handler: 0},
	}
	got := resetHandlersAtExec(h)
	if len(got) != 1 || got[13].handler != 1 {
		t.Errorf("after exec: %v, want only signal 13 ignored", got)
	}
	if (sigDisposition{handler: 1}).runsHandler() || (sigDisposition{}).runsHandler() || !h[2].runsHandler() {
		t.Error("runsHandler must be true only for a handler address")
	}
}

// A call that returned a restart code and meets a guest handler: EINTR the
// guest sees (an error), or for a raw syscall SA_RESTART restarts, the
// rewound context whose rt_sigreturn makes the next stop the same call.
func TestHandledRestart(t *testing.T) {
	const usr1, usr2, term = 10, 12, 15
	const readNr, rip, rsp = 0, 0x401002, 0x7ffe0000
	for _, tc := range []struct {
		name       string
		code       uint64
		sig        unix.Signal
		bypass     bool
		wantErrors uint32
		wantSame   bool // the stop after rt_sigreturn is not a new call
	}{
		{"SA_RESTART handler, ERESTARTSYS", errRestartSys, usr1, false, 0, true},
		{"handler without SA_RESTART", errRestartSys, usr2, false, 1, false},
		{"ERESTARTNOHAND, SA_RESTART handler", errRestartNoHand, usr1, false, 1, false},
		{"ERESTART_RESTARTBLOCK, handler", errRestartBlock, usr1, false, 1, false},
		{"bypass call: re-issued by interruptedBypass", errRestartSys, usr1, true, 0, false},
		{"no handler: the kernel restarts it unseen", errRestartSys, term, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := &cblock.ControlBlock{}
			r := &tracer{shards: map[int]*cblock.ControlBlock{7: cb}}
			th := &tracedThread{tid: 7, proc: &tracedProcess{handlers: map[uint64]sigDisposition{
				usr1: {handler: 0x401100, flags: saRestart},
				usr2: {handler: 0x401100},
			}}}
			th.restart = restartPoint{rip: rip, rsp: rsp, nr: readNr, code: tc.code}
			if tc.bypass {
				th.interrupted = &bypassInterrupt{code: tc.code}
			}
			r.handledRestart(th, tc.sig)
			if cb.Errors[readNr] != tc.wantErrors {
				t.Errorf("errors = %d, want %d", cb.Errors[readNr], tc.wantErrors)
			}
			if tc.sig == term {
				if th.restart.rip != rip {
					t.Error("without a handler the restart point must stay")
				}
				return
			}
			// The handler's rt_sigreturn restores the rewound context.
			th.restart = restartPoint{}
			regs := unix.PtraceRegs{Rip: rip - syscallInsnLen, Rsp: rsp, Rax: readNr}
			if err := r.restartAfterHandler(th, &regs); err != nil {
				t.Fatal(err)
			}
			if same := th.restart.rip == rip && th.restart.rsp == rsp && th.restart.nr == readNr; same != tc.wantSame {
				t.Errorf("after rt_sigreturn: restart point %+v, want the call's = %v", th.restart, tc.wantSame)
			}
		})
	}
}
