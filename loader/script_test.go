package loader

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseShebang(t *testing.T) {
	long := "#!/" + strings.Repeat("a", 300) + "\n"
	longArg := "#!/bin/sh " + strings.Repeat("b", 300) + "\n"
	cases := []struct {
		in           string
		interp, arg  string
		isScript     bool
		errSubstring string
	}{
		{in: "", isScript: false},
		{in: "#", isScript: false},
		{in: "\x7fELF", isScript: false},
		{in: "#!/bin/sh\n", interp: "/bin/sh", isScript: true},
		{in: "#!/bin/sh", interp: "/bin/sh", isScript: true}, // no newline, short file
		{in: "#! /bin/sh\necho", interp: "/bin/sh", isScript: true},
		{in: "#!\t/usr/bin/env  python3 -u  \t\n", interp: "/usr/bin/env", arg: "python3 -u", isScript: true},
		{in: "#!/bin/sh -e\r\n", interp: "/bin/sh", arg: "-e\r", isScript: true}, // Linux keeps the CR
		{in: "#!/bin/sh\x00 -x\n", interp: "/bin/sh", isScript: true},
		{in: "#!\n", isScript: true, errSubstring: "names no interpreter"},
		{in: "#!   \t \n", isScript: true, errSubstring: "names no interpreter"},
		{in: long, isScript: true, errSubstring: "longer than 256 bytes"},
		// A long optional argument is cut at the buffer's last byte, as in Linux.
		{in: longArg, interp: "/bin/sh", arg: strings.Repeat("b", 255-len("#!/bin/sh ")), isScript: true},
	}
	for _, c := range cases {
		interp, arg, ok, err := parseShebang([]byte(c.in))
		if ok != c.isScript {
			t.Errorf("%q: isScript %v, want %v", c.in, ok, c.isScript)
		}
		if c.errSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSubstring) || err.(*ExecError).Errno != unix.ENOEXEC {
				t.Errorf("%q: error %v, want ENOEXEC containing %q", c.in, err, c.errSubstring)
			}
			continue
		}
		if err != nil || interp != c.interp || arg != c.arg {
			t.Errorf("%q: got (%q, %q, %v), want (%q, %q)", c.in, interp, arg, err, c.interp, c.arg)
		}
	}
}

func TestScriptArgv(t *testing.T) {
	got := scriptArgv("/bin/sh", "-e", "./s.sh", []string{"s.sh", "a", "b"})
	if fmt.Sprint(got) != "[/bin/sh -e ./s.sh a b]" {
		t.Errorf("got %q", got)
	}
	got = scriptArgv("/bin/sh", "", "./s.sh", nil)
	if fmt.Sprint(got) != "[/bin/sh ./s.sh]" {
		t.Errorf("got %q", got)
	}
}

func TestLoadScript(t *testing.T) {
	sh := "/bin/sh"
	resolvedSh, err := filepath.EvalSymlinks(sh)
	if err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	dir := t.TempDir()
	s1 := filepath.Join(dir, "s1")
	writeExec(t, s1, "#!/bin/sh -e\necho hi\n")
	s2 := filepath.Join(dir, "s2")
	writeExec(t, s2, "#!"+s1+"\n")

	t.Run("one level", func(t *testing.T) {
		spec := Spec{Path: s1, Argv: []string{"s1", "x"}, Envp: []string{"K=V"}}
		im, err := Load(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Unmap()
		if fmt.Sprint(im.Argv) != fmt.Sprint([]string{"/bin/sh", "-e", s1, "x"}) {
			t.Errorf("argv %q", im.Argv)
		}
		if im.Path != resolvedSh || im.ExecFn != s1 {
			t.Errorf("Path %q ExecFn %q, want %q and %q", im.Path, im.ExecFn, resolvedSh, s1)
		}
		checkStack(t, im, spec, sh)
		checkMappingsAgainstKernel(t, im)
	})
	t.Run("chain", func(t *testing.T) {
		spec := Spec{Path: s2, Argv: []string{"s2", "y"}}
		im, err := Load(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Unmap()
		if fmt.Sprint(im.Argv) != fmt.Sprint([]string{"/bin/sh", "-e", s1, s2, "y"}) {
			t.Errorf("argv %q", im.Argv)
		}
		if im.Interp == "" {
			t.Errorf("/bin/sh's PT_INTERP was not followed")
		}
		checkStack(t, im, spec, sh)
	})
	t.Run("depth limit", func(t *testing.T) {
		prev := s1 // s1 -> sh: one level
		for i := 2; i <= maxScriptDepth+1; i++ {
			p := filepath.Join(dir, fmt.Sprintf("d%d", i))
			writeExec(t, p, "#!"+prev+"\n")
			prev = p
			im, err := Load(Spec{Path: p, Argv: []string{p}})
			if i <= maxScriptDepth {
				if err != nil {
					t.Fatalf("chain of %d scripts: %v", i, err)
				}
				im.Unmap()
				continue
			}
			expectExecError(t, err, unix.ELOOP, "more than 5 levels of #! interpreters")
		}
	})
	t.Run("missing interpreter", func(t *testing.T) {
		p := filepath.Join(dir, "m")
		writeExec(t, p, "#!/nonexistent/sh -x\n")
		_, err := Load(Spec{Path: p, Argv: []string{p}})
		expectExecError(t, err, unix.ENOENT, "vsysbed: "+p+": interpreter /nonexistent/sh not found")
	})
	t.Run("interpreter not executable", func(t *testing.T) {
		p := filepath.Join(dir, "n")
		writeExec(t, p, "#!/etc/passwd\n")
		_, err := Load(Spec{Path: p, Argv: []string{p}})
		expectExecError(t, err, unix.EACCES, "/etc/passwd: permission denied")
	})
}

func writeExec(t *testing.T, path, content string) {
	t.Helper()
	if err := writeFileMode(path, content); err != nil {
		t.Fatal(err)
	}
}
