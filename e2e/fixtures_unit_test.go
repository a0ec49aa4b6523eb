package e2e

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// The broken ELFs must be broken in exactly the intended way, or the
// bad-input specs test something else than they claim.
func TestFixturesAreBrokenAsIntended(t *testing.T) {
	dir := t.TempDir()
	if err := writeFixtures(dir); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	if b := read(elf32); b[elf.EI_CLASS] != byte(elf.ELFCLASS32) {
		t.Errorf("elf32: EI_CLASS = %d", b[elf.EI_CLASS])
	}

	f, err := elf.NewFile(bytes.NewReader(read(elfAArch64)))
	if err != nil {
		t.Fatalf("aarch64 fixture unreadable: %v", err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("aarch64 fixture: machine %v", f.Machine)
	}

	if n := len(read(elfTrunc)); n != 100 {
		t.Errorf("truncated fixture is %d bytes", n)
	}
	if _, err := elf.NewFile(bytes.NewReader(read(elfTrunc))); err == nil {
		t.Errorf("truncated fixture still parses as ELF")
	}

	orig, err := os.ReadFile(hostELF)
	if err != nil {
		t.Fatal(err)
	}
	patched := read(elfNoInterp)
	if len(patched) != len(orig) {
		t.Fatalf("no-interp fixture changed size: %d vs %d", len(patched), len(orig))
	}
	f, err = elf.NewFile(bytes.NewReader(patched))
	if err != nil {
		t.Fatal(err)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	if interp == "" || interp[:len("/nonexistent/ld.so")] != "/nonexistent/ld.so" {
		t.Errorf("interpreter = %q", interp)
	}
	if _, err := os.Stat(interp); !os.IsNotExist(err) {
		t.Errorf("interpreter %q exists (err %v)", interp, err)
	}

	st, err := os.Stat(filepath.Join(dir, noExec))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o111 != 0 {
		t.Errorf("no-exec fixture is executable: %v", st.Mode())
	}
}

// Only the link count of /proc may be masked in `ls -la /`.
func TestMaskProcLinks(t *testing.T) {
	in := "dr-xr-xr-x 110 root root     0 Nov 24 06:42 proc\n" +
		"drwxr-xr-x  21 root root  4096 Nov 27 00:13 .\n" +
		"drwxr-xr-x  5 root root  4096 Sep 22 04:52 process-data\n"
	if got := maskProcLinks("drwxrwxrwt 374 root root 24576 Nov 27 01:47 tmp\n"); got != "drwxrwxrwt N root root N T tmp\n" {
		t.Errorf("maskProcLinks(tmp) = %q", got)
	}
	want := "dr-xr-xr-x N root root 0 Nov 24 06:42 proc\n" +
		"drwxr-xr-x 21 root root 4096 Nov 27 00:13 .\n" +
		"drwxr-xr-x 5 root root 4096 Sep 22 04:52 process-data\n"
	if got := maskProcLinks(in); got != want {
		t.Errorf("maskProcLinks:\n%s\nwant:\n%s", got, want)
	}
}
