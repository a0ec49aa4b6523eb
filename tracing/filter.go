package tracing

import (
	"fmt"
	"regexp"
	"strings"
)

// Set is the calls to trace, indexed by syscall number.
type Set []bool

// ParseExpr parses one -e expression in strace's syntax: an optional
// "trace=" qualifier, then a comma list of syscall names, %classes
// (%file, %desc, %process, %network or %net, %signal, %memory, %ipc,
// %creds, %clock), /regular expressions over the names, "all" and
// "none"; a leading "!" negates the whole list. into is the set so far
// (several -e trace= flags add up, as in strace); names maps a number to
// its name, number a name to its number.
func ParseExpr(expr string, into Set, names func(int) string, number func(string) (int, bool)) (Set, error) {
	q, list, ok := strings.Cut(expr, "=")
	if !ok {
		q, list = "trace", expr
	}
	if q != "trace" && q != "t" {
		return nil, fmt.Errorf("-e %s=: only the trace qualifier is supported", q)
	}
	neg := strings.HasPrefix(list, "!")
	list = strings.TrimPrefix(list, "!")
	sel := make(Set, SetSize)
	add := func(nr int) {
		if nr >= 0 && nr < len(sel) {
			sel[nr] = true
		}
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimPrefix(item, "?") // strace's "no error if none matched"
		switch {
		case item == "":
			return nil, fmt.Errorf("-e trace=%s: empty syscall name", list)
		case item == "all":
			for i := range sel {
				sel[i] = true
			}
		case item == "none":
		case item[0] == '%':
			members := classMembers(item[1:])
			if members == nil {
				return nil, fmt.Errorf("-e trace: unknown class %q", item)
			}
			for _, n := range members {
				if nr, ok := number(n); ok {
					add(nr)
				}
			}
		case item[0] == '/':
			re, err := regexp.Compile(item[1:])
			if err != nil {
				return nil, fmt.Errorf("-e trace: %q: %v", item, err)
			}
			for nr := range sel {
				if re.MatchString(names(nr)) {
					add(nr)
				}
			}
		default:
			nr, ok := number(item)
			if !ok {
				return nil, fmt.Errorf("-e trace: unknown syscall %q", item)
			}
			add(nr)
		}
	}
	out := make(Set, SetSize)
	copy(out, into)
	for i, on := range sel {
		if neg {
			on = !on
		}
		out[i] = out[i] || on
	}
	return out, nil
}

// SetSize is the numbers a Set covers: the x86-64 table (x32 numbers and
// beyond are answered ENOSYS before any tracing, tls/entry.c).
const SetSize = 512

// All is the set of every call (tracing without -e trace=).
func All() Set {
	s := make(Set, SetSize)
	for i := range s {
		s[i] = true
	}
	return s
}
