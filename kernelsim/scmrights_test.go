package kernelsim

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestPassesHostFD(t *testing.T) {
	entry.SetHostFDBase(1000)
	rights := func(fds ...int) []byte {
		return unix.UnixRights(fds...)
	}
	cred := unix.UnixCredentials(&unix.Ucred{Pid: 1, Uid: 0, Gid: 0})
	for name, c := range map[string]struct {
		buf  []byte
		want bool
	}{
		"guest fds":              {rights(0, 1, 999), false},
		"a host fd":              {rights(3, 1000), true},
		"credentials, then host": {append(cred, rights(1001)...), true},
		"credentials only":       {cred, false},
		"truncated":              {rights(1000)[:15], false},
	} {
		if got := passesHostFD(c.buf); got != c.want {
			t.Errorf("%s: got %v, want %v", name, got, c.want)
		}
	}
}
