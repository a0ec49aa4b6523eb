package coverage

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemangle(t *testing.T) {
	for in, want := range map[string]string{
		"_ZN3foo3barEv":                      "foo::bar()",
		"_ZN3foo3barEv+0x14":                 "foo::bar()+0x14",
		"_ZNSt6vectorIiSaIiEE9push_backERKi": "std::vector<int, std::allocator<int> >::push_back(int const&)",
		// Rust, legacy (with its hash) and v0.
		"_ZN4core3fmt5write17h0123456789abcdefE": "core::fmt::write",
		"_RNvCs1234_7mycrate3foo":                "mycrate::foo",
		"write":                                  "write",
		"__libc_write+0x10":                      "__libc_write+0x10",
		"_Zbogus":                                "_Zbogus",
	} {
		if got := Demangle(in); got != want {
			t.Errorf("Demangle(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOutputsDemangle: the text table, check and the HTML page show C++
// names demangled; the JSON keeps the object file's.
func TestOutputsDemangle(t *testing.T) {
	r := &Report{Schema: Schema, Command: []string{"prog"}, Complete: true,
		Syscalls: []SyscallRow{{Nr: 39, Name: "getpid", Trap: 1, Total: 1}},
		Sites: []Site{{Object: "/prog", Offset: 0x10, Symbol: "_ZN3foo3barEv+0x4", Function: "_ZN3foo3barEv",
			Nr: 39, Syscall: "getpid", Kind: KindTrap, Count: 1}}}
	r.Totals = Totals{Trap: 1, Total: 1}
	var text, html, check, js bytes.Buffer
	r.WriteText(&text)
	r.WriteHTML(&html)
	max := 0
	Check(r, Gates{MaxTrapSites: &max}).WriteText(&check)
	r.WriteJSON(&js)
	for name, out := range map[string]string{"text": text.String(), "html": html.String(), "check": check.String()} {
		if !strings.Contains(out, "foo::bar()") || strings.Contains(out, "_ZN3foo") {
			t.Errorf("%s output does not demangle:\n%s", name, out)
		}
	}
	if !strings.Contains(js.String(), `"function": "_ZN3foo3barEv"`) {
		t.Errorf("the JSON lost the mangled name:\n%s", js.String())
	}
}
