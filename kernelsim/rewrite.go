package kernelsim

import (
	"bufio"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls"
	"github.com/vsysbed/vsysbed/vaspace"
)

// Lazy rewriting of trapped call sites (--rewrite=lazy; ARCHITECTURE.md,
// "Rewritten call sites"). After a trap, tls's C entry asks here
// (tls.NrPatch) whether the site can be rewritten so that its next calls
// enter the host without a signal. One pattern is known:
//
//	head:  b8 imm32   mov $nr,%eax    (imm32 == the trapped nr)
//	site:  0f 05      syscall
//
// with head 16-byte aligned: a function of its own, as glibc's getpid,
// getppid, getuid... and musl's simple wrappers are. The mov becomes
// `e9 rel32`, a jmp to a stub in a guest page within ±2 GB; the syscall
// stays. The stub does what the two instructions did and enters the trap
// path's common half through the control block:
//
//	mov $nr,%eax; lea site+2(%rip),%rcx; jmp *%gs:CB_OFF_PATCHED_ENTRY
//
// Why it is safe:
//   - nothing is written on the guest's stack: jmp there, jmp (resume) back;
//   - the only bytes replaced are the mov's. A jump to the mov's first byte
//     runs the new jmp, one to the syscall traps as before; a jump into the
//     mov's immediate would have to land inside an instruction, which no
//     compiler emits. The residual risk is a b8 that is not an instruction
//     start: the tail of a longer instruction that ends right before a
//     syscall and whose last five bytes are b8 and the trapped number. The
//     16-byte alignment (a function entry) and imm32 == nr (the number
//     really was in eax at the trap) make it a coincidence of two
//     conditions; a prefix byte before the b8 (REX, operand size: `41 b8`
//     is a mov to r8d) refuses the site outright;
//   - only a process with one guest thread and no vfork child is rewritten:
//     no other thread can be executing the bytes that change (a process
//     with more threads keeps trapping: the int3 protocol of Linux's
//     text_poke is not in this slice);
//   - the page's protections are those of /proc/self/maps before and after,
//     writable only inside this call, during which no guest code runs;
//   - the stub pages are guest mappings (vmas): a fork child gets them at
//     the same address with the rewritten text (both are private pages the
//     guest wrote, streamed by fork), execve unmaps them.

// stubSize is one stub's slot in a stub page.
const stubSize = 32

// prefixBytes are the x86 prefixes that change a following b8 opcode
// (REX makes it a mov to r8d..r15d or a movabs, 66 a 16-bit mov) or mark
// the b8 as part of a longer instruction.
func isPrefix(b byte) bool {
	switch {
	case b >= 0x40 && b <= 0x4f: // REX
		return true
	}
	switch b {
	case 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65:
		return true
	}
	return false
}

// MatchSite reports whether code, the 8 bytes from head-1 through the
// syscall instruction at head+5, is the pattern rewriteSite knows for a
// trap of nr: no prefix, `mov $nr,%eax`, `syscall`, head 16-byte aligned.
func MatchSite(head uint64, code []byte, nr uint32) bool {
	if len(code) != 8 || head%16 != 0 {
		return false
	}
	return !isPrefix(code[0]) && code[1] == 0xb8 && binary.LittleEndian.Uint32(code[2:]) == nr &&
		code[6] == 0x0f && code[7] == 0x05
}

// rel32 is the displacement from next (the address after the instruction)
// to target, if it fits.
func rel32(target, next uint64) (uint32, bool) {
	d := int64(target - next)
	if d < -1<<31 || d >= 1<<31 {
		return 0, false
	}
	return uint32(int32(d)), true
}

// EncodeStub is the stub at stub for the site whose syscall returns to
// ret (the instruction after it): mov $nr,%eax; lea ret(%rip),%rcx;
// jmp *%gs:tls.OffPatchedEntry.
func EncodeStub(stub, ret uint64, nr uint32) ([]byte, bool) {
	b := make([]byte, 0, 20)
	b = append(b, 0xb8)
	b = binary.LittleEndian.AppendUint32(b, nr)
	d, ok := rel32(ret, stub+5+7)
	if !ok {
		return nil, false
	}
	b = append(b, 0x48, 0x8d, 0x0d) // lea disp32(%rip),%rcx
	b = binary.LittleEndian.AppendUint32(b, d)
	b = append(b, 0x65, 0xff, 0x24, 0x25) // jmp *%gs:disp32 (SIB, no base)
	b = binary.LittleEndian.AppendUint32(b, uint32(tls.OffPatchedEntry))
	return b, true
}

// EncodeJump is the 5-byte jmp at head to stub.
func EncodeJump(head, stub uint64) ([]byte, bool) {
	d, ok := rel32(stub, head+5)
	if !ok {
		return nil, false
	}
	return binary.LittleEndian.AppendUint32([]byte{0xe9}, d), true
}

// rewriteSite is the tls.NrPatch kernel call: rewrite the site cb names
// if it matches, or leave it trapping. Every failure leaves it as it was.
func (t *Task) rewriteSite(cb *tls.ControlBlock) {
	p := t.P
	site, nr := cb.Site, uint32(cb.Args[0])
	head := site - 5
	p.mu.Lock()
	// No other thread, and no vfork child (this thread may be one).
	alone := len(p.tasks) == 1 && len(p.vforkTasks) == 0
	owned := p.vmas.covers(head&^(pageSize-1), (head&^(pageSize-1))+pageSize)
	p.mu.Unlock()
	if !alone || !owned {
		return
	}
	var code [8]byte
	if readGuest(head-1, code[:]) != nil || !MatchSite(head, code[:], nr) {
		return
	}
	stub, ok := p.stubSlot(head)
	if !ok {
		return
	}
	sb, ok1 := EncodeStub(stub, site+2, nr)
	jb, ok2 := EncodeJump(head, stub)
	if !ok1 || !ok2 || writeCode(stub, sb) != nil {
		return
	}
	p.rewrite.used += stubSize
	if writeCode(head, jb) != nil {
		return
	}
	p.rewrite.sites++
}

// rewriteState is a process's stub pages: the current one and how much of
// it is used. Reset by execve (which unmaps the pages with every guest
// mapping); a fork child starts a page of its own.
type rewriteState struct {
	page  uint64 // 0: none yet
	used  uint64
	sites int // sites rewritten
}

// stubSlot is the address of a free stub slot within rel32 reach of head
// (from both the jmp at head and the stub's lea back), mapping a new stub
// page near head if the current one is full or too far.
func (p *Process) stubSlot(head uint64) (uint64, bool) {
	r := &p.rewrite
	if r.page != 0 && r.used+stubSize <= pageSize {
		s := r.page + r.used
		if _, ok := rel32(s, head+5); ok {
			if _, ok := rel32(head+7, s+12); ok {
				return s, true
			}
		}
	}
	page, ok := p.mapStubPage(head)
	if !ok {
		return 0, false
	}
	r.page, r.used = page, 0
	return page, true
}

// mapStubPage maps an anonymous guest page near head: tried below, then
// above, at 64 KiB, 128 KiB... up to 1 GiB away, never over anything
// mapped (MAP_FIXED_NOREPLACE), and in vaspace's window when head is (a
// fork child must be able to map it at the same address).
func (p *Process) mapStubPage(head uint64) (uint64, bool) {
	base := head &^ (pageSize - 1)
	for d := uint64(64 << 10); d <= 1<<30; d <<= 1 {
		for _, at := range []uint64{base - d, base + d} {
			if at > base+d || at < pageSize || (vaspace.In(head, 1) && !vaspace.In(at, pageSize)) {
				continue // wrapped, or out of the window
			}
			r, _, e := unix.Syscall6(unix.SYS_MMAP, uintptr(at), pageSize, unix.PROT_READ|unix.PROT_EXEC,
				unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uintptr(0), 0)
			if e != 0 {
				continue
			}
			if uint64(r) != at {
				unix.Syscall(unix.SYS_MUNMAP, r, pageSize, 0)
				continue
			}
			p.mu.Lock()
			p.vmas.add(at, at+pageSize)
			p.mu.Unlock()
			return at, true
		}
	}
	return 0, false
}

// writeCode writes b at addr, within one page of guest code: the page is
// made writable for the copy and given back the protection
// /proc/self/maps shows for it.
func writeCode(addr uint64, b []byte) error {
	page := addr &^ (pageSize - 1)
	prot, err := protOf(page)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MPROTECT, uintptr(page), pageSize, uintptr(prot|unix.PROT_WRITE)); e != 0 {
		return e
	}
	copy(unsafe.Slice((*byte)(guestPtr(addr)), len(b)), b)
	if _, _, e := unix.Syscall(unix.SYS_MPROTECT, uintptr(page), pageSize, uintptr(prot)); e != 0 {
		return e
	}
	return nil
}

// protOf is the protection of the mapping holding addr, from /proc/self/maps.
func protOf(addr uint64) (int, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		prot, ok := protLine(sc.Text(), addr)
		if ok {
			return prot, nil
		}
	}
	return 0, unix.EFAULT
}

// protLine is the protection of one maps line if its range holds addr.
func protLine(line string, addr uint64) (int, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f[1]) < 3 {
		return 0, false
	}
	lo, hi, _ := strings.Cut(f[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || addr < start || addr >= end {
		return 0, false
	}
	prot := 0
	if f[1][0] == 'r' {
		prot |= unix.PROT_READ
	}
	if f[1][1] == 'w' {
		prot |= unix.PROT_WRITE
	}
	if f[1][2] == 'x' {
		prot |= unix.PROT_EXEC
	}
	return prot, true
}
