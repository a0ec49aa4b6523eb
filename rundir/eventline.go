package rundir

import (
	"strconv"
	"unicode/utf8"
)

// eventLine is one event's JSON object, written by hand. encoding/json's
// first Marshal of each struct type reflects over it and builds its
// encoder (~0.1 ms a kind, about ten kinds): a millisecond of every host
// process's start-up went there. The lines decode to the same values
// (TestEventLinesAreJSONs).
type eventLine struct{ b []byte }

// newEvent starts the line of an event of kind ev by process pid.
func newEvent(ev string, pid int) *eventLine {
	l := &eventLine{b: make([]byte, 0, 160)}
	l.b = append(l.b, `{"ev":`...)
	l.b = appendJSONString(l.b, ev)
	return l.int("pid", int64(pid))
}

func (l *eventLine) key(k string) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, k...)
	l.b = append(l.b, '"', ':')
}

func (l *eventLine) str(k, v string) *eventLine {
	l.key(k)
	l.b = appendJSONString(l.b, v)
	return l
}

func (l *eventLine) strs(k string, v []string) *eventLine {
	l.key(k)
	l.b = append(l.b, '[')
	for i, s := range v {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = appendJSONString(l.b, s)
	}
	l.b = append(l.b, ']')
	return l
}

func (l *eventLine) int(k string, v int64) *eventLine {
	l.key(k)
	l.b = strconv.AppendInt(l.b, v, 10)
	return l
}

func (l *eventLine) uint(k string, v uint64) *eventLine {
	l.key(k)
	l.b = strconv.AppendUint(l.b, v, 10)
	return l
}

// hex is coverage.Hex's form: "0x..." in lower case.
func (l *eventLine) hex(k string, v uint64) *eventLine {
	l.key(k)
	l.b = append(l.b, `"0x`...)
	l.b = strconv.AppendUint(l.b, v, 16)
	l.b = append(l.b, '"')
	return l
}

// line is the finished object and its newline.
func (l *eventLine) line() []byte { return append(l.b, '}', '\n') }

// appendJSONString appends s as a JSON string, as encoding/json decodes
// it back: quotes, backslashes and control characters escaped, invalid
// UTF-8 as U+FFFD (as json.Marshal writes it).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
