package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"
)

// lowerFilesz returns a copy of the ELF file b with p_filesz of every
// PT_LOAD matching want (flags) lowered by one, and those segments.
func lowerFilesz(t *testing.T, b []byte, want elf.ProgFlag) ([]byte, []elf.ProgHeader) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(b)
	phoff := binary.LittleEndian.Uint64(b[32:])
	var segs []elf.ProgHeader
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags != want || p.Filesz == 0 {
			continue
		}
		at := phoff + uint64(i)*phdrSize + 32
		binary.LittleEndian.PutUint64(out[at:], p.Filesz-1)
		h := p.ProgHeader
		h.Filesz--
		segs = append(segs, h)
	}
	if len(segs) == 0 {
		t.Fatalf("no PT_LOAD with flags %v", want)
	}
	return out, segs
}

// TestReadOnlyBSSTail: a segment Linux cannot write keeps the file's bytes
// past p_filesz in its last file page (padzero's clear_user faults and the
// fault is ignored), so a text segment whose p_filesz is one byte short
// still has its last instruction. A writable segment's tail is zeroed.
func TestReadOnlyBSSTail(t *testing.T) {
	orig, err := os.ReadFile(fixture(t, "static-high"))
	if err != nil {
		t.Fatal(err)
	}
	for _, flags := range []elf.ProgFlag{elf.PF_R | elf.PF_X, elf.PF_R, elf.PF_R | elf.PF_W} {
		patched, segs := lowerFilesz(t, orig, flags)
		path := writeFile(t, "short-filesz", patched, 0o755)
		im, err := Load(Spec{Path: path, Argv: []string{path}})
		if err != nil {
			t.Fatalf("flags %v: %v", flags, err)
		}
		for _, s := range segs {
			at := im.Bias + uintptr(s.Vaddr+s.Filesz)
			n := int(pageSize - at%pageSize)
			got := memAt(at, n)
			want := make([]byte, n)
			if flags&elf.PF_W == 0 {
				copy(want, patched[s.Off+s.Filesz:])
			}
			if !bytes.Equal(got, want) {
				t.Errorf("flags %v: the %d bytes past p_filesz at %#x: got % x..., want % x...", flags, n, at, got[:min(n, 8)], want[:min(n, 8)])
			}
		}
		im.Unmap()
	}
}
