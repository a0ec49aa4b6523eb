package kernelsim

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseInjectionForms(t *testing.T) {
	for _, spec := range []string{
		"chdir:error=ENOENT:when=3+",
		"inject=chdir:error=ENOENT:when=3+",
		"-e inject=chdir:error=ENOENT:when=3+",
		"syscall=chdir:error=ENOENT:when=3+",
		"chdir:error=2:when=3+",
		"chdir:syscall=gettid:error=ENOENT:when=3+", // strace's substitution: no effect
	} {
		in, err := ParseInjection(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		nr, _ := Number("chdir")
		if !in.Nrs[nr] || in.Nrs[nr+1] || !in.HasReturn || in.Retval != -int64(unix.ENOENT) || in.First != 3 || in.Step != 1 || in.Last != 0 {
			t.Errorf("%s: got %+v", spec, in)
		}
	}
	in, err := ParseInjection("fault=openat,read")
	if err != nil || in.Retval != -int64(unix.ENOSYS) || !in.Nrs[unix.SYS_OPENAT] || !in.Nrs[unix.SYS_READ] || in.Nrs[unix.SYS_WRITE] {
		t.Errorf("fault=: %+v %v", in, err)
	}
	in, err = ParseInjection("!openat:retval=0")
	if err != nil || in.Nrs[unix.SYS_OPENAT] || !in.Nrs[unix.SYS_READ] || in.Retval != 0 || !in.HasReturn {
		t.Errorf("negated set: %+v %v", in, err)
	}
	in, err = ParseInjection("/^get.*id$:signal=USR1")
	if err != nil || !in.Nrs[unix.SYS_GETPID] || !in.Nrs[unix.SYS_GETUID] || in.Nrs[unix.SYS_READ] || in.HasReturn || in.Signal != int(unix.SIGUSR1) {
		t.Errorf("regex set: %+v %v", in, err)
	}
	in, err = ParseInjection("%file,getpid:error=EACCES")
	if err != nil || !in.Nrs[unix.SYS_OPENAT] || !in.Nrs[unix.SYS_CHDIR] || !in.Nrs[unix.SYS_GETPID] || in.Nrs[unix.SYS_READ] {
		t.Errorf("class set: %+v %v", in, err)
	}
	in, err = ParseInjection("!%file:retval=0")
	if err != nil || in.Nrs[unix.SYS_OPENAT] || !in.Nrs[unix.SYS_READ] {
		t.Errorf("negated class: %+v %v", in, err)
	}
	in, err = ParseInjection("getpid:delay_enter=1.5ms:delay_exit=20")
	if err != nil || in.DelayEnter != 1500*time.Microsecond || in.DelayExit != 20*time.Microsecond || in.HasReturn {
		t.Errorf("delays: %+v %v", in, err)
	}
	in, err = ParseInjection("openat:error=EACCES:site=libc.so.6+0xfcfff:pid=42:exe=bash")
	if err != nil || !in.HasSite || in.SiteObject != "libc.so.6" || in.SiteOffset != 0xfcfff || in.Pid != 42 || in.Exe != "bash" {
		t.Errorf("scopes: %+v %v", in, err)
	}
}

func TestParseInjectionErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"chdir":                         "one of error=",
		"chdir:error=ENOENT:retval=0":   "only one error= or retval=",
		"chdir:error=EBOGUS":            "unknown error",
		"chdir:error=4096":              "outside 1..4095",
		"nosuchcall:error=ENOENT":       "unknown syscall",
		"?nosuchcall,chdir:error=EPERM": "",
		"chdir:when=0":                  "from 1 to 65535",
		"chdir:when=5..3":               "before first",
		"chdir:when=1..65535":           "from 1 to 65534",
		"chdir:when=2x":                 "unexpected",
		"%bogus:error=ENOENT":           "unknown syscall class",
		"?%bogus,chdir:error=EPERM":     "",
		"chdir:signal=SIGNOPE":          "unknown signal",
		"chdir:delay_enter=1h":          "bad time",
		"chdir:site=libc.so.6":          "OBJECT+OFFSET",
		"chdir:poke_enter=@arg1=00":     "not supported",
		"chdir:colour=red:error=EPERM":  "unknown key",
		"error=EPERM":                   "no syscall set",
	} {
		_, err := ParseInjection(spec)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", spec, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want an error with %q", spec, err, want)
		}
	}
}

// TestInjectionWhen checks when='s invocations against the table in
// strace(1).
func TestInjectionWhen(t *testing.T) {
	for when, want := range map[string]string{
		"":         "1 2 3 4 5 6 7 8 9 10",
		"3":        "3",
		"3..6":     "3 4 5 6",
		"3+":       "3 4 5 6 7 8 9 10",
		"3..6+":    "3 4 5 6",
		"2+3":      "2 5 8",
		"2..8+3":   "2 5 8",
		"2..7+3":   "2 5",
		"1+1":      "1 2 3 4 5 6 7 8 9 10",
		"10":       "10",
		"11":       "",
		"4..4":     "4",
		"3..9+100": "3",
	} {
		spec := "getpid:retval=0"
		if when != "" {
			spec += ":when=" + when
		}
		in, err := ParseInjection(spec)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for n := uint64(1); n <= 10; n++ {
			if in.Fires(n) {
				got = append(got, strconv.FormatUint(n, 10))
			}
		}
		if s := strings.Join(got, " "); s != want {
			t.Errorf("when=%s: fires at %q, want %q", when, s, want)
		}
	}
}

func TestPersonalities(t *testing.T) {
	p, err := LoadPersonality("unikraft")
	if err != nil {
		t.Fatal(err)
	}
	// The Loupe database's list has 174 names.
	if len(p.Syscalls) != 174 || !p.Has[unix.SYS_OPENAT] || p.Has[unix.SYS_RSEQ] || p.Has[unix.SYS_STATX] {
		t.Errorf("unikraft: %d names, openat %v, rseq %v", len(p.Syscalls), p.Has[unix.SYS_OPENAT], p.Has[unix.SYS_RSEQ])
	}
	if p, err := LoadPersonality("linux"); p != nil || err != nil {
		t.Errorf("linux: %v %v", p, err)
	}
	if _, err := LoadPersonality("/nonexistent/list"); err == nil {
		t.Error("a missing file loaded")
	}
	q, err := ParsePersonality("mine", "read\nwrite # the output\n\n# comment\nexit_group\nread\n")
	if err != nil || strings.Join(q.Syscalls, ",") != "read,write,exit_group" {
		t.Errorf("file: %+v %v", q, err)
	}
	if _, err := ParsePersonality("bad", "read\nfrobnicate\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown name: %v", err)
	}
}
