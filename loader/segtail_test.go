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

// roBSSELF is a static ET_EXEC at 0x20000000 without libc: a read-only
// PT_LOAD at 0x20002000 with 16 file bytes and two pages of bss, and code
// that stores one byte at target and exits 0. Linux (6.18) maps those bss
// pages read-write (elf_load's vm_brk_flags), so a store into the second
// page succeeds natively; a store into the file page faults.
func roBSSELF(target uint32) []byte {
	const base, codeOff = 0x20000000, 64 + 2*56
	code := []byte{0xc6, 0x04, 0x25, 0, 0, 0, 0, 0x01, 0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}
	binary.LittleEndian.PutUint32(code[3:], target)
	size := uint64(codeOff + len(code))
	b := make([]byte, codeOff, size)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], etExec)
	le.PutUint16(b[18:], emX86_64)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+codeOff)
	le.PutUint64(b[32:], 64)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 2)
	for i, seg := range []struct {
		flags           uint32
		vaddr, fsz, msz uint64
	}{{pfR | pfX, base, size, size}, {pfR, base + 0x2000, 0x10, 0x2000}} {
		p := b[64+56*i:]
		le.PutUint32(p[0:], ptLoad)
		le.PutUint32(p[4:], seg.flags)
		le.PutUint64(p[16:], seg.vaddr)
		le.PutUint64(p[24:], seg.vaddr)
		le.PutUint64(p[32:], seg.fsz)
		le.PutUint64(p[40:], seg.msz)
		le.PutUint64(p[48:], pageSize)
	}
	return append(b, code...)
}

// TestReadOnlyBSSPages: the bss pages past a read-only segment's file page
// are mapped read-write, as Linux maps them.
func TestReadOnlyBSSPages(t *testing.T) {
	path := writeFile(t, "ro-bss", roBSSELF(0x20003000), 0o755)
	im, err := Load(Spec{Path: path, Argv: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Unmap()
	checkMappingsAgainstKernel(t, im)
	for _, l := range readMaps(t) {
		if l.start <= 0x20003000 && 0x20003000 < l.end && l.prot != protRead|protWrite {
			t.Errorf("bss page of a read-only segment has prot %d, Linux gives it read-write", l.prot)
		}
		if l.start <= 0x20002000 && 0x20002000 < l.end && l.prot != protRead {
			t.Errorf("file page of a read-only segment has prot %d", l.prot)
		}
	}
}
