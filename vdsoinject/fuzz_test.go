package vdsoinject

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// FuzzImage generates the image (with and without counters), proves
// debug/elf reads it and finds every export, then damages a copy at the
// positions data names and hands it to LookupTargets — the reader that
// parses the host's own vDSO, which must answer a bad image with an
// error, never a panic.
func FuzzImage(f *testing.F) {
	f.Add(false, []byte{})
	f.Add(true, []byte{0x00, 0x00, 0xff})
	f.Add(false, []byte{0x20, 0x00, 0x01, 0x38, 0x00, 0x7f})
	f.Fuzz(func(t *testing.T, noCounters bool, damage []byte) {
		im, err := BuildWith(Options{NoCounters: noCounters})
		if err != nil {
			t.Fatal(err)
		}
		ef, err := elf.NewFile(bytes.NewReader(im.Data))
		if err != nil {
			t.Fatalf("debug/elf: %v", err)
		}
		syms, err := ef.DynamicSymbols()
		if err != nil {
			t.Fatalf("debug/elf dynamic symbols: %v", err)
		}
		have := map[string]bool{}
		for _, s := range syms {
			have[s.Name] = true
		}
		for _, tg := range Targets {
			if !have[tg.Symbol()] {
				t.Fatalf("%s is not in .dynsym", tg.Symbol())
			}
		}
		got, err := LookupTargets(im.Data)
		if err != nil || len(got) != len(Targets) {
			t.Fatalf("LookupTargets on the pristine image: %v, %d of %d targets", err, len(got), len(Targets))
		}
		// Each 3 bytes of damage: a 16-bit offset and a byte to XOR there.
		mem := bytes.Clone(im.Data)
		for ; len(damage) >= 3; damage = damage[3:] {
			off := int(binary.LittleEndian.Uint16(damage)) % len(mem)
			mem[off] ^= damage[2]
		}
		LookupTargets(mem)
		LookupTargets(mem[:len(mem)/2])
	})
}

// TestLookupWildStrsz: a DT_STRSZ that makes DT_STRTAB+DT_STRSZ wrap around
// sliced the image backwards (a panic found while writing FuzzImage).
func TestLookupWildStrsz(t *testing.T) {
	im, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(im.Data))
	if err != nil {
		t.Fatal(err)
	}
	dyn := ef.Section(".dynamic")
	mem := bytes.Clone(im.Data)
	for off := dyn.Offset; off+16 <= dyn.Offset+dyn.Size; off += 16 {
		if elf.DynTag(binary.LittleEndian.Uint64(mem[off:])) == elf.DT_STRSZ {
			binary.LittleEndian.PutUint64(mem[off+8:], ^uint64(0)-0x10)
		}
	}
	LookupTargets(mem) // an error or an answer, never a panic
}
