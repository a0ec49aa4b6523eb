package main

import (
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/kernelsim"
)

// FuzzParseRoute: --route NAME=fast|kernel never panics, and what it
// accepts names a real syscall and one of the two routes.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"getpid=fast", "write=kernel", "getpid", "=fast", "nosuch=fast", "read=slow", "read==fast"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		nr, fast, err := parseRoute(v)
		if err != nil {
			return
		}
		name, route, _ := strings.Cut(v, "=")
		if got, ok := kernelsim.Number(name); !ok || got != nr {
			t.Fatalf("%q: syscall %d, the table says %d (%v)", v, nr, got, ok)
		}
		if (route == "fast") != fast || (route != "fast" && route != "kernel") {
			t.Fatalf("%q: fast=%v", v, fast)
		}
	})
}
