package kernelsim

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tracing"
)

// Injection is one --inject rule, strace's -e inject= expression: which
// calls (a syscall set, optionally narrowed to a call site or a process)
// and what is done to them (an error or a return value instead of the
// call, a signal, delays), on which invocations (when=).
type Injection struct {
	Spec string          // as given, for messages and the report
	Nrs  [MaxNr + 1]bool // the syscall set

	// Error or Retval replaces the call (it does not run): the guest gets
	// -Error or Retval. HasReturn says one of them was given.
	HasReturn bool
	Error     unix.Errno
	Retval    int64

	Signal     int           // queued for the calling thread on entry, 0 = none
	DelayEnter time.Duration // before the call
	DelayExit  time.Duration // after it

	// When: the invocations, counted per thread (as strace counts per
	// tracee) among the calls the rule's set and scope match, from 1.
	// Last 0 is unbounded; Step 0 is First alone.
	First, Last, Step uint32

	// Scope: a call site (SiteObject is a mapped file's path or base
	// name, SiteOffset the offset in it, as the report's sites), a guest
	// pid, an executable (base name or path). Empty or 0 is any.
	SiteObject string
	SiteOffset uint64
	HasSite    bool
	Pid        int
	Exe        string
}

// injectLastMax and injectFirstMax are strace's bounds of when='s numbers.
const (
	injectFirstMax = 65535
	injectLastMax  = 65534
)

// ParseInjection parses one --inject argument. It takes strace's own
// forms — "SET:KEY=VALUE:...", the same after "inject=" or "-e inject=",
// and "fault=SET:..." (error defaults to ENOSYS) — and the set given as
// a key, "syscall=openat:error=ENOENT". Keys: error, retval, signal,
// delay_enter, delay_exit, when (strace's meanings), and the scopes site
// (OBJECT+OFFSET), pid and exe. After a positional set, syscall=NAME is
// strace's substitution of a pure syscall for the replaced one: its
// result is overwritten all the same, so it is accepted and has no
// effect.
func ParseInjection(s string) (*Injection, error) {
	spec := strings.TrimSpace(s)
	spec = strings.TrimPrefix(spec, "-e ")
	spec = strings.TrimPrefix(spec, "--")
	fault := false
	switch {
	case strings.HasPrefix(spec, "inject="):
		spec = strings.TrimPrefix(spec, "inject=")
	case strings.HasPrefix(spec, "fault="):
		spec, fault = strings.TrimPrefix(spec, "fault="), true
	}
	in := &Injection{Spec: s, First: 1, Step: 1}
	fail := func(format string, a ...any) (*Injection, error) {
		return nil, fmt.Errorf("--inject %q: %s", s, fmt.Sprintf(format, a...))
	}
	parts := strings.Split(spec, ":")
	set := ""
	positional := false
	if len(parts) > 0 && !strings.Contains(parts[0], "=") {
		set, positional, parts = parts[0], true, parts[1:]
	}
	hasError, hasRetval, hasSignal, hasDelay := false, false, false, false
	for _, p := range parts {
		key, val, ok := strings.Cut(p, "=")
		if !ok {
			return fail("%q is not KEY=VALUE", p)
		}
		switch key {
		case "syscall":
			if positional {
				if _, ok := Number(val); !ok {
					return fail("unknown syscall %q", val)
				}
				continue
			}
			if set != "" {
				return fail("two syscall sets")
			}
			set = val
		case "error":
			if hasError || hasRetval {
				return fail("only one error= or retval= is allowed")
			}
			e, err := parseErrno(val)
			if err != nil {
				return fail("%v", err)
			}
			in.Error, hasError = e, true
		case "retval":
			if hasError || hasRetval {
				return fail("only one error= or retval= is allowed")
			}
			v, err := strconv.ParseInt(val, 0, 64)
			if err != nil {
				u, uerr := strconv.ParseUint(val, 0, 64)
				if uerr != nil {
					return fail("retval %q is not a number", val)
				}
				v = int64(u)
			}
			in.Retval, hasRetval = v, true
		case "signal":
			if hasSignal {
				return fail("only one signal= is allowed")
			}
			sig, err := parseSignal(val)
			if err != nil {
				return fail("%v", err)
			}
			in.Signal, hasSignal = sig, true
		case "delay_enter", "delay_exit":
			d, err := parseDelay(val)
			if err != nil {
				return fail("%s: %v", key, err)
			}
			if key == "delay_enter" {
				in.DelayEnter = d
			} else {
				in.DelayExit = d
			}
			hasDelay = true
		case "when":
			// The last when= takes precedence, as in strace.
			if err := in.parseWhen(val); err != nil {
				return fail("when=%s: %v", val, err)
			}
		case "site":
			obj, off, ok := strings.Cut(val, "+")
			o, err := strconv.ParseUint(off, 0, 64)
			if !ok || obj == "" || err != nil {
				return fail("site=%s: want OBJECT+OFFSET (an object's path or base name, a hex offset as the report prints it)", val)
			}
			in.SiteObject, in.SiteOffset, in.HasSite = obj, o, true
		case "pid":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return fail("pid=%s is not a pid", val)
			}
			in.Pid = n
		case "exe":
			if val == "" {
				return fail("exe= needs a name")
			}
			in.Exe = val
		case "poke_enter", "poke_exit":
			return fail("%s is not supported", key)
		default:
			return fail("unknown key %q", key)
		}
	}
	if set == "" {
		return fail("no syscall set (SET:... or syscall=SET)")
	}
	if err := in.parseSet(set); err != nil {
		return fail("%v", err)
	}
	if fault && !hasError && !hasRetval {
		in.Error, hasError = unix.ENOSYS, true
	}
	if !hasError && !hasRetval && !hasSignal && !hasDelay {
		return fail("one of error=, retval=, signal=, delay_enter=, delay_exit= is needed")
	}
	in.HasReturn = hasError || hasRetval
	if hasError {
		in.Retval = -int64(in.Error)
	}
	return in, nil
}

// parseSet reads strace's syscall set: names separated by commas, each
// possibly "?name" (unknown names ignored) or "/regex"; "all", "none";
// strace's classes (%file, %process, ...: tracing.ClassMembers); a
// leading "!" negates the whole set.
func (in *Injection) parseSet(set string) error {
	neg := strings.HasPrefix(set, "!")
	set = strings.TrimPrefix(set, "!")
	for _, name := range strings.Split(set, ",") {
		optional := strings.HasPrefix(name, "?")
		name = strings.TrimPrefix(name, "?")
		switch {
		case name == "all":
			for nr := range in.Nrs {
				in.Nrs[nr] = true
			}
		case name == "none":
		case strings.HasPrefix(name, "/"):
			re, err := regexp.Compile(name[1:])
			if err != nil {
				return fmt.Errorf("syscall regex %q: %w", name[1:], err)
			}
			for nr := range in.Nrs {
				if n := Name(nr); !strings.HasPrefix(n, "reserved_") && re.MatchString(n) {
					in.Nrs[nr] = true
				}
			}
		case strings.HasPrefix(name, "%"):
			members := tracing.ClassMembers(name[1:])
			if members == nil {
				if optional {
					continue
				}
				return fmt.Errorf("unknown syscall class %q", name)
			}
			for _, m := range members {
				if nr, ok := Number(m); ok {
					in.Nrs[nr] = true
				}
			}
		default:
			nr, ok := Number(name)
			if !ok {
				if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= MaxNr {
					nr, ok = n, true
				}
			}
			if !ok {
				if optional {
					continue
				}
				return fmt.Errorf("unknown syscall %q", name)
			}
			in.Nrs[nr] = true
		}
	}
	if neg {
		for nr := range in.Nrs {
			in.Nrs[nr] = !in.Nrs[nr]
		}
	}
	return nil
}

// parseWhen reads first[..last][+[step]].
func (in *Injection) parseWhen(v string) error {
	rest := v
	num := func(max uint64) (uint32, error) {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil || n < 1 || n > max {
			return 0, fmt.Errorf("want a number from 1 to %d", max)
		}
		rest = rest[i:]
		return uint32(n), nil
	}
	first, err := num(injectFirstMax)
	if err != nil {
		return err
	}
	in.First, in.Last, in.Step = first, 0, 0
	if strings.HasPrefix(rest, "..") {
		rest = rest[2:]
		last, err := num(injectLastMax)
		if err != nil {
			return err
		}
		if last < first {
			return fmt.Errorf("last %d is before first %d", last, first)
		}
		in.Last, in.Step = last, 1
	}
	if strings.HasPrefix(rest, "+") {
		rest = rest[1:]
		in.Step = 1
		if rest != "" {
			step, err := num(injectFirstMax)
			if err != nil {
				return err
			}
			in.Step = step
		}
	}
	if rest != "" {
		return fmt.Errorf("unexpected %q", rest)
	}
	return nil
}

// Fires tells whether invocation n (from 1) of the matched calls is
// injected.
func (in *Injection) Fires(n uint64) bool {
	f := uint64(in.First)
	if n < f || (in.Last != 0 && n > uint64(in.Last)) {
		return false
	}
	if n == f {
		return true
	}
	return in.Step != 0 && (n-f)%uint64(in.Step) == 0
}

// parseErrno takes a name (ENOENT) or a number from 1 to 4095.
func parseErrno(v string) (unix.Errno, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 4095 {
			return 0, fmt.Errorf("error %d is outside 1..4095", n)
		}
		return unix.Errno(n), nil
	}
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == v {
			return e, nil
		}
	}
	// Names the table lacks (aliases, the kernel's own) but strace knows.
	switch v {
	case "EWOULDBLOCK":
		return unix.EAGAIN, nil
	case "EDEADLOCK":
		return unix.EDEADLK, nil
	case "ENOTSUP":
		return unix.EOPNOTSUPP, nil
	case "ERESTARTSYS":
		return 512, nil
	case "ERESTARTNOINTR":
		return 513, nil
	case "ERESTARTNOHAND":
		return 514, nil
	case "ERESTART_RESTARTBLOCK":
		return 516, nil
	}
	return 0, fmt.Errorf("unknown error %q", v)
}

// parseSignal takes SIGUSR1, USR1 or a number from 1 to 64.
func parseSignal(v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > nsig {
			return 0, fmt.Errorf("signal %d is outside 1..%d", n, nsig)
		}
		return n, nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if s := unix.SignalNum(name); s != 0 {
		return int(s), nil
	}
	return 0, fmt.Errorf("unknown signal %q", v)
}

// parseDelay reads strace's time format: a decimal number with an
// optional unit s, ms, us or ns; microseconds without one.
func parseDelay(v string) (time.Duration, error) {
	unit := time.Microsecond
	num := v
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}} {
		if strings.HasSuffix(v, u.suffix) {
			num, unit = strings.TrimSuffix(v, u.suffix), u.d
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("bad time %q", v)
	}
	d := f * float64(unit)
	if d > float64(math.MaxInt64) {
		return 0, fmt.Errorf("time %q is too long", v)
	}
	return time.Duration(d), nil
}
