package coverage

import (
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Demangle returns a C++ (Itanium ABI) or Rust (legacy or v0) symbol's
// name as people read it — `_ZN3foo3barEv` as `foo::bar()` — and any
// other name as it is. A symbol with an offset ("name+0x14") keeps its
// offset. The report's JSON keeps the names as the object file has them
// (tools look them up there); the text, HTML and check outputs show
// them demangled.
func Demangle(name string) string {
	base, off := name, ""
	if i := strings.LastIndex(name, "+0x"); i > 0 {
		base, off = name[:i], name[i:]
	}
	if !strings.HasPrefix(base, "_Z") && !strings.HasPrefix(base, "_R") && !strings.HasPrefix(base, "__Z") {
		return name
	}
	// MaxLength bounds what a hostile or corrupt name can expand to.
	d, err := demangle.ToString(base, demangle.MaxLength(14))
	if err != nil {
		return name
	}
	return d + off
}
