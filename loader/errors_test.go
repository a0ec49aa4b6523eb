package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var le = binary.LittleEndian

// phdrAt is the i-th program header of an ELF64 image.
func phdrAt(b []byte, i int) []byte {
	off := int(le.Uint64(b[32:]))
	return b[off+i*phdrSize : off+(i+1)*phdrSize]
}

// nthLoad is the index of the n-th PT_LOAD (0-based) among the headers.
func nthLoad(t *testing.T, b []byte, n int) int {
	t.Helper()
	for i := 0; i < int(le.Uint16(b[56:])); i++ {
		if le.Uint32(phdrAt(b, i)) == ptLoad {
			if n == 0 {
				return i
			}
			n--
		}
	}
	t.Fatalf("fixture has too few PT_LOADs")
	return -1
}

// expectExecError checks that err is an *ExecError with errno and a
// message containing every want substring.
func expectExecError(t *testing.T, err error, errno unix.Errno, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want %v", errno)
	}
	var ee *ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T %v is not an *ExecError", err, err)
	}
	if ee.Errno != errno || !errors.Is(err, errno) {
		t.Errorf("errno = %v (%q), want %v", ee.Errno, err, errno)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "vsysbed: ") || strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one line starting with \"vsysbed: \"", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

func loadExpectingError(t *testing.T, path string) error {
	t.Helper()
	im, err := Load(Spec{Path: path, Argv: []string{path}})
	if err == nil {
		im.Unmap()
	}
	return err
}

func TestCorruptELF(t *testing.T) {
	orig, err := os.ReadFile(fixture(t, "static-pie"))
	if err != nil {
		t.Fatal(err)
	}
	size := len(orig)
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		want   []string
	}{
		{"empty", func(b []byte) []byte { return nil }, []string{"no ELF header and no #! line"}},
		{"truncated-3", func(b []byte) []byte { return b[:3] }, []string{"no ELF header"}},
		{"truncated-40", func(b []byte) []byte { return b[:40] }, []string{"truncated ELF header (40 of 64 bytes)"}},
		{"truncated-100", func(b []byte) []byte { return b[:100] }, []string{"program headers", "past the end of the file", "truncated?"}},
		{"truncated-4096", func(b []byte) []byte { return b[:4096] }, []string{"extend past the end of the file (4096 bytes)"}},
		{"truncated-half", func(b []byte) []byte { return b[:size/2] }, []string{"past the end of the file", "truncated?"}},
		{"bad-magic", func(b []byte) []byte { b[1] = 'X'; return b }, []string{"no ELF header and no #! line"}},
		{"elfclass32", func(b []byte) []byte { b[4] = 1; return b }, []string{"not an executable: 32-bit ELF (ELFCLASS32) is not supported"}},
		{"bad-class", func(b []byte) []byte { b[4] = 7; return b }, []string{"invalid ELF class 7"}},
		{"big-endian", func(b []byte) []byte { b[5] = 2; return b }, []string{"big-endian ELF (ELFDATA2MSB) is not supported"}},
		{"aarch64", func(b []byte) []byte { le.PutUint16(b[18:], 183); return b }, []string{"ELF for aarch64 (e_machine 183), only x86-64 is supported"}},
		{"unknown-machine", func(b []byte) []byte { le.PutUint16(b[18:], 9999); return b }, []string{"machine 9999"}},
		{"et-rel", func(b []byte) []byte { le.PutUint16(b[16:], etRel); return b }, []string{"relocatable object file (ET_REL)"}},
		{"et-core", func(b []byte) []byte { le.PutUint16(b[16:], etCore); return b }, []string{"core dump (ET_CORE)"}},
		{"phnum-0", func(b []byte) []byte { le.PutUint16(b[56:], 0); return b }, []string{"no program headers"}},
		{"phnum-absurd", func(b []byte) []byte { le.PutUint16(b[56:], 0xffff); return b }, []string{"65535 program headers is absurd"}},
		{"phentsize", func(b []byte) []byte { le.PutUint16(b[54:], 32); return b }, []string{"program header entry size 32, want 56"}},
		{"phoff-huge", func(b []byte) []byte { le.PutUint64(b[32:], 1<<63); return b }, []string{"program headers", "past the end"}},
		{"filesz-gt-memsz", func(b []byte) []byte {
			p := phdrAt(b, nthLoad(t, b, 1))
			le.PutUint64(p[40:], le.Uint64(p[32:])-1)
			return b
		}, []string{"p_filesz", "is larger than p_memsz"}},
		{"segment-past-eof", func(b []byte) []byte {
			p := phdrAt(b, nthLoad(t, b, 1))
			le.PutUint64(p[32:], 1<<40)
			le.PutUint64(p[40:], 1<<40)
			return b
		}, []string{"extend past the end of the file"}},
		{"unaligned-offset", func(b []byte) []byte {
			p := phdrAt(b, nthLoad(t, b, 1))
			le.PutUint64(p[8:], le.Uint64(p[8:])+1)
			return b
		}, []string{"not congruent modulo the page size"}},
		{"overlapping", func(b []byte) []byte {
			p0, p1 := phdrAt(b, nthLoad(t, b, 0)), phdrAt(b, nthLoad(t, b, 1))
			le.PutUint64(p1[16:], le.Uint64(p0[16:])+le.Uint64(p1[8:])%pageSize)
			return b
		}, []string{"overlaps or precedes"}},
		{"vaddr-beyond-user", func(b []byte) []byte {
			p := phdrAt(b, nthLoad(t, b, 1))
			le.PutUint64(p[16:], 1<<62+le.Uint64(p[8:])%pageSize)
			return b
		}, []string{"beyond the user address space"}},
		{"no-pt-load", func(b []byte) []byte {
			for i := 0; i < int(le.Uint16(b[56:])); i++ {
				if p := phdrAt(b, i); le.Uint32(p) == ptLoad {
					le.PutUint32(p, 0)
				}
			}
			return b
		}, []string{"no loadable (PT_LOAD) segments"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(bytes.Clone(orig))
			p := writeFile(t, "prog", b, 0o755)
			err := loadExpectingError(t, p)
			expectExecError(t, err, unix.ENOEXEC, append([]string{"vsysbed: " + p + ": not an executable: "}, c.want...)...)
		})
	}
}

func TestMissingInterpreter(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "dynamic"))
	if err != nil {
		t.Fatal(err)
	}
	const real, missing = "/lib64/ld-linux-x86-64.so.2\x00", "/lib64/ld-linux-x86-64.so.9\x00"
	if bytes.Count(b, []byte(real)) == 0 {
		t.Fatalf("dynamic fixture does not name %q", real)
	}
	p := writeFile(t, "prog", bytes.Replace(b, []byte(real), []byte(missing), 1), 0o755)
	expectExecError(t, loadExpectingError(t, p), unix.ENOENT,
		"vsysbed: "+p+": interpreter /lib64/ld-linux-x86-64.so.9 not found")
}

func TestInterpreterNotELF(t *testing.T) {
	// An interpreter that exists but is not an ELF executable: the error
	// names the interpreter and says whose interpreter it is.
	b, err := os.ReadFile(fixture(t, "dynamic"))
	if err != nil {
		t.Fatal(err)
	}
	const real = "/lib64/ld-linux-x86-64.so.2\x00"
	// PT_INTERP can only be patched in place, so the fake interpreter
	// needs a path no longer than the real one.
	ff, err := os.CreateTemp("/tmp", "li")
	if err != nil {
		t.Fatal(err)
	}
	fake := ff.Name()
	defer os.Remove(fake)
	ff.WriteString("plain text\n")
	ff.Chmod(0o755)
	ff.Close()
	if len(fake)+1 > len(real) {
		t.Skipf("temporary path %s is too long to patch into PT_INTERP", fake)
	}
	repl := append([]byte(fake), make([]byte, len(real)-len(fake))...)
	p := writeFile(t, "prog", bytes.Replace(b, []byte(real), repl, 1), 0o755)
	expectExecError(t, loadExpectingError(t, p), unix.ENOEXEC,
		"vsysbed: "+fake+": not an executable: no ELF header", "(interpreter of "+p+")")
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	expectExecError(t, loadExpectingError(t, dir+"/missing"), unix.ENOENT, dir+"/missing: no such file or directory")
	expectExecError(t, loadExpectingError(t, dir), unix.EACCES, "is a directory")
	noexec := writeFile(t, "noexec", []byte("#!/bin/sh\n"), 0o644)
	expectExecError(t, loadExpectingError(t, noexec), unix.EACCES, "permission denied")
	text := writeFile(t, "text", []byte("echo hello\n"), 0o755)
	expectExecError(t, loadExpectingError(t, text), unix.ENOEXEC, "not an executable: no ELF header and no #! line")
	expectExecError(t, loadExpectingError(t, "/dev/null"), unix.EACCES, "not a regular file")
}

func TestNonPIEOverHost(t *testing.T) {
	// The test binary itself is a non-PIE at 0x400000, so a guest linked
	// there cannot be placed; the error must say why.
	for _, name := range []string{"static", "musl-static"} {
		t.Run(name, func(t *testing.T) {
			p := fixture(t, name)
			expectExecError(t, loadExpectingError(t, p), unix.EEXIST,
				"non-PIE executable needs 0x400000-", "which the host process already uses")
		})
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"./plain name":        "./plain name",
		"./bad\nname":         `./bad\nname`,
		"a\rb\x1b[31mc\x7f":   `a\rb\x1b[31mc\x7f`,
		"tab\there\x00\x01":   `tab\x09here\x00\x01`,
		`back\slash \n`:       `back\slash \n`,
		"caf\xc3\xa9 \xff ok": "caf\xc3\xa9 \xff ok",
	} {
		got := Printable(in)
		if got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
		if Printable(got) != got {
			t.Errorf("Printable is not idempotent on %q", got)
		}
	}
	err := &ExecError{Path: "./bad\nname", Errno: unix.ENOENT}
	if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
		t.Errorf("message %q spans lines", msg)
	}
}

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		err    error
		line   string
		status int
	}{
		{&ExecError{Path: "/no/such", Errno: unix.ENOENT}, "vsysbed: /no/such: no such file or directory", 127},
		{&ExecError{Path: "/etc/passwd", Errno: unix.EACCES, Reason: "not executable"}, "vsysbed: /etc/passwd: not executable", 126},
		{&ExecError{Path: "./a\nb", Errno: unix.ENOEXEC, Reason: "bad ELF"}, `vsysbed: ./a\nb: bad ELF`, 126},
		{fmt.Errorf("opening x: %w", os.ErrNotExist), "vsysbed: opening x: file does not exist", 127},
		{errors.New("vsysbed: already prefixed"), "vsysbed: already prefixed", 126},
	} {
		line, status := Refusal(c.err)
		if line != c.line || status != c.status {
			t.Errorf("Refusal(%v) = %q, %d; want %q, %d", c.err, line, status, c.line, c.status)
		}
	}
}
