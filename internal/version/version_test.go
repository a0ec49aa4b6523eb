package version

import (
	"strings"
	"testing"
)

func TestStampWins(t *testing.T) {
	defer func(s string) { stamp = s }(stamp)
	stamp = "v9.9.9"
	if String() != "v9.9.9" || !strings.HasPrefix(Line(), "vsysbed v9.9.9 (go") {
		t.Errorf("String %q, Line %q", String(), Line())
	}
	stamp = ""
	if s := String(); s == "" || strings.ContainsAny(s, " \n") {
		t.Errorf("unstamped String() = %q, want one word", s)
	}
}
