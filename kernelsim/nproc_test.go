package kernelsim

import "testing"

func TestStatusField(t *testing.T) {
	b := []byte("Name:\tsh\nUid:\t65534\t65534\t65534\t65534\nThreads:\t9\nCapEff:\t0000000000000000\n")
	for _, c := range []struct{ key, want string }{
		{"Uid", "65534\t65534\t65534\t65534"},
		{"Threads", "9"},
		{"CapEff", "0000000000000000"},
	} {
		if got, ok := statusField(b, c.key); !ok || got != c.want {
			t.Errorf("statusField(%q) = %q, %v; want %q", c.key, got, ok, c.want)
		}
	}
	if _, ok := statusField(b, "Thread"); ok {
		t.Error("a key's prefix matched")
	}
}
