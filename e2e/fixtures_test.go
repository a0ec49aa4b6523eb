package e2e

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Fixture files, relative to fixtureDir.
const (
	textFile    = "input.txt"     // read by cat, sha256sum
	pyScript    = "script.py"     // #!/usr/bin/python3
	catScript   = "cat-script"    // #!/bin/cat: prints itself
	shScript    = "sh-script"     // #!/bin/sh, builtins only: echo, exit 4
	noExec      = "no-exec"       // an ELF without any x bit
	textExec    = "text-exec"     // +x text without #!
	elf32       = "elf32"         // EI_CLASS = ELFCLASS32
	elfAArch64  = "elf-aarch64"   // e_machine = EM_AARCH64
	elfTrunc    = "elf-truncated" // first 100 bytes of a real ELF
	elfNoInterp = "elf-no-interp" // PT_INTERP names a missing file
)

// hostELF is the dynamic PIE the broken-ELF fixtures are made from.
const hostELF = "/bin/true"

// sortInput is fed to sort and wc on stdin.
const sortInput = "pear\napple\nfig\nbanana\napple\n\nzucchini 3\nZebra 10\n"

func fixture(name string) string { return filepath.Join(fixtureDir, name) }

func writeFixtures(dir string) error {
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 200) + "end\n"
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{textFile, text, 0o644},
		{pyScript, "#!/usr/bin/python3\nimport sys\nprint('script.py args', sys.argv[1:])\nsys.exit(len(sys.argv) - 1)\n", 0o755},
		{catScript, "#!/bin/cat\nthis file prints itself\n", 0o755},
		// dash runs echo and exit itself, so the guest never forks.
		{shScript, "#!/bin/sh\necho \"script args: $*\"\nexit 4\n", 0o755},
		{textExec, "echo this is not an ELF and has no #! line\n", 0o755},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}

	orig, err := os.ReadFile(hostELF)
	if err != nil {
		return err
	}
	broken := []struct {
		name  string
		patch func([]byte) ([]byte, error)
		mode  os.FileMode
	}{
		{noExec, func(b []byte) ([]byte, error) { return b, nil }, 0o644},
		{elf32, func(b []byte) ([]byte, error) { b[elf.EI_CLASS] = byte(elf.ELFCLASS32); return b, nil }, 0o755},
		{elfAArch64, patchMachine, 0o755},
		{elfTrunc, func(b []byte) ([]byte, error) { return b[:100], nil }, 0o755},
		{elfNoInterp, patchInterp, 0o755},
	}
	for _, f := range broken {
		b, err := f.patch(bytes.Clone(orig))
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// patchMachine sets e_machine (offset 18, little-endian) to EM_AARCH64.
func patchMachine(b []byte) ([]byte, error) {
	if len(b) < 20 {
		return nil, fmt.Errorf("too short for an ELF header")
	}
	b[18] = byte(elf.EM_AARCH64)
	b[19] = byte(elf.EM_AARCH64 >> 8)
	return b, nil
}

// patchInterp overwrites the PT_INTERP path with a missing path of the
// same length, so every other offset in the file stays valid.
func patchInterp(b []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		n := int(p.Filesz) - 1 // keep the NUL
		missing := "/nonexistent/ld.so"
		if n < len(missing) {
			return nil, fmt.Errorf("interpreter path too short (%d bytes)", n)
		}
		missing += strings.Repeat("x", n-len(missing))
		copy(b[p.Off:], missing)
		return b, nil
	}
	return nil, fmt.Errorf("%s has no PT_INTERP", hostELF)
}
