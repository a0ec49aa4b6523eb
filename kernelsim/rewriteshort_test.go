package kernelsim

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Debian 12's libc.so.6 (glibc 2.36), read at 0xf82a0: the single-threaded
// path, `je` (its displacement 17 the byte before the xor), xor; syscall;
// cmp; ja; ret and a 10-byte cs nopw up to 0xf82c0; and the cancellable
// path's site at 0xf82e8, whose ret is followed by a 5-byte nopl up to
// 0xf8310, through a mov, a call and an add.
// Go 1.26's internal/runtime/syscall/linux.Syscall6 (at 0x408a80 in
// e2e/guests/gostatic): the number in rax already, mov %rbx,%rdi the last
// of the argument moves; its first ret leads to code (jbe's target), the
// second to int3 fill up to 0x408ac0.
var goSyscall6 = []byte{0x48, 0x89, 0xce, 0x48, 0x89, 0xdf, 0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x76, 0x15,
	0x48, 0xf7, 0xd8, 0x48, 0x89, 0xc1, 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, 0x48, 0xc7, 0xc3, 0x00, 0x00, 0x00, 0x00, 0xc3,
	0x48, 0x89, 0xd3, 0x48, 0xc7, 0xc1, 0x00, 0x00, 0x00, 0x00, 0xc3,
	0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc}

const goSyscall6Site = 0x408a8c

var (
	glibcRead = []byte{0x74, 0x17, 0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0x77, 0x5b, 0xc3,
		0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}
	glibcReadCancel = []byte{0x24, 0x08, 0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0x77, 0x34,
		0x44, 0x89, 0xc7, 0x48, 0x89, 0x44, 0x24, 0x08, 0xe8, 0x9f, 0xd5, 0xf8, 0xff, 0x48, 0x8b, 0x44, 0x24, 0x08,
		0x48, 0x83, 0xc4, 0x28, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00}
)

const (
	readHead       = 0x7f00000f82a9 // the xor
	readSite       = readHead + 2   // the syscall
	readCancelSite = 0x7f00000f82ea
)

func TestMatchShort(t *testing.T) {
	edit := func(code []byte, at int, b ...byte) []byte {
		c := append([]byte{}, code...)
		copy(c[at:], b)
		return c
	}
	read0 := &cblock.Regs{Rax: 0, Rdi: 3}
	for _, tc := range []struct {
		name string
		site uint64
		code []byte
		regs *cblock.Regs
		hole uint64 // 0: refused
		n    uint64 // the instruction's length: 2 unless said
	}{
		{"glibc read", readSite, glibcRead, read0, 0x7f00000f82b6, 2},
		{"glibc read, cancellable path", readCancelSite, glibcReadCancel, read0, 0x7f00000f830b, 2},
		{"xor encoded 33 c0", readSite, edit(glibcRead, 2, 0x33), read0, 0x7f00000f82b6, 2},
		{"another number in eax", readSite, glibcRead, &cblock.Regs{Rax: 1}, 0, 2},
		{"xor %edi,%edi, rdi 0", readSite, edit(glibcRead, 3, 0xff), &cblock.Regs{Rax: 39}, 0x7f00000f82b6, 2},
		{"xor %edi,%edi, rdi not 0", readSite, edit(glibcRead, 3, 0xff), &cblock.Regs{Rax: 39, Rdi: 1}, 0, 2},
		{"xor %ecx,%ecx: not passed", readSite, edit(glibcRead, 3, 0xc9), read0, 0, 2},
		{"xor %eax,%edx: not a register with itself", readSite, edit(glibcRead, 3, 0xc2), read0, 0, 2},
		{"REX before the xor", readSite, edit(glibcRead, 1, 0x48), read0, 0, 2},
		{"sysenter, not syscall", readSite, edit(glibcRead, 5, 0x34), read0, 0, 2},
		{"padding cut short", readSite, glibcRead[:21], read0, 0, 2},
		{"padding not a nop: add %al,(%rax)", readSite, edit(glibcRead, 15, 0x00, 0x00), read0, 0, 2},
		{"the padding ends off a 16-byte boundary", readSite + 1, glibcRead, read0, 0, 2},
		{"an instruction not known before the ret", readSite, edit(glibcRead, 12, 0xe3, 0x5b), read0, 0, 2}, // jrcxz
		{"no ret: a conditional jump's fall-through is no hole", readSite, edit(glibcRead, 14, 0x90), read0, 0, 2},
		{"ja into the padding", readSite, edit(glibcRead, 13, 0x01), read0, 0, 2},
		{"ja to the padding's end: a label", readSite, edit(glibcRead, 13, 0x0b), read0, 0x7f00000f82b6, 2},
		{"ja into the xor", readSite, edit(glibcRead, 13, byte(0x100-11)), read0, 0, 2},
		{"ja to the xor: lands on the jmp", readSite, edit(glibcRead, 13, byte(0x100-12)), read0, 0x7f00000f82b6, 2},
		// Another site's rewrite took the padding: e9 rel32 over its
		// first five bytes, and what is left of the cs nopw (00 00 00 00
		// 00) decodes as code out of step with the label after it: here
		// `00 31` (add %dh,(%rcx)) of its last 00 and the label's xor
		// %eax,%ebx (31 c3), whose c3 then looks like a ret before nops.
		{"the padding taken by another site", readSite, append(edit(glibcRead, 15, 0xe9, 0x00, 0x10, 0x00, 0x00),
			0x31, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x40, 0x00), read0, 0, 2},
		{"cancellable path, the call's rel32 cut", readCancelSite, glibcReadCancel[:25], read0, 0, 2},
		{"Go's Syscall6", goSyscall6Site, goSyscall6[2:], &cblock.Regs{Rax: 0, Rdi: 5, Rbx: 5}, 0x408ab6, 3},
		{"Go's Syscall6, rdi not rbx", goSyscall6Site, goSyscall6[2:], &cblock.Regs{Rax: 0, Rdi: 5, Rbx: 6}, 0, 3},
		{"Go's Syscall6, jbe into the fill", goSyscall6Site, edit(goSyscall6[2:], 13, 0x20), &cblock.Regs{Rdi: 5, Rbx: 5}, 0, 3},
		{"mov %rcx,%rdi: rcx not passed", goSyscall6Site, edit(goSyscall6[2:], 3, 0xcf), &cblock.Regs{}, 0, 3},
		{"mov %r11,%rdi: not passed", goSyscall6Site, edit(goSyscall6[2:], 1, 0x4c, 0x89, 0xdf), &cblock.Regs{}, 0, 3},
		{"mov %rbx,%rdi after a prefix", goSyscall6Site, edit(goSyscall6[2:], 0, 0x66), &cblock.Regs{Rdi: 5, Rbx: 5}, 0, 3},
		{"mov %ebx,%edi: 32-bit, 2 bytes", goSyscall6Site, edit(goSyscall6[2:], 1, 0x90), &cblock.Regs{Rdi: 5, Rbx: 5}, 0, 3},
		{"operand-size prefix on the way", readCancelSite, edit(glibcReadCancel, 14, 0x66), read0, 0, 2},
	} {
		n := tc.n
		if n == 0 {
			n = 2
		}
		head, hole, ok := MatchShort(tc.site, tc.code, tc.regs)
		if !ok {
			hole = 0
		}
		if hole != tc.hole || ok && head != tc.site-n {
			t.Errorf("%s: MatchShort = %#x, %#x, %v, want %#x, %#x", tc.name, head, hole, ok, tc.site-n, tc.hole)
		}
	}
}

// A hole beyond rel8's reach: the site's run is decoded on through a
// padding too short and code after it, and refused once past 127 bytes.
func TestMatchShortReach(t *testing.T) {
	head := uint64(0x7f0000001000) // the xor 16-aligned: the ret at +13, 3 bytes of padding
	site := head + 2
	code := []byte{0x90, 0xc3, 0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0x77, 0x05, 0xc3, 0x0f, 0x1f, 0x00}
	far := func(movs int) []byte {
		c := append([]byte{}, code...)
		for i := 0; i < movs; i++ {
			c = append(c, 0x48, 0x89, 0xc7) // mov %rax,%rdi
		}
		c = append(c, 0xc3) // ret at head+16+3*movs
		for pad := 0; pad < 5 || (site-4+uint64(len(c)))%16 != 0; pad++ {
			c = append(c, 0x90)
		}
		return c
	}
	r := &cblock.Regs{}
	if _, _, ok := MatchShort(site, code, r); ok {
		t.Errorf("a 3-byte padding taken for a hole")
	}
	if _, hole, ok := MatchShort(site, far(6), r); !ok || hole != head+0x23 {
		t.Errorf("hole after 6 movs: %#x, %v", hole, ok)
	}
	if _, hole, ok := MatchShort(site, far(40), r); ok {
		t.Errorf("hole %d bytes after the jmp taken: %#x", hole-(head+2), hole)
	}
}

func TestNopLen(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{
		{[]byte{0x90}, 1},
		{[]byte{0xcc}, 1},
		{[]byte{0x66, 0x90}, 2},
		{[]byte{0x0f, 0x1f, 0x00}, 3},
		{[]byte{0x0f, 0x1f, 0x40, 0x00}, 4},
		{[]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, 5},
		{[]byte{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, 6},
		{[]byte{0x0f, 0x1f, 0x80, 0, 0, 0, 0}, 7},
		{[]byte{0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 8},
		{[]byte{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 10},
		{[]byte{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 11},
		{[]byte{0x0f, 0x1f, 0x48, 0x00}, 0}, // 0f 1f /1: not the nop
		{[]byte{0x0f, 0x1f, 0x84, 0, 0}, 0}, // cut
		{[]byte{0x00, 0x00}, 0},
		{[]byte{0xc3}, 0},
	} {
		if got := nopLen(tc.b); got != tc.want {
			t.Errorf("nopLen(% x) = %d, want %d", tc.b, got, tc.want)
		}
	}
}

func TestShortInsn(t *testing.T) {
	at := uint64(0x1000)
	for _, tc := range []struct {
		b      []byte
		n      int
		kind   int
		target uint64
	}{
		{[]byte{0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff}, 6, insnPlain, 0},
		{[]byte{0x3d, 0x00, 0xf0, 0xff, 0xff}, 5, insnPlain, 0},
		{[]byte{0x77, 0x5b}, 2, insnJcc, 0x105d},
		{[]byte{0x0f, 0x87, 0x10, 0x00, 0x00, 0x00}, 6, insnJcc, 0x1016},
		{[]byte{0xc3}, 1, insnEnd, 0},
		{[]byte{0xeb, 0xfe}, 2, insnEnd, 0x1000},
		{[]byte{0xe9, 0x00, 0x01, 0x00, 0x00}, 5, insnEnd, 0x1105},
		{[]byte{0xe8, 0x9f, 0xd5, 0xf8, 0xff}, 5, insnPlain, 0},
		{[]byte{0x44, 0x89, 0xc7}, 3, insnPlain, 0},                                     // mov %r8d,%edi
		{[]byte{0x48, 0x89, 0x44, 0x24, 0x08}, 5, insnPlain, 0},                         // mov %rax,0x8(%rsp)
		{[]byte{0x48, 0x8b, 0x15, 0xc9, 0xaa, 0x0d, 0x00}, 7, insnPlain, 0},             // mov rip-relative
		{[]byte{0x64, 0x89, 0x02}, 3, insnPlain, 0},                                     // mov %eax,%fs:(%rdx)
		{[]byte{0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff}, 7, insnPlain, 0},             // mov $-1,%rax
		{[]byte{0x48, 0x83, 0xc4, 0x28}, 4, insnPlain, 0},                               // add $0x28,%rsp
		{[]byte{0xf7, 0xd8}, 2, insnPlain, 0},                                           // neg %eax
		{[]byte{0xf7, 0xc0, 1, 0, 0, 0}, 6, insnPlain, 0},                               // test $1,%eax
		{[]byte{0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, 10, insnPlain, 0},                  // movabs
		{[]byte{0xff, 0xe0}, 2, insnEnd, 0},                                             // jmp *%rax
		{[]byte{0x8b, 0x04, 0x25, 0, 0, 0, 0}, 7, insnPlain, 0},                         // SIB, no base
		{[]byte{0x66, 0x3d, 0x00, 0xf0}, 0, 0, 0},                                       // operand size
		{[]byte{0xe3, 0x00}, 0, 0, 0},                                                   // jrcxz
		{[]byte{0x48, 0x3d, 0x00, 0xf0, 0xff}, 0, 0, 0},                                 // cut
		{[]byte{0x0f, 0x0b}, 0, 0, 0},                                                   // ud2
		{[]byte{0xff, 0x14, 0x25, 0, 0, 0, 0}, 7, insnPlain, 0},                         // call *abs
		{[]byte{0x0f, 0xb6, 0x44, 0x24, 0x08}, 5, insnPlain, 0},                         // movzbl
		{[]byte{0x48, 0x8d, 0x05, 0x00, 0x00, 0x00, 0x00}, 7, insnPlain, 0},             // lea rip-relative
		{[]byte{0x80, 0x3d, 0x31, 0x33, 0x0e, 0x00, 0x00}, 0, 0, 0},                     // cmpb $0,rip: 80 not listed
		{[]byte{0x48, 0x89}, 0, 0, 0},                                                   // cut ModRM
		{[]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, 5, insnPlain, 0},                         // nopl
		{[]byte{0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00}, 9, insnPlain, 0}, // mov %gs:0x28,%rax
	} {
		n, kind, target := shortInsn(tc.b, at)
		if n != tc.n || n != 0 && (kind != tc.kind || target != tc.target) {
			t.Errorf("shortInsn(% x) = %d, %d, %#x, want %d, %d, %#x", tc.b, n, kind, target, tc.n, tc.kind, tc.target)
		}
	}
}

func TestEncodeShort(t *testing.T) {
	head, hole := uint64(readHead), uint64(0x7f00000f82b6)
	if b, ok := EncodeShortJump(head, hole); !ok || !bytes.Equal(b, []byte{0xeb, 0x0b}) {
		t.Errorf("jmp rel8 = % x, %v", b, ok)
	}
	if b, ok := EncodeShortJump(head, head+2+127); !ok || b[1] != 0x7f {
		t.Errorf("jmp rel8 +127 = % x, %v", b, ok)
	}
	if _, ok := EncodeShortJump(head, head+2+128); ok {
		t.Errorf("jmp rel8 +128 encoded")
	}
	if b, ok := EncodeShortJump(head, head+2-128); !ok || b[1] != 0x80 {
		t.Errorf("jmp rel8 -128 = % x, %v", b, ok)
	}
	stub := hole + 0x20000
	b, ok := EncodeStub(stub, head+4, []byte{0x31, 0xc0})
	if !ok {
		t.Fatal("EncodeStub refused a 2-byte instruction")
	}
	want := []byte{0x31, 0xc0, 0x48, 0x8d, 0x0d}
	want = binary.LittleEndian.AppendUint32(want, uint32(int32(int64(head+4)-int64(stub+9))))
	want = append(want, 0x65, 0xff, 0x24, 0x25)
	want = binary.LittleEndian.AppendUint32(want, cblock.OffPatchedEntry)
	if !bytes.Equal(b, want) || len(b) > stubSize {
		t.Errorf("stub = % x, want % x", b, want)
	}
	if _, ok := EncodeStub(stub, head+4, []byte{0x31}); ok {
		t.Errorf("a 1-byte instruction taken")
	}
}

func TestMatchMovq(t *testing.T) {
	// Go 1.26's runtime.madvise.abi0 (0x48852e in e2e/guests/gostatic):
	// mov 0x18(%rsp),%edx (its last byte 18 before the mov), mov
	// $0x1c,%rax; syscall; mov %eax,0x20(%rsp); ret.
	madvise := []byte{0x18, 0x48, 0xc7, 0xc0, 0x1c, 0, 0, 0, 0x0f, 0x05, 0x89, 0x44, 0x24, 0x20, 0xc3}
	// runtime.sysMunmap.abi0's: cmp $-4095,%rax; jbe +0x0b; movl
	// $0xf1,0xf1 (a deliberate crash); then the jbe's target, ret.
	munmap := []byte{0x10, 0x48, 0xc7, 0xc0, 0x0b, 0, 0, 0, 0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x76, 0x0b,
		0xc7, 0x04, 0x25, 0xf1, 0, 0, 0, 0xf1, 0, 0, 0, 0xc3}
	edit := func(code []byte, at int, b ...byte) []byte {
		c := append([]byte{}, code...)
		copy(c[at:], b)
		return c
	}
	const site = 0x488535
	for _, tc := range []struct {
		name string
		code []byte
		rax  uint64
		ok   bool
	}{
		{"Go's madvise", madvise, 28, true},
		{"Go's sysMunmap", munmap, 11, true},
		{"another number in rax", madvise, 29, false},
		{"a negative imm32, sign-extended", edit(madvise, 4, 0xff, 0xff, 0xff, 0xff), ^uint64(0), true},
		{"a negative imm32, rax zero-extended", edit(madvise, 4, 0xff, 0xff, 0xff, 0xff), 0xffffffff, false},
		{"a prefix before it", edit(madvise, 0, 0x66), 28, false},
		{"mov to rcx", edit(madvise, 3, 0xc1), 28, false},
		{"sysenter", edit(madvise, 9, 0x34), 28, false},
		{"no ret in reach", append(madvise[:10:10], bytes.Repeat([]byte{0x48, 0x89, 0xc7}, 30)...), 28, false},
		{"an instruction not known", edit(madvise, 10, 0x0f, 0x0b), 28, false},
		{"a branch into the mov", edit(munmap, 17, byte(0x100-14)), 11, false},
		{"a branch to the mov: lands on the jmp", edit(munmap, 17, byte(0x100-17)), 11, true},
		{"cut", madvise[:12], 28, false},
	} {
		head, ok := MatchMovq(site, tc.code, &cblock.Regs{Rax: tc.rax})
		if ok != tc.ok || ok && head != site-7 {
			t.Errorf("%s: MatchMovq = %#x, %v, want %v", tc.name, head, ok, tc.ok)
		}
	}
	stub := uint64(site + 0x10000)
	b, ok := EncodeStub(stub, site+2, madvise[1:8])
	if !ok || !bytes.Equal(b[:7], madvise[1:8]) || len(b) != 7+7+8 || len(b) > stubSize {
		t.Errorf("stub for the 7-byte mov: % x, %v", b, ok)
	}
	if d := int32(binary.LittleEndian.Uint32(b[10:])); uint64(int64(stub)+14+int64(d)) != site+2 {
		t.Errorf("stub's lea: to %#x, want %#x", int64(stub)+14+int64(d), site+2)
	}
	if _, ok := EncodeStub(stub, site+2, make([]byte, 8)); ok {
		t.Errorf("an 8-byte instruction taken")
	}
}
