package kernelsim

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVMASet(t *testing.T) {
	var s vmaSet
	s.add(0x1000, 0x3000)
	s.add(0x5000, 0x6000)
	s.add(0x3000, 0x4000) // touches the first: merged
	if len(s.r) != 2 || s.r[0] != [2]uint64{0x1000, 0x4000} {
		t.Fatalf("merge: %x", s.r)
	}
	cases := []struct {
		start, end uint64
		want       bool
	}{
		{0x1000, 0x4000, true},
		{0x2000, 0x3000, true},
		{0x0, 0x2000, false},
		{0x3000, 0x5000, false}, // spans a hole
		{0x5000, 0x6000, true},
		{0x5800, 0x7000, false},
		{0x9000, 0x9000, true}, // empty
	}
	for _, c := range cases {
		if got := s.covers(c.start, c.end); got != c.want {
			t.Errorf("covers(%#x, %#x) = %v, want %v", c.start, c.end, got, c.want)
		}
	}
	s.remove(0x2000, 0x3000)
	if s.covers(0x1000, 0x4000) || !s.covers(0x1000, 0x2000) || !s.covers(0x3000, 0x4000) {
		t.Errorf("remove punched the wrong hole: %x", s.r)
	}
	s.remove(0x0, 0x10000)
	if len(s.r) != 0 {
		t.Errorf("remove all: %x", s.r)
	}
}

func TestProcSelfFile(t *testing.T) {
	cases := map[string]string{
		"/proc/self/exe":                    "exe",
		"/proc/thread-self/auxv":            "auxv",
		"/proc/" + itoa(pid) + "/cmdline":   "cmdline",
		"/proc/1/exe":                       "",
		"/proc/self/fd/3":                   "",
		"/etc/passwd":                       "",
		"/proc/selfish/exe":                 "",
		"/proc/" + itoa(pid+1) + "/environ": "",
	}
	for path, want := range cases {
		if got := procSelfFile(path); got != want {
			t.Errorf("procSelfFile(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestParseProcFD(t *testing.T) {
	other := pid + 1
	for path, want := range map[string]*procFD{
		"/proc/self/fd":                         {pid, -1},
		"/proc/self/fd/":                        {pid, -1},
		"/proc//self/./fd":                      {pid, -1},
		"/proc/thread-self/fd":                  {pid, -1},
		"/proc/" + itoa(pid) + "/fd/":           {pid, -1},
		"/proc/self/fdinfo":                     {pid, -1},
		"/proc/self/fd/3":                       {pid, 3},
		"/proc/self/fdinfo/1000":                {pid, 1000},
		"/proc/" + itoa(other) + "/fd":          {other, -1},
		"/proc/self/task/12/fd":                 {pid, -1},
		"/proc/" + itoa(other) + "/task/9/fd/7": {other, 7},
		"/proc/self/task/x/fd":                  nil,
		"/proc/self/fd/3/x":                     nil,
		"/proc/self/fd/-1":                      nil,
		"/proc/self/maps":                       nil,
		"/proc/fd":                              nil,
		"/dev/fd":                               nil,
	} {
		got, ok := parseProcFD(path)
		if want == nil {
			if ok {
				t.Errorf("parseProcFD(%q) = %+v, want none", path, got)
			}
			continue
		}
		if !ok || got != *want {
			t.Errorf("parseProcFD(%q) = %+v %v, want %+v", path, got, ok, *want)
		}
	}
}

func TestFilterDirents(t *testing.T) {
	// linux_dirent64: ino 8, off 8, reclen 2, type 1, name NUL-padded.
	ent := func(name string) []byte {
		n := (19 + len(name) + 1 + 7) &^ 7
		b := make([]byte, n)
		b[16] = byte(n)
		copy(b[19:], name)
		return b
	}
	var buf []byte
	for _, name := range []string{".", "..", "0", "3", "1000", "1100", "2"} {
		buf = append(buf, ent(name)...)
	}
	out := filterDirents(buf, func(fd int) bool { return fd >= 1000 })
	var names []string
	for off := 0; off < len(out); {
		reclen := int(out[off+16])
		names = append(names, cstring(out[off+19:off+reclen]))
		off += reclen
	}
	if got := strings.Join(names, ","); got != ".,..,0,3,2" {
		t.Errorf("kept %s", got)
	}
}

// Every row must be usable: a name, a handler where the route needs one,
// an errno where it refuses, and a note that documents it.
func TestTableRows(t *testing.T) {
	rows := Table()
	if len(rows) != MaxNr+1 {
		t.Fatalf("%d rows, want %d", len(rows), MaxNr+1)
	}
	for nr, r := range rows {
		if r.Nr != nr || r.Name != Name(nr) {
			t.Errorf("row %d: nr %d name %q", nr, r.Nr, r.Name)
		}
		switch r.Route {
		case Guarded, Emulated:
			if r.Handler == nil {
				t.Errorf("%s: %v without a handler", r.Name, r.Route)
			}
		case Refused:
			if r.Errno == 0 {
				t.Errorf("%s: refused without an errno", r.Name)
			}
		}
		if r.Note == "" {
			t.Errorf("%s: no note", r.Name)
		}
	}
}

// These corrupt the host when passed through (ARCHITECTURE.md, "What kernelsim owns").
func TestMustOwnNeverFast(t *testing.T) {
	for _, name := range []string{"arch_prctl", "set_tid_address", "set_robust_list", "rseq", "brk",
		"clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group",
		"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigsuspend",
		"rt_sigpending", "rt_sigtimedwait", "kill", "tgkill", "tkill", "seccomp", "prctl", "ptrace",
		"mmap", "munmap", "mprotect", "mremap", "madvise", "close", "close_range", "dup2", "dup3"} {
		nr, ok := Number(name)
		if !ok {
			t.Fatalf("no syscall %q", name)
		}
		if table[nr].Route == Fast {
			t.Errorf("%s takes the fast route", name)
		}
	}
	if table[unix.SYS_RSEQ].Errno != unix.ENOSYS {
		t.Errorf("rseq must answer ENOSYS")
	}
}

func TestGuestMemoryHelpers(t *testing.T) {
	buf := []byte("hello\x00world")
	got, err := readString(uint64(addrOf(buf)), 64)
	if err != nil || got != "hello" {
		t.Fatalf("readString = %q, %v", got, err)
	}
	if _, err := readString(0x10, 64); err == nil {
		t.Error("readString of a bad pointer succeeded")
	}
	if err := writeGuest(0x10, []byte{1}); err == nil {
		t.Error("writeGuest to a bad pointer succeeded")
	}
	if r := errnoOf(unix.EFAULT); r != -int64(unix.EFAULT) {
		t.Errorf("errnoOf = %d", r)
	}
	if !strings.Contains(cstring([]byte("ab\x00cd")), "ab") {
		t.Error("cstring")
	}
}

func TestVMASetWithin(t *testing.T) {
	var s vmaSet
	s.add(0x1000, 0x3000)
	s.add(0x5000, 0x6000)
	got := s.within(0x2000, 0x5800)
	want := [][2]uint64{{0x2000, 0x3000}, {0x5000, 0x5800}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("within = %#x, want %#x", got, want)
	}
	if got := s.within(0x3000, 0x5000); len(got) != 0 {
		t.Fatalf("within a hole = %#x", got)
	}
}

func TestCloneFlagsCheck(t *testing.T) {
	for _, c := range []struct {
		flags uint64
		bad   bool
	}{
		{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD, false},
		{unix.CLONE_THREAD, true},
		{unix.CLONE_SIGHAND, true},
		{unix.CLONE_NEWUSER | unix.CLONE_FS, true},
		{unix.CLONE_NEWNS | unix.CLONE_FS, true},
		{uint64(unix.SIGCHLD), false},
	} {
		if got := cloneFlagsCheck(c.flags) != 0; got != c.bad {
			t.Errorf("cloneFlagsCheck(%#x) refuses: %v, want %v", c.flags, got, c.bad)
		}
	}
}
