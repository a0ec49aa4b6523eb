package loader

import (
	"debug/elf"
	"strings"
)

// Interp is the PT_INTERP of the ELF file at path, "" for a static one, a
// script or a file that cannot be read: what a report names as an exec's
// interpreter. Unlike the loader's own parser it judges nothing (a 32-bit
// ELF, one the loader would refuse): it describes what the kernel ran on
// the ptrace and native platforms.
func Interp(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				return strings.TrimRight(string(b), "\x00")
			}
		}
	}
	return ""
}
