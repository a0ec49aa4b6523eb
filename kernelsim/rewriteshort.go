package kernelsim

import (
	"encoding/binary"

	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// Short call sites (ARCHITECTURE.md, "Rewritten call sites"): a syscall
// after a 2- or 3-byte instruction (shortOp), as glibc's read makes it,
//
//	head:  31 c0           xor %eax,%eax       (read's number is 0)
//	site:  0f 05           syscall
//	       48 3d 00 f0 ff ff  cmp $-4096,%rax
//	       77 xx           ja error
//	       c3              ret
//	hole:  66 2e 0f 1f ... cs nopw: padding up to the next 16-byte label
//
// or the Go runtime's Syscall6 (`mov %rbx,%rdi; syscall`), has no room for
// the 5-byte jmp. The instruction's first two bytes become `eb rel8` (a
// 3-byte one's last byte stays, never executed again), a jmp to a hole
// within 127 bytes after the syscall, alignment padding that follows an
// unconditional ret or jmp, where a 5-byte `jmp stub` is written; the stub
// is the mov pattern's with the instruction in place of the mov. Only the
// instruction's first two bytes and the padding change: every instruction
// boundary a thread can stand on stays one (the jmp rel8 where the
// instruction began, the syscall, its return address), so the
// multi-threaded order (int3, tail, head, each followed by a SYNC_CORE
// membarrier) and the SIGTRAP redirect to the stub are the mov pattern's,
// unchanged.
//
// Why the hole is never executed but through the new jmp: the bytes from
// the syscall to it are decoded one instruction after another (shortInsn:
// a list of the encodings glibc's wrappers and the Go runtime use there,
// exactly; anything else refuses the site), so the hole's first byte is an
// instruction boundary right after a ret or jmp, and every byte from it up
// to the next 16-byte boundary is a nop or int3 encoding: the assembler's
// fill before an aligned label. Code falls off into it from nowhere; a
// branch into it would be a branch into padding, which no compiler emits,
// and none of the branches decoded on the way lands in it or inside the
// replaced instruction. The residual risk is that of the mov pattern: an
// instruction that is not one but the tail of a longer one, here
// also followed by the exact decoded run to a padding. The walk goes on
// past a ret or jmp whose padding is too short or none (a label follows:
// code again), but never past a jmp rel32 right after one: that is how a
// hole another site took looks, and the padding's rest after it would be
// decoded out of step with the code that follows.

// shortReach is how far after the jmp rel8 (head+2) a hole may begin.
const shortReach = 127

// regValue is the value at the trap of the 64-bit register numbered n
// (ModRM and REX numbering) if r holds it: rax, rdx, rbx, rsi, rdi (rcx
// and r11 the syscall overwrites, the others are not passed).
func regValue(n byte, r *cblock.Regs) (uint64, bool) {
	switch n {
	case 0:
		return r.Rax, true
	case 2:
		return r.Rdx, true
	case 3:
		return r.Rbx, true
	case 6:
		return r.Rsi, true
	case 7:
		return r.Rdi, true
	}
	return 0, false
}

// shortOp is the length of the short instruction that ends at the end of
// pre, the four bytes before the syscall, or 0 if it is none: a 64-bit
// mov between two registers that held the same value at the trap (REX.W
// 89 /r, 3 bytes: the Go runtime's Syscall6, mov %rbx,%rdi), or the xor
// of eax (read's number: 0), edx, esi or edi with itself (31 or 33 /r, 2
// bytes), the register 0 at the trap. Never with a prefix byte before it
// (REX, operand or address size: another instruction).
func shortOp(pre []byte, r *cblock.Regs) int {
	if len(pre) != 4 {
		return 0
	}
	if rex, modrm := pre[1], pre[3]; rex&0xf8 == 0x48 && pre[2] == 0x89 && modrm&0xc0 == 0xc0 {
		src, ok1 := regValue(modrm>>3&7|rex&4<<1, r)
		dst, ok2 := regValue(modrm&7|rex&1<<3, r)
		if isPrefix(pre[0]) || !ok1 || !ok2 || src != dst {
			return 0
		}
		return 3
	}
	if isPrefix(pre[1]) || pre[2] != 0x31 && pre[2] != 0x33 {
		return 0
	}
	var v uint64
	switch pre[3] {
	case 0xc0:
		v = r.Rax
	case 0xd2:
		v = r.Rdx
	case 0xf6:
		v = r.Rsi
	case 0xff:
		v = r.Rdi
	default:
		return 0
	}
	if v != 0 {
		return 0
	}
	return 2
}

// MatchShort is the short site at site (its syscall instruction), given
// code, the bytes from site-4 on (the four before the syscall, the
// syscall and as many after it as could be read), for a trap whose
// registers were r: the short instruction's address (head) and that of
// five bytes of padding within reach, or false. The instruction is a
// shortOp; then shortInsns from the syscall up to a ret or jmp followed by
// at least 5 bytes of padding ending at a 16-byte boundary
// (shortPadding), no branch decoded on the way into it or inside the
// instruction.
func MatchShort(site uint64, code []byte, r *cblock.Regs) (head, hole uint64, ok bool) {
	if len(code) < 6 || code[4] != 0x0f || code[5] != 0x05 {
		return 0, 0, false
	}
	n := shortOp(code[:4], r)
	if n == 0 {
		return 0, 0, false
	}
	head = site - uint64(n)
	base := site - 4 // the address of code[0]
	var targets []uint64
	for i := 6; i < len(code); {
		at := base + uint64(i)
		if at > head+2+shortReach {
			return 0, 0, false
		}
		n, kind, target := shortInsn(code[i:], at)
		if n == 0 {
			return 0, 0, false
		}
		if kind != insnPlain {
			targets = append(targets, target)
		}
		i += n
		if kind != insnEnd {
			continue
		}
		if i < len(code) && code[i] == 0xe9 {
			// Another site's hole (a jmp right after a ret or jmp): the
			// rest of the padding it was written over is no code to
			// decode on through, the label after it out of step.
			return 0, 0, false
		}
		hole := base + uint64(i)
		end, ok := shortPadding(code[i:], hole)
		if !ok || end-hole < 5 || hole > head+2+shortReach {
			// Too short, or none: code again after it (a label).
			for n := nopLen(code[i:]); n > 0; n = nopLen(code[i:]) {
				i += n
			}
			continue
		}
		for _, t := range targets {
			if t > head && t < site || t >= hole && t < end {
				return 0, 0, false
			}
		}
		return head, hole, true
	}
	return 0, 0, false
}

// shortPadding is the end of the padding at code (address at): nop and
// int3 encodings up to the next 16-byte boundary, or false if the bytes
// are not that (or not all there).
func shortPadding(code []byte, at uint64) (uint64, bool) {
	end := at
	for i := 0; end%16 != 0; {
		n := nopLen(code[i:])
		if n == 0 {
			return 0, false
		}
		i += n
		end += uint64(n)
	}
	return end, end > at
}

// nopLen is the length of the nop or int3 at code, or 0: 90, cc, and
// `[66...] [2e] 0f 1f modrm`, the fills GNU as and LLVM emit.
func nopLen(code []byte) int {
	if len(code) == 0 {
		return 0
	}
	if code[0] == 0x90 || code[0] == 0xcc {
		return 1
	}
	i := 0
	for i < len(code) && i < 8 && code[i] == 0x66 {
		i++
	}
	if i > 0 && i < len(code) && code[i] == 0x90 {
		return i + 1
	}
	if i < len(code) && code[i] == 0x2e {
		i++
	}
	if i+2 >= len(code) || code[i] != 0x0f || code[i+1] != 0x1f {
		return 0
	}
	m := modrmLen(code[i+2:])
	if m == 0 || (code[i+2]>>3)&7 != 0 {
		return 0
	}
	return i + 2 + m
}

// What shortInsn decoded.
const (
	insnPlain = iota // falls through to the next instruction
	insnJcc          // a conditional branch: falls through, or to its target
	insnEnd          // ret or jmp: never falls through (target: a jmp's, or 0)
)

// modrmLen is the length of a ModRM byte and what follows it (SIB,
// displacement), or 0 if code is too short.
func modrmLen(code []byte) int {
	if len(code) == 0 {
		return 0
	}
	mod, rm := code[0]>>6, code[0]&7
	n := 1
	if mod != 3 && rm == 4 {
		if len(code) < 2 {
			return 0
		}
		n++
		if mod == 0 && code[1]&7 == 5 {
			n += 4 // SIB with no base: disp32
		}
	}
	switch {
	case mod == 1:
		n++
	case mod == 2, mod == 0 && rm == 5:
		n += 4
	}
	if n > len(code) {
		return 0
	}
	return n
}

// shortInsn decodes the instruction at code (address at) from the
// encodings glibc's syscall wrappers use between a syscall and the
// padding after their ret: its length (0: not one of them), what it is,
// and a branch's target. An FS or GS prefix, then a REX prefix, may come
// first; an operand-size prefix refuses (it would change the immediates'
// sizes).
func shortInsn(code []byte, at uint64) (int, int, uint64) {
	i := 0
	if i < len(code) && (code[i] == 0x64 || code[i] == 0x65) {
		i++
	}
	rexW := false
	if i < len(code) && code[i]&0xf0 == 0x40 {
		rexW = code[i]&8 != 0
		i++
	}
	if i >= len(code) {
		return 0, 0, 0
	}
	op := code[i]
	i++
	rest := code[i:]
	fixed := func(n int, kind int, target uint64) (int, int, uint64) {
		if n > len(rest) {
			return 0, 0, 0
		}
		return i + n, kind, target
	}
	withModRM := func(imm int) (int, int, uint64) {
		m := modrmLen(rest)
		if m == 0 {
			return 0, 0, 0
		}
		return fixed(m+imm, insnPlain, 0)
	}
	rel8 := func() uint64 { return at + uint64(i) + 1 + uint64(int64(int8(rest[0]))) }
	rel32 := func() uint64 {
		return at + uint64(i) + 4 + uint64(int64(int32(binary.LittleEndian.Uint32(rest))))
	}
	switch {
	case op == 0xc3:
		return fixed(0, insnEnd, 0)
	case op == 0xeb && len(rest) >= 1:
		return fixed(1, insnEnd, rel8())
	case op == 0xe9 && len(rest) >= 4:
		return fixed(4, insnEnd, rel32())
	case op == 0xe8:
		return fixed(4, insnPlain, 0) // call rel32: comes back
	case op >= 0x70 && op <= 0x7f && len(rest) >= 1:
		return fixed(1, insnJcc, rel8())
	case op >= 0x50 && op <= 0x5f, op == 0x90: // push, pop, nop
		return fixed(0, insnPlain, 0)
	case op >= 0xb8 && op <= 0xbf: // mov $imm,%r
		if rexW {
			return fixed(8, insnPlain, 0)
		}
		return fixed(4, insnPlain, 0)
	case op&0xc7 == 0x05, op == 0xa9: // add/or/.../cmp $imm32,%eax or %rax; test
		return fixed(4, insnPlain, 0)
	case op&0xc4 == 0x00 && op&7 <= 3, op >= 0x84 && op <= 0x8b, op == 0x8d, op == 0x63:
		// add/or/adc/sbb/and/sub/xor/cmp r/m forms, test, xchg, mov, lea, movsxd
		return withModRM(0)
	case op == 0x83, op == 0xc0, op == 0xc1, op == 0xc6, op == 0x6b:
		return withModRM(1)
	case op == 0x81, op == 0xc7, op == 0x69:
		return withModRM(4)
	case op == 0xd1, op == 0xd3:
		return withModRM(0)
	case op == 0xf7 || op == 0xf6:
		if len(rest) == 0 {
			return 0, 0, 0
		}
		imm := 0
		if (rest[0]>>3)&7 <= 1 { // test $imm
			imm = 4
			if op == 0xf6 {
				imm = 1
			}
		}
		return withModRM(imm)
	case op == 0xff:
		if len(rest) == 0 {
			return 0, 0, 0
		}
		switch (rest[0] >> 3) & 7 {
		case 4, 5: // jmp indirect: never falls through
			n, _, _ := withModRM(0)
			return n, insnEnd, 0
		case 7:
			return 0, 0, 0
		}
		return withModRM(0)
	case op == 0x0f && len(rest) >= 1:
		op2 := rest[0]
		i++
		rest = rest[1:]
		switch {
		case op2 == 0x05: // another syscall
			return fixed(0, insnPlain, 0)
		case op2 >= 0x80 && op2 <= 0x8f && len(rest) >= 4:
			return fixed(4, insnJcc, rel32())
		case op2 == 0x1f, op2 >= 0x40 && op2 <= 0x4f, op2 >= 0x90 && op2 <= 0x9f,
			op2 == 0xb6, op2 == 0xb7, op2 == 0xbe, op2 == 0xbf, op2 == 0xaf:
			// nop, cmov, setcc, movzx, movsx, imul
			return withModRM(0)
		}
	}
	return 0, 0, 0
}

// EncodeShortJump is the 2-byte jmp at head to hole.
func EncodeShortJump(head, hole uint64) ([]byte, bool) {
	d := int64(hole - (head + 2))
	if d < -128 || d > 127 {
		return nil, false
	}
	return []byte{0xeb, byte(int8(d))}, true
}

// tryRewriteShort is tryRewrite for a short site: ok false if the two
// bytes before the syscall are not a shortOp, or the site is not one
// MatchShort knows (the mov pattern is asked next). Written in this order:
// the stub, the hole's jmp (padding no thread executes), then the two
// bytes at head, at once with one guest thread, else in pokeCode's order
// with the int3 redirected to the stub (Entry.AddPoke). near is the
// 10+movqReach bytes from site-8 tryRewrite read, or nil.
func (t *Task) tryRewriteShort(cb *cblock.ControlBlock, regs *cblock.Regs, near []byte) (string, bool) {
	p := t.P
	site := cb.Site
	var pre [4]byte
	if near != nil {
		copy(pre[:], near[4:8]) // near starts at site-8
	} else if readGuest(site-4, pre[:]) != nil {
		return "", false
	}
	n := shortOp(pre[:], regs)
	rewritten := pre[1] == 0xeb || pre[2] == 0xeb // a jmp rel8 where a 3- or 2-byte one was
	if n == 0 && !rewritten {
		return "", false
	}
	head := site - uint64(n)
	page := head &^ (pageSize - 1)
	if n != 0 && (site-1)&^(pageSize-1) != page {
		return whyStraddle, true // the instruction's bytes, under the mov's answer
	}
	r := &p.rewrite
	r.mu.Lock()
	defer r.mu.Unlock()
	if n == 0 {
		if r.logged[[2]uint64{site, cb.Args[0]}] == rundir.RewritePatched {
			return "", true // another thread rewrote it meanwhile
		}
		return "", false
	}
	alone, out, ok := p.rewriteGate(page)
	if !ok {
		return out, true
	}
	// From site-4 to the farthest a hole's padding may end, or to the end
	// of what is mapped.
	code := make([]byte, 6+shortReach+5+16)
	m := len(code)
	if readGuest(site-4, code) != nil {
		if m = int(page + pageSize - (site - 4)); m > len(code) || readGuest(site-4, code[:m]) != nil {
			return whyUnreadable, true
		}
	}
	head, hole, ok := MatchShort(site, code[:m], regs)
	if !ok {
		return "", false
	}
	holePage := hole &^ (pageSize - 1)
	if (hole+4)&^(pageSize-1) != holePage {
		return whyHole, true
	}
	p.mu.Lock()
	owned := p.vmas.covers(holePage, holePage+pageSize)
	p.mu.Unlock()
	if !owned {
		return whyNotGuest, true
	}
	stub, ok := p.stubSlot(hole)
	if !ok {
		return whyNoStub, true
	}
	sb, ok1 := EncodeStub(stub, site+2, code[4-n:4])
	hb, ok2 := EncodeJump(hole, stub)
	jb, ok3 := EncodeShortJump(head, hole)
	if !ok1 || !ok2 || !ok3 {
		return whyNoStub, true
	}
	if writeCode(stub, sb) != nil || writeCode(hole, hb) != nil {
		return whyWrite, true
	}
	return p.patchHead(head, stub, jb, alone), true
}

// patchHead writes jb, the jmp that replaces the instruction at head, its
// stub already written at stub: at once with one guest thread, else in
// pokeCode's order with the int3 redirected to the stub (Entry.AddPoke).
// With p.rewrite.mu held.
func (p *Process) patchHead(head, stub uint64, jb []byte, alone bool) string {
	r := &p.rewrite
	r.used += stubSize
	if alone {
		if writeCode(head, jb) != nil {
			return whyWrite
		}
	} else if !entry.AddPoke(head, stub) {
		return whyPokes
	} else if pokeCode(head, jb) != nil {
		return whyWrite
	}
	r.sites++
	return rundir.RewritePatched
}

// The 7-byte `mov $imm32,%rax` (48 c7 c0 imm32, sign-extended), as the Go
// runtime sets some numbers (runtime.madvise, sysMunmap, sigaltstack), has
// room for the jmp rel32: its first five bytes become `jmp stub`, its last
// two are never executed again, and the stub is the mov pattern's with the
// seven bytes. That the 48 is an instruction start, as for the mov
// pattern's b8, rests on what follows: rax held imm at the trap, no prefix
// byte before it, and the bytes after the syscall decode (shortInsn) to a
// ret or jmp within movqReach, no branch on the way into the mov.

// movqReach is how far after the syscall MatchMovq looks for the ret.
const movqReach = 64

// MatchMovq is the address of the `mov $imm32,%rax` right before the
// syscall at site, given code, the bytes from site-8 on, for a trap whose
// registers were r, or false.
func MatchMovq(site uint64, code []byte, r *cblock.Regs) (uint64, bool) {
	if len(code) < 10 || isPrefix(code[0]) || code[1] != 0x48 || code[2] != 0xc7 || code[3] != 0xc0 ||
		code[8] != 0x0f || code[9] != 0x05 {
		return 0, false
	}
	if r.Rax != uint64(int64(int32(binary.LittleEndian.Uint32(code[4:])))) {
		return 0, false
	}
	head := site - 7
	for i := 10; i < len(code) && i < 10+movqReach; {
		n, kind, target := shortInsn(code[i:], site-8+uint64(i))
		if n == 0 || kind != insnPlain && target > head && target < site {
			return 0, false
		}
		if kind == insnEnd {
			return head, true
		}
		i += n
	}
	return 0, false
}

// tryRewriteMovq is tryRewrite for a `mov $imm32,%rax` site: ok false if
// the site is not one MatchMovq knows (the mov pattern is asked next).
// near: as tryRewriteShort's.
func (t *Task) tryRewriteMovq(cb *cblock.ControlBlock, regs *cblock.Regs, near []byte) (string, bool) {
	p := t.P
	site := cb.Site
	head := site - 7
	var code [10 + movqReach]byte
	m := len(code)
	page := head &^ (pageSize - 1)
	if len(near) == len(code) {
		copy(code[:], near) // the same bytes, site-8 on
	} else if readGuest(site-8, code[:]) != nil {
		if m = int(page + pageSize - (site - 8)); m > len(code) || m < 10 || readGuest(site-8, code[:m]) != nil {
			return "", false
		}
	}
	if _, ok := MatchMovq(site, code[:m], regs); !ok {
		return "", false
	}
	if (head+4)&^(pageSize-1) != page {
		return whyStraddle, true
	}
	r := &p.rewrite
	r.mu.Lock()
	defer r.mu.Unlock()
	alone, out, ok := p.rewriteGate(page)
	if !ok {
		return out, true
	}
	// Read again under the lock: another thread may have rewritten it.
	if readGuest(site-8, code[:m]) != nil {
		return whyUnreadable, true
	}
	if _, ok := MatchMovq(site, code[:m], regs); !ok {
		if code[1] == 0xe9 {
			return "", true // another thread rewrote it meanwhile
		}
		return whyPattern, true
	}
	stub, ok := p.stubSlot(head)
	if !ok {
		return whyNoStub, true
	}
	sb, ok1 := EncodeStub(stub, site+2, code[1:8])
	jb, ok2 := EncodeJump(head, stub)
	if !ok1 || !ok2 {
		return whyNoStub, true
	}
	if writeCode(stub, sb) != nil {
		return whyWrite, true
	}
	return p.patchHead(head, stub, jb, alone), true
}
