// Package hostproc is the host process: it loads one guest into this
// process (loader), gives it the synthetic vDSO (vdsoinject), arms the
// trap (bpf: seccomp or Syscall User Dispatch), binds its thread to a
// control block in the run directory (tls, coverage) and runs it until it
// exits, with kernelsim answering its syscalls. The supervisor (tracer)
// starts it as a re-exec of the vsysbed binary.
package hostproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"

	"golang.org/x/sys/unix"

	"vsysbed/bpf"
	"vsysbed/coverage"
	"vsysbed/kernelsim"
	"vsysbed/loader"
	"vsysbed/tls"
	"vsysbed/vdsoinject"
)

// Options say what to run and how.
type Options struct {
	RunDir string
	Trap   string       // "seccomp" or "sud"
	Routes map[int]bool // forced routes: true = fast
	Argv   []string     // PROGRAM [ARGS...], PROGRAM as the user gave it

	// CPUProfile: profile the host process (runtime/pprof) into this file
	// while the guest runs; proves Go's SIGPROF keeps working beside it.
	CPUProfile string
}

// Exit statuses of the host process for failures before the guest runs,
// as a shell reports them.
const (
	ExitNotFound      = 127
	ExitNotExecutable = 126
	ExitInternal      = 125
)

func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "vsysbed: "+format+"\n", args...)
	return code
}

// Main runs the guest and returns its exit status. A guest killed by a
// signal takes the host process with it (the supervisor sees the signal).
func Main(o Options) int {
	runtime.LockOSThread() // the guest thread is this one, for good

	base := reserveHostFDs()
	events, err := coverage.OpenEventLog(filepath.Join(o.RunDir, "events.jsonl"), base)
	if err != nil {
		return fail(ExitInternal, "%v", err)
	}
	if len(o.Argv) == 0 {
		return fail(ExitInternal, "no program given")
	}

	path, err := loader.LookPath(o.Argv[0], os.Getenv("PATH"))
	if err != nil {
		return execFailure(events, err)
	}

	cb, _, err := coverage.OpenShard(filepath.Join(o.RunDir, "shard-"+strconv.Itoa(unix.Gettid())+".cb"))
	if err != nil {
		return fail(ExitInternal, "%v", err)
	}
	mode := uint8(tls.TrapSeccomp)
	if o.Trap == "sud" {
		mode = tls.TrapSUD
	}
	if err := tls.Prepare(cb, mode); err != nil {
		return fail(ExitInternal, "%v", err)
	}
	// Before the handlers: starting the profiler must not re-install Go's
	// SIGPROF handler over the wrapper.
	var stopProfile func()
	if o.CPUProfile != "" {
		if stopProfile, err = startProfile(o.CPUProfile); err != nil {
			return fail(ExitInternal, "%v", err)
		}
	}
	if err := tls.InstallHandlers(); err != nil {
		return fail(ExitInternal, "%v", err)
	}

	// The filter snapshots the host's code now: everything mapped
	// executable later (the guest, its libraries, the vDSO) traps.
	if o.Trap != "sud" {
		if err := installSeccomp(); err != nil {
			return fail(ExitInternal, "arming the seccomp trap: %v", err)
		}
	}

	vdsoImg, err := vdsoinject.Build()
	if err != nil {
		return fail(ExitInternal, "%v", err)
	}
	targets, err := vdsoinject.HostVDSO()
	if err != nil {
		targets = map[vdsoinject.Target]uintptr{} // the image's fallbacks trap instead
	}
	targets[vdsoinject.KernelVsyscall] = tls.BypassEntry()
	ld := &imageLoader{vdso: vdsoImg, targets: targets, events: events}

	guest, err := ld.load(path, o.Argv, os.Environ())
	if err != nil {
		return execFailure(events, err)
	}
	proc := kernelsim.NewProcess(kernelsim.Config{
		Image: *guest, HostFDBase: base, Events: events,
		RunDir: o.RunDir, TrapMode: mode,
		Exec: ld.load, CheckExec: ld.check,
	}, o.Routes)
	proc.NewTask(cb)
	if stopProfile != nil {
		proc.OnExit(stopProfile)
	}
	tls.SetKernel(proc.Dispatch)
	proc.ForwardHostSignals()
	tls.SetInitialState(cb, uintptr(guest.Entry), uintptr(guest.SP))

	if o.Trap == "sud" {
		start, end := tls.Region()
		if err := bpf.EnableSUD(start, end-start, &cb.Selector); err != nil {
			return fail(ExitInternal, "arming Syscall User Dispatch: %v", err)
		}
	}
	tls.Run(cb)
	// The guest process ends in kernelsim (exit_group, the last thread's
	// exit, a fatal signal), which exits the host process. Run returns only
	// when the main thread exited while other guest threads go on, as
	// Linux keeps a process whose leader is gone: wait for them.
	select {}
}

// imageLoader maps a program image for the guest: a fresh synthetic vDSO
// and the program with its interpreter, logged for the coverage report.
// It serves the first image and every execve.
type imageLoader struct {
	vdso    *vdsoinject.Image
	targets map[vdsoinject.Target]uintptr
	events  *coverage.EventLog
}

func (l *imageLoader) check(path string, argv, envp []string) error {
	return loader.Check(loader.Spec{Path: path, Argv: argv, Envp: envp})
}

func (l *imageLoader) load(path string, argv, envp []string) (*kernelsim.Image, error) {
	vdso, err := l.vdso.Map(l.targets)
	if err != nil {
		return nil, fmt.Errorf("mapping the vDSO: %w", err)
	}
	guest, err := loader.Load(loader.Spec{Path: path, Argv: argv, Envp: envp, VDSOBase: vdso.Base})
	if err != nil {
		vdso.Unmap()
		return nil, err
	}
	l.events.Exec(guest.Path, guest.Argv, guest.Interp)
	im := &kernelsim.Image{
		Exe: guest.Path, Argv: guest.Argv, Envp: guest.Envp,
		Entry: uint64(guest.Entry), SP: uint64(guest.SP),
		BrkStart: uint64(guest.BrkStart), BrkMax: uint64(guest.BrkMax),
		Mappings: [][2]uint64{{uint64(vdso.Base), uint64(vdso.Base + vdso.Size)}},
	}
	for _, m := range guest.Mappings {
		im.Mappings = append(im.Mappings, [2]uint64{uint64(m.Start), uint64(m.End)})
		if m.Path != "" && m.Path[0] == '/' {
			l.events.Map(uint64(m.Start), uint64(m.End), m.Offset, m.Prot, m.Path)
		}
	}
	l.events.Map(uint64(vdso.Base), uint64(vdso.Base+vdso.Size), 0, unix.PROT_READ|unix.PROT_EXEC, "[vdso]")
	for _, e := range guest.Auxv {
		im.Auxv = append(im.Auxv, e.Type, e.Val)
	}
	return im, nil
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func installSeccomp() error {
	ranges, err := bpf.HostCodeRanges()
	if err != nil {
		return err
	}
	prog, err := bpf.TrapFilter(ranges)
	if err != nil {
		return err
	}
	filter, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	return bpf.InstallTrapFilter(filter)
}

// execFailure reports a program that cannot be executed the way a shell
// does: 127 when it does not exist, 126 when it is not executable.
func execFailure(events *coverage.EventLog, err error) int {
	msg := err.Error()
	events.Error(msg)
	code := ExitNotExecutable
	var ee *loader.ExecError
	if errors.As(err, &ee) && ee.Errno == unix.ENOENT {
		code = ExitNotFound
	} else if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) {
		code = ExitNotFound
	}
	if len(msg) < 8 || msg[:8] != "vsysbed:" {
		msg = "vsysbed: " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return code
}

// reserveHostFDs keeps the host's own fds out of the guest's numbering:
// every fd the host holds while the guest runs (Go's netpoller, the event
// log) is placed at or above the returned base, so the guest's first
// open() gets 3 as on Linux. Go opens its epoll and eventfd on first use
// at the lowest free numbers, so the low numbers are filled with
// placeholders while that happens.
func reserveHostFDs() int {
	base := 1000
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1024 {
		base = int(lim.Cur) - 24
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return base
	}
	var held []int
	for fd := null + 1; fd < base; fd++ {
		if unix.Dup3(null, fd, unix.O_CLOEXEC) == nil {
			held = append(held, fd)
		}
	}
	if r, w, err := os.Pipe(); err == nil { // initialises the netpoller
		r.Close()
		w.Close()
	}
	for _, fd := range held {
		unix.Close(fd)
	}
	unix.Close(null)
	return base
}
