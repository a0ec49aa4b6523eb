package kernelsim

import (
	"bufio"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// What --inject and --personality do to a guest's calls. Both act in
// Dispatch, before the call's row runs, so they need the call in Go: every
// syscall they name takes the kernel route (as --route NAME=kernel does),
// the fast route of the C entry included. Calls answered without Go — the
// vDSO's time functions, numbers outside the table, which entry.c answers
// -ENOSYS — are out of their reach, as the vDSO is out of strace's.

//go:embed personalities/*.txt
var personalityFiles embed.FS

// Personalities are the built-in personality names besides "linux".
func Personalities() []string {
	ents, _ := personalityFiles.ReadDir("personalities")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".txt"))
	}
	return names
}

// Personality is a kernel whose syscall table is a subset of Linux's.
type Personality struct {
	Name     string
	Syscalls []string // the names it implements, in its file's order
	Has      [MaxNr + 1]bool
}

// LoadPersonality finds a personality: "linux" (nil: every call),
// a built-in name (kernelsim/personalities/NAME.txt), or a file of
// syscall names, one a line, # starting a comment. An unknown name in a
// file is an error.
func LoadPersonality(name string) (*Personality, error) {
	if name == "" || name == "linux" {
		return nil, nil
	}
	b, err := personalityFiles.ReadFile("personalities/" + name + ".txt")
	label := name
	if err != nil || strings.ContainsRune(name, '/') {
		if b, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("personality %q: not linux, %s, nor a readable file: %w", name, strings.Join(Personalities(), ", "), err)
		}
		label = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	p, err := ParsePersonality(label, string(b))
	if err != nil {
		return nil, fmt.Errorf("personality %s: %w", name, err)
	}
	return p, nil
}

// ParsePersonality reads a personality's names.
func ParsePersonality(name, text string) (*Personality, error) {
	p := &Personality{Name: name}
	sc := bufio.NewScanner(strings.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		nr, ok := Number(s)
		if !ok {
			return nil, fmt.Errorf("line %d: unknown syscall %q", line, s)
		}
		if !p.Has[nr] {
			p.Has[nr] = true
			p.Syscalls = append(p.Syscalls, s)
		}
	}
	return p, nil
}

// tampering is a host process's --inject rules and personality, from the
// run directory's rundir.TamperFile.
type tampering struct {
	rules   []*Injection
	persona string           // "" = linux
	has     *[MaxNr + 1]bool // nil = every call

	mu    sync.Mutex
	sites map[uint64]siteLoc // resolved call sites, for site= scopes
}

type siteLoc struct {
	path   string
	offset uint64
}

// loadTampering reads the run directory's rules; nil when there are none
// (or dir is ""). A file that cannot be read or parsed ends the process:
// the supervisor wrote and checked it, so that is vsysbed's failure.
func loadTampering(dir string) *tampering {
	if dir == "" {
		return nil
	}
	f, err := rundir.ReadTamper(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		os.Exit(125)
	}
	if f == nil || f.Empty() {
		return nil
	}
	tm, err := newTampering(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsysbed: %v\n", err)
		os.Exit(125)
	}
	return tm
}

func newTampering(f *rundir.Tamper) (*tampering, error) {
	tm := &tampering{}
	for _, s := range f.Inject {
		in, err := ParseInjection(s)
		if err != nil {
			return nil, err
		}
		tm.rules = append(tm.rules, in)
	}
	if f.Personality != "" && f.Personality != "linux" {
		p, err := ParsePersonality(f.Personality, strings.Join(f.Syscalls, "\n"))
		if err != nil {
			return nil, err
		}
		tm.persona, tm.has = p.Name, &p.Has
	}
	return tm, nil
}

// withRoutes adds to the route overrides the calls tm must see in Go.
func (tm *tampering) withRoutes(overrides map[int]bool) map[int]bool {
	if tm == nil {
		return overrides
	}
	out := map[int]bool{}
	for nr, fast := range overrides {
		out[nr] = fast
	}
	for nr := 0; nr <= MaxNr; nr++ {
		need := tm.has != nil && !tm.has[nr]
		for _, in := range tm.rules {
			need = need || in.Nrs[nr]
		}
		if need {
			out[nr] = false
		}
	}
	return out
}

// tamperedSyscall is t.syscall with the personality and the --inject
// rules applied.
func (t *Task) tamperedSyscall(cb *cblock.ControlBlock, nr int, a *Args) int64 {
	tm := t.P.tamper
	if tm == nil || nr < 0 || nr > MaxNr {
		return t.syscall(nr, a)
	}
	t.tampered, t.injectedReturn = "", false
	if tm.has != nil && !tm.has[nr] {
		t.P.logTampered(coverage.EvMissing, nr, cb, tm.persona)
		t.tampered = "missing in " + tm.persona
		return -int64(unix.ENOSYS)
	}
	i, in := tm.match(t, cb, nr)
	if in == nil {
		return t.syscall(nr, a)
	}
	// when= counts each syscall of the set on its own, as strace does (a
	// rule per tracee and number): %file:when=3 is every file call's third.
	if t.injectSeen == nil {
		t.injectSeen = map[[2]int]uint64{}
	}
	k := [2]int{i, nr}
	t.injectSeen[k]++
	if !in.Fires(t.injectSeen[k]) {
		return t.syscall(nr, a)
	}
	t.P.logTampered(coverage.EvInject, nr, cb, in.Spec)
	t.tampered = "injected " + in.Spec
	if in.Signal != 0 {
		// As strace's restart with a signal at syscall entry: the kernel
		// queues it (send_sig, SI_KERNEL) and the call runs with it
		// pending, delivered on the way back.
		t.P.send(t, t, in.Signal, userInfo(in.Signal, siKernel))
	}
	sleep(in.DelayEnter)
	var ret int64
	if in.HasReturn {
		// The guest gets it as strace's tracee does: an injected EINTR
		// is neither restarted nor hidden (afterSyscall).
		ret, t.injectedReturn = in.Retval, true
	} else {
		ret = t.syscall(nr, a)
	}
	sleep(in.DelayExit)
	return ret
}

func sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// Tampered tells, for the call the task is running or has just run,
// whether --inject changed it ("injected SPEC") or it was missing in the
// personality ("missing in NAME"); "" when neither. A syscall-exit hook
// (tracing) reads it to mark the call.
func (t *Task) Tampered() string { return t.tampered }

// match finds the rule for a call: the last one whose set and scope take
// it (strace keeps one rule per syscall, the last given; a scoped rule
// after a general one thus wins at its scope).
func (tm *tampering) match(t *Task, cb *cblock.ControlBlock, nr int) (int, *Injection) {
	for i := len(tm.rules) - 1; i >= 0; i-- {
		in := tm.rules[i]
		if !in.Nrs[nr] {
			continue
		}
		if in.Pid != 0 && in.Pid != t.guestPid() {
			continue
		}
		if in.Exe != "" && in.Exe != t.P.Exe && in.Exe != filepath.Base(t.P.Exe) {
			continue
		}
		if in.HasSite {
			loc, ok := tm.site(cb.Site)
			if !ok || loc.offset != in.SiteOffset || (loc.path != in.SiteObject && filepath.Base(loc.path) != in.SiteObject) {
				continue
			}
		}
		return i, in
	}
	return 0, nil
}

// guestPid is the pid the task's guest process has.
func (t *Task) guestPid() int {
	p, _ := t.guest.ids(t.CB)
	return p
}

// site resolves a call site's address to its file and offset from our
// own /proc/self/maps (the guest's memory is ours), cached by address.
func (tm *tampering) site(addr uint64) (siteLoc, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if loc, ok := tm.sites[addr]; ok {
		return loc, loc.path != ""
	}
	loc := resolveSite(addr)
	if tm.sites == nil {
		tm.sites = map[uint64]siteLoc{}
	}
	tm.sites[addr] = loc
	return loc, loc.path != ""
}

// resolveSite reads /proc/self/maps with raw calls (no os.File: the
// netpoller's descriptor must not take a guest number).
func resolveSite(addr uint64) siteLoc {
	fd, err := unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return siteLoc{}
	}
	defer unix.Close(fd)
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || addr < start || addr >= end {
			continue
		}
		return siteLoc{path: strings.Join(f[5:], " "), offset: addr - start + off}
	}
	return siteLoc{}
}

// logTampered records an injected or missing call for the report.
func (p *Process) logTampered(ev string, nr int, cb *cblock.ControlBlock, what string) {
	if p.Events != nil {
		p.Events.Tampered(ev, nr, cb.Site, cb.Kind, what)
	}
}
