package loader

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// argmaxArgv is the argv e2e/guests/argmax execs itself with: its name,
// "child", then fill bytes in strings of at most 4095 bytes.
func argmaxArgv(fill int) []string {
	argv := []string{"./argmax", "child"}
	chunk := strings.Repeat("x", 4095)
	for ; fill > 0; fill -= min(fill, 4095) {
		argv = append(argv, chunk[:min(fill, 4095)])
	}
	return argv
}

func emptyArgv(n int) []string {
	return append([]string{"./argmax", "child"}, make([]string, n)...)
}

// TestArgSpaceBoundaries holds the boundaries argmax measured natively
// (Linux 6.18, `argmax 0`, `1024`, `65536`, `200`): the largest
// accepted list is accepted, one byte (or one empty string) more is E2BIG.
func TestArgSpaceBoundaries(t *testing.T) {
	envp := []string{"A=1"}
	for _, c := range []struct {
		rlim          uint64
		fill, empties int
	}{
		{8 << 20, 2092501, 233011},
		{1 << 20, 261516, 29121},
		{64 << 20, 6277607, 699044},
		{200 << 10, 130732, 14557},
	} {
		for _, k := range []struct {
			name string
			argv func(int) []string
			n    int
		}{{"fill", argmaxArgv, c.fill}, {"empties", emptyArgv, c.empties}} {
			if _, err := newArgSpace("./argmax", k.argv(k.n), envp, c.rlim); err != nil {
				t.Errorf("rlimit %d, %s %d: %v, Linux accepts it", c.rlim, k.name, k.n, err)
			}
			_, err := newArgSpace("./argmax", k.argv(k.n+1), envp, c.rlim)
			if !errors.Is(err, unix.E2BIG) {
				t.Errorf("rlimit %d, %s %d: %v, Linux says E2BIG", c.rlim, k.name, k.n+1, err)
			}
		}
	}
	one := func(n int) error {
		_, err := newArgSpace("./argmax", []string{"./argmax", "child", strings.Repeat("y", n)}, envp, 8<<20)
		return err
	}
	if err := one(maxArgStrlen - 1); err != nil {
		t.Errorf("a string of MAX_ARG_STRLEN-1 bytes: %v", err)
	}
	if err := one(maxArgStrlen); !errors.Is(err, unix.E2BIG) {
		t.Errorf("a string of MAX_ARG_STRLEN bytes: %v, want E2BIG", err)
	}
}

func TestArgLimit(t *testing.T) {
	for rlim, want := range map[uint64]uint64{
		0: 128 << 10, 100 << 10: 128 << 10, 1 << 20: 256 << 10, 8 << 20: 2 << 20,
		24 << 20: 6 << 20, 1 << 40: 6 << 20, unix.RLIM_INFINITY: 6 << 20,
	} {
		if got := ArgLimit(rlim); got != want {
			t.Errorf("ArgLimit(%d) = %d, want %d", rlim, got, want)
		}
	}
}

// TestScriptArgSpace: binfmt_script drops argv[0] and adds the script's
// path, the #! argument and the interpreter, against the room left.
func TestScriptArgSpace(t *testing.T) {
	sp, err := newArgSpace("s", []string{"s"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	room := sp.room - sp.used
	if err := sp.script("s", "s", "-e", "/bin/sh"); err != nil || sp.room-sp.used != room-3-8 { // "s" out, "s" back in
		t.Errorf("after one script: %v, %d left of %d", err, sp.room-sp.used, room)
	}
	if err := sp.script("/bin/sh", "/x", strings.Repeat("a", maxArgStrlen), "/bin/sh"); !errors.Is(err, unix.E2BIG) {
		t.Errorf("an over-long #! argument: %v, want E2BIG", err)
	}
}

// TestMissingInterpreterFirst: binfmt_elf opens PT_INTERP before it maps
// a segment, so ENOENT wins over a bad PT_LOAD.
func TestMissingInterpreterFirst(t *testing.T) {
	b := minimalELF()
	copy(b[len(b)-len("/lib/ld.so\x00"):], "/no/such/i\x00")
	p := b[ehdrSize:]
	binary.LittleEndian.PutUint64(p[32:], 0x3000) // p_filesz > p_memsz
	path := writeFile(t, "badseg", b, 0o755)
	for name, err := range map[string]error{"Check": Check(Spec{Path: path}), "Load": loadErr(path)} {
		if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "interpreter /no/such/i not found") {
			t.Errorf("%s: %v, want the missing interpreter (ENOENT)", name, err)
		}
	}
	// With an interpreter that exists, the segment is the problem.
	copy(b[len(b)-len("/lib/ld.so\x00"):], "/bin/true\x00\x00")
	path = writeFile(t, "badseg2", b, 0o755)
	if err := Check(Spec{Path: path}); !errors.Is(err, unix.ENOEXEC) {
		t.Errorf("bad segment, interpreter present: %v, want ENOEXEC", err)
	}
}

func loadErr(path string) error {
	im, err := Load(Spec{Path: path})
	if err == nil {
		im.Unmap()
	}
	return err
}
