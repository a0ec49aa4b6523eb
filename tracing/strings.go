package tracing

import (
	"strconv"
	"strings"
)

// quote renders b as strace prints a string: in double quotes, with C
// escapes for \t \n \v \f \r \\ \", other bytes outside printable ASCII
// in octal (three digits when a digit follows), cut to max bytes with
// "..." after the closing quote when more followed (more, or b longer).
func quote(b []byte, max int, more bool) string {
	if max >= 0 && len(b) > max {
		b, more = b[:max], true
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i, c := range b {
		switch c {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\v':
			sb.WriteString(`\v`)
		case '\f':
			sb.WriteString(`\f`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if c >= ' ' && c < 0x7f {
				sb.WriteByte(c)
				continue
			}
			sb.WriteByte('\\')
			o := strconv.FormatUint(uint64(c), 8)
			if i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7' {
				o = strings.Repeat("0", 3-len(o)) + o
			}
			sb.WriteString(o)
		}
	}
	sb.WriteByte('"')
	if more {
		sb.WriteString("...")
	}
	return sb.String()
}

// hex is strace's rendering of an address or raw value.
func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// ptr is an address: NULL for 0.
func ptr(v uint64) string {
	if v == 0 {
		return "NULL"
	}
	return hex(v)
}

// flagName pairs a bit mask with its name.
type flagName struct {
	bits uint64
	name string
}

// flags renders v as names joined by "|", the rest in hex; zero is zero
// (or the name of the zero value, when the table starts with one).
func flags(v uint64, table []flagName) string {
	var parts []string
	for _, f := range table {
		if f.bits == 0 {
			continue
		}
		if v&f.bits == f.bits {
			parts = append(parts, f.name)
			v &^= f.bits
		}
	}
	if v != 0 || len(parts) == 0 {
		if v == 0 && len(table) > 0 && table[0].bits == 0 {
			parts = append(parts, table[0].name)
		} else {
			parts = append(parts, hex(v))
		}
	}
	return strings.Join(parts, "|")
}

// enum renders v by name, or in decimal when it has none.
func enum(v int64, names map[int64]string) string {
	if n, ok := names[v]; ok {
		return n
	}
	return strconv.FormatInt(v, 10)
}
