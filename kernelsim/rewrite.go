package kernelsim

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/rundir"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vaspace"
)

// Lazy rewriting of trapped call sites (--rewrite=lazy; ARCHITECTURE.md,
// "Rewritten call sites"). After a trap, tls's C entry asks here
// (cblock.NrPatch) whether the site can be rewritten so that its next calls
// enter the host without a signal. One instruction is replaced, the
// 5-byte `mov $imm32,%r32` right before the syscall:
//
//	head:  b8+r imm32   mov $imm,%r32   (eax: imm32 == the trapped nr)
//	site:  0f 05        syscall
//
// when the bytes around it are one of two exact shapes (MatchSite):
//   - "function": `mov $nr,%eax`, head 16-byte aligned, no prefix byte
//     before it: a function of its own, as glibc's getpid, getppid,
//     getuid... and musl's simple wrappers are;
//   - "inline": a mov to eax, edx, esi or edi whose register held imm at
//     the trap, the syscall followed by glibc's error check or a return,
//     exactly `48 3d 00 f0 ff ff` / `48 3d 01 f0 ff ff` (cmp $-4096 or
//     $-4095,%rax), `3d 00 f0 ff ff` (cmp $-4096,%eax), `89 c2` (mov
//     %eax,%edx), `48 89 c7` (mov %rax,%rdi: musl's result on its way to
//     __syscall_ret), `c3` (ret) or `89 44 24 NN c3` (mov %eax,NN(%rsp);
//     ret: the Go runtime's result stored): glibc's inlined syscalls (365 of the
//     526 syscall instructions in Debian's libc.so.6 are `mov $nr,%eax`
//     and a cmp; open's `mov $-100,%edi` is one with edi) and musl's, at
//     any alignment.
//
// The mov becomes `e9 rel32`, a jmp to a stub in a guest page within
// ±2 GB; the syscall stays. The stub does what the two instructions did
// and enters the trap path's common half through the control block:
//
//	MOV (the site's five bytes); lea site+2(%rip),%rcx; jmp *%gs:CB_OFF_PATCHED_ENTRY
//
// Why it is safe:
//   - nothing is written on the guest's stack: jmp there, jmp (resume) back;
//   - the only bytes replaced are the mov's, and every instruction boundary
//     a thread can stand on stays one: the mov's first byte (now the jmp),
//     the syscall (traps as before: a jump to it, a restart's rewind, a
//     thread that ran the old mov just before the write) and the syscall's
//     return address. A jump into the mov's immediate would land inside an
//     instruction, which no compiler emits. The residual risk is a b8 that
//     is not an instruction start: the tail of a longer instruction whose
//     last five bytes are b8+r and the register's value, right before a
//     syscall, and either at a 16-byte boundary or before one of the exact
//     error checks; a prefix byte before the mov (REX, operand or address
//     size: `41 b8` is a mov to r8d) refuses the site outright;
//   - other threads may be executing the bytes (text_poke's order, as
//     Linux patches its own text): the stub is written first and recorded
//     (Entry.AddPoke), then the mov's first byte becomes int3, then its other
//     four bytes change, then the first byte; each step is followed by a
//     core-serialising membarrier on every CPU of the process. A thread
//     that runs the int3 meanwhile takes SIGTRAP, which tls's fault
//     handler resumes at the stub; one that already ran the old mov
//     reaches the syscall, which traps. With one guest thread (no vfork
//     child) the five bytes are written at once;
//   - one rewrite at a time per process (rewriteState.mu), which fork's
//     memory copy also takes, so a child never inherits a half-written
//     site (its own table of pokes is empty); a thread that finds another
//     rewriting does not wait: its site is asked again at its next
//     power-of-two trap;
//   - the page's protections are those of /proc/self/maps before and after,
//     writable only inside this call;
//   - the stub pages are guest mappings (vmas): a fork child gets them at
//     the same address with the rewritten text (both are private pages the
//     guest wrote, streamed by fork), execve unmaps them.

// stubSize is one stub's slot in a stub page.
const stubSize = 32

// isPrefix: the x86 prefixes that would make a b8..bf opcode after them
// another instruction (REX: a mov to r8d..r15d or a movabs; 66: a 16-bit
// mov, shorter; 67: an address size the jmp must not get). The segment,
// lock and repeat prefixes are not: on a mov of an immediate they change
// nothing (lock makes it #UD: never an instruction that ran), and on the
// jmp that replaces it neither, so such a byte before the mov, usually the
// last byte of the instruction before it (`74 26`, je +0x26), is no reason
// to refuse.
func isPrefix(b byte) bool {
	return b >= 0x40 && b <= 0x4f || b == 0x66 || b == 0x67
}

// Site patterns MatchSite knows.
const (
	patternFunction = "function"
	patternInline   = "inline"
)

// inlineChecks are the exact instructions after the syscall that make a
// `mov $imm,%r32; syscall` at any alignment a site of its own.
var inlineChecks = [][]byte{
	{0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff}, // cmp $-4096,%rax
	{0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff}, // cmp $-4095,%rax
	{0x3d, 0x00, 0xf0, 0xff, 0xff},       // cmp $-4096,%eax
	{0x89, 0xc2},                         // mov %eax,%edx
	{0x48, 0x89, 0xc7},                   // mov %rax,%rdi (musl: the result to __syscall_ret)
	{0xc3},                               // ret
}

// movReg is the register the mov with opcode op (b8+r, `mov $imm32,%r32`)
// writes, as it was at the trap (regValue): eax, edx, esi, edi. Not ecx
// (the syscall overwrites rcx: its value is gone), nor ebx, which the
// inline and function patterns have never taken.
func movReg(op byte, r *cblock.Regs) (uint64, bool) {
	if op < 0xb8 || op > 0xbf || op == 0xbb {
		return 0, false
	}
	return regValue(op-0xb8, r)
}

// MatchSite is the pattern (patternFunction, patternInline) that code,
// the bytes from head-1 through the syscall instruction at head+5 (8
// bytes) and as many after it as could be read (up to 6), is for a trap
// whose registers were r, or "" if none. No prefix before head; then
// either `mov $nr,%eax; syscall` with head 16-byte aligned, or `mov
// $imm,%r32; syscall` (eax, edx, esi or edi) followed by one of
// inlineChecks (or the Go runtime's `mov %eax,N(%rsp); ret`), the register
// holding imm (zero-extended) at the trap, as
// it must if the mov was the instruction that ran.
func MatchSite(head uint64, code []byte, r *cblock.Regs) string {
	if len(code) < 8 || isPrefix(code[0]) || code[6] != 0x0f || code[7] != 0x05 {
		return ""
	}
	v, ok := movReg(code[1], r)
	if !ok || v != uint64(binary.LittleEndian.Uint32(code[2:])) {
		return ""
	}
	if head%16 == 0 && code[1] == 0xb8 {
		return patternFunction
	}
	for _, c := range inlineChecks {
		if bytes.HasPrefix(code[8:], c) {
			return patternInline
		}
	}
	if t := code[8:]; len(t) >= 5 && t[0] == 0x89 && t[1] == 0x44 && t[2] == 0x24 && t[4] == 0xc3 {
		// The Go runtime's assembly (runtime.futex, read, write1...):
		// `MOVL AX, ret+N(FP); RET`, mov %eax,N(%rsp); ret.
		return patternInline
	}
	return ""
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

// EncodeStub is the stub at stub for the site whose mov (5 bytes; or a
// short site's 2-byte instruction) it replaces and whose syscall returns to ret (the instruction after it):
// the mov; lea ret(%rip),%rcx; jmp *%gs:cblock.OffPatchedEntry.
func EncodeStub(stub, ret uint64, mov []byte) ([]byte, bool) {
	if len(mov) < 2 || len(mov) > 7 { // the mov, a short site's instruction, a mov to rax (rewriteshort.go)
		return nil, false
	}
	b := make([]byte, 0, 20)
	b = append(b, mov...)
	d, ok := rel32(ret, stub+uint64(len(mov))+7)
	if !ok {
		return nil, false
	}
	b = append(b, 0x48, 0x8d, 0x0d) // lea disp32(%rip),%rcx
	b = binary.LittleEndian.AppendUint32(b, d)
	b = append(b, 0x65, 0xff, 0x24, 0x25) // jmp *%gs:disp32 (SIB, no base)
	b = binary.LittleEndian.AppendUint32(b, uint32(cblock.OffPatchedEntry))
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

// Why a site was not rewritten: the report's not_rewritten
// (coverage.Site.NotRewritten, from the rewrite event rewriteSite logs).
const (
	whyPattern    = "pattern unknown"
	whyStraddle   = "mov straddles two pages"
	whyNotGuest   = "page not the guest's"
	whyUnreadable = "code unreadable"
	whyThreads    = "multi-threaded, no SYNC_CORE membarrier"
	whyNoStub     = "no stub page within 2 GB"
	whyWrite      = "page not writable"
	whyPokes      = "poke table full"
	whyHole       = "hole straddles two pages"
)

// rewriteSite is the cblock.NrPatch kernel call: rewrite the site cb names
// if it matches, or leave it trapping (every failure leaves it as it
// was), and log the answer (EvRewrite) when it differs from the last one
// logged for the site. Args: the trap's rax, rdi, rsi, rdx, the asking
// block's trap count at the site, and the trap's rbx.
func (t *Task) rewriteSite(cb *cblock.ControlBlock) {
	if !t.guest.ownsMemory() {
		return
	}
	out := t.tryRewrite(cb)
	if out == "" {
		return // try again later: nothing to report
	}
	p := t.P
	r := &p.rewrite
	r.mu.Lock()
	key := [2]uint64{cb.Site, cb.Args[0]}
	if r.logged == nil {
		r.logged = map[[2]uint64]string{}
	}
	fresh := r.logged[key] != out && r.logged[key] != rundir.RewritePatched
	if fresh {
		r.logged[key] = out
	}
	r.mu.Unlock()
	if fresh && p.Events != nil {
		p.Events.Rewrite(cb.Site, int(cb.Args[0]), cb.Args[4], out)
	}
}

// tryRewrite rewrites the site: rundir.RewritePatched, why not (why*),
// or "" when it may work later (the membarrier is being registered,
// another thread rewrote it).
func (t *Task) tryRewrite(cb *cblock.ControlBlock) string {
	p := t.P
	site := cb.Site
	regs := cblock.Regs{Rax: cb.Args[0], Rdi: cb.Args[1], Rsi: cb.Args[2], Rdx: cb.Args[3], Rbx: cb.Args[5]}
	// The two shapes' first looks read within one span of the site's
	// bytes: one process_vm_readv instead of two (nil when it cannot be
	// read whole: each reads its own, as before). Each reads again under
	// the rewrite lock before it writes.
	near := make([]byte, 10+movqReach)
	if readGuest(site-8, near) != nil {
		near = nil
	}
	if out, ok := t.tryRewriteShort(cb, &regs, near); ok {
		return out
	}
	if out, ok := t.tryRewriteMovq(cb, &regs, near); ok {
		return out
	}
	head := site - 5
	page := head &^ (pageSize - 1)
	if (head+4)&^(pageSize-1) != page {
		return whyStraddle
	}
	r := &p.rewrite
	// Waits for a rewrite another thread is making (a few membarriers,
	// ~0.1 ms): given up instead, the retries at this site's next
	// power-of-two traps all fell inside a new thread's rewrites of its
	// start-up sites, and a site called 100 times while two threads lived
	// was rewritten only after (e2e rewrite, mt_getpid: 64 or 128 traps).
	r.mu.Lock()
	defer r.mu.Unlock()
	alone, out, ok := p.rewriteGate(page)
	if !ok {
		return out
	}
	var code [14]byte
	n := len(code)
	if readGuest(head-1, code[:]) != nil {
		if n = 8; readGuest(head-1, code[:n]) != nil {
			return whyUnreadable
		}
	}
	if MatchSite(head, code[:n], &regs) == "" {
		if code[1] == 0xe9 && r.logged[[2]uint64{site, cb.Args[0]}] == rundir.RewritePatched {
			return "" // another thread rewrote it meanwhile
		}
		return whyPattern
	}
	stub, ok := p.stubSlot(head)
	if !ok {
		return whyNoStub
	}
	sb, ok1 := EncodeStub(stub, site+2, code[1:6])
	jb, ok2 := EncodeJump(head, stub)
	if !ok1 || !ok2 {
		return whyNoStub
	}
	if writeCode(stub, sb) != nil {
		return whyWrite
	}
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

// rewriteGate, with p.rewrite.mu held, says whether a site in page may
// be rewritten now, and whether this thread is the process's only one
// (no vfork child either: this thread may be one): ok false with why
// not, or "" when it may work later (the membarrier is being registered).
func (p *Process) rewriteGate(page uint64) (alone bool, out string, ok bool) {
	p.mu.Lock()
	alone = len(p.tasks) == 1 && len(p.vforkTasks) == 0
	owned := p.vmas.covers(page, page+pageSize)
	p.mu.Unlock()
	ready := syncCoreReady()
	if !owned {
		return false, whyNotGuest, false
	}
	if !alone && !ready {
		if syncCoreState.Load() == 3 {
			return false, whyThreads, false
		}
		return false, "", false
	}
	return alone, "", true
}

// The membarrier commands that serialise every CPU running a thread of
// this process (linux/membarrier.h): what makes the other threads fetch
// the bytes pokeCode wrote before its next step.
const (
	membarrierSyncCore         = 1 << 5 // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	membarrierRegisterSyncCore = 1 << 6 // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
)

// syncCoreState: 0 not registered, 1 registering, 2 registered, 3 the
// kernel refused.
var syncCoreState atomic.Int32

// SyncCoreRegistered tells kernelsim that this host process registered
// for syncCore before it had a second thread (platform/inprocess, from
// tls/synccore.c's constructor): no rewrite starts the registration or
// waits for it, and no exit waits for a thread still in it.
func SyncCoreRegistered() { syncCoreState.CompareAndSwap(0, 2) }

// syncCoreReady reports whether this process is registered for syncCore,
// and, unless it was at start (SyncCoreRegistered), starts the
// registration in the background the first time. It is asked at every
// rewrite, the first one usually while the process has one guest thread:
// registering from a process with threads waits for an RCU grace period
// (tens of ms), which no rewrite holds its lock through. False until it is
// done, or if the kernel has no such membarrier (a multi-threaded process
// then keeps trapping).
func syncCoreReady() bool {
	if syncCoreState.CompareAndSwap(0, 1) {
		go func() {
			_, e := hostCall(unix.SYS_MEMBARRIER, membarrierRegisterSyncCore)
			if e == 0 {
				syncCoreState.Store(2)
			} else {
				syncCoreState.Store(3)
			}
		}()
	}
	return syncCoreState.Load() == 2
}

// syncCore serialises the instruction stream of every thread of this
// process (it returns once each CPU running one has been interrupted).
func syncCore() error {
	if _, e := hostCall(unix.SYS_MEMBARRIER, membarrierSyncCore); e != 0 {
		return e
	}
	return nil
}

// VSYSBED_REWRITE_POKE_PAUSE=1 makes pokeCode wait 10 ms after the int3
// and again after the tail, so that a test's threads surely run the int3
// (e2e/rewrite_test.go: without the SIGTRAP redirect they die by it).
var pokePauseOn = os.Getenv("VSYSBED_REWRITE_POKE_PAUSE") == "1"

func pokePause() {
	if pokePauseOn {
		time.Sleep(10 * time.Millisecond)
	}
}

// pokeCode writes b (the jmp) at addr while other threads may execute
// it, in text_poke's order: int3 over the first byte, the rest, the first
// byte, each write followed by syncCore. Entry.AddPoke must already name
// addr's stub: a thread that runs the int3 is resumed there. If the first
// syncCore fails the old byte is put back (nothing else was written);
// after it, every state of the bytes is one the int3 covers.
func pokeCode(addr uint64, b []byte) error {
	prot, start, end, err := mappingOf(addr) // the whole mapping: see mappingOf
	if err != nil {
		return err
	}
	if _, e := hostCall(unix.SYS_MPROTECT, start, end-start, uint64(prot|unix.PROT_WRITE)); e != 0 {
		return e
	}
	mem := unsafe.Slice((*byte)(guestPtr(addr)), len(b))
	first := mem[0]
	mem[0] = 0xcc // int3
	if err = syncCore(); err != nil {
		mem[0] = first
	} else {
		pokePause()
		copy(mem[1:], b[1:])
		err = syncCore()
		pokePause()
		mem[0] = b[0]
		if e := syncCore(); err == nil {
			err = e
		}
	}
	if _, e := hostCall(unix.SYS_MPROTECT, start, end-start, uint64(prot)); e != 0 && err == nil {
		err = e
	}
	return err
}

// rewriteState is a process's stub pages: the current one and how much of
// it is used. Reset by execve (which unmaps the pages with every guest
// mapping); a fork child starts a page of its own.
type rewriteState struct {
	mu    sync.Mutex // held by rewriteSite (tried: never waited for), and by fork around its memory copy
	page  uint64     // 0: none yet
	used  uint64
	sites int // sites rewritten
	// logged: the last answer logged (EvRewrite) per (site, nr).
	logged map[[2]uint64]string
}

// reset forgets the stub pages and the pokes (execve: one guest thread is
// left, the pages are unmapped with every guest mapping).
func (r *rewriteState) reset() {
	r.mu.Lock()
	r.page, r.used, r.sites, r.logged = 0, 0, 0, nil
	entry.ResetPokes()
	r.mu.Unlock()
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
			r, e := hostCall(unix.SYS_MMAP, at, pageSize, unix.PROT_READ|unix.PROT_EXEC,
				unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0)
			if e != 0 {
				continue
			}
			if r != at {
				hostCall(unix.SYS_MUNMAP, r, pageSize)
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

// writeCode writes b at addr, within one page of guest code: through
// /proc/self/mem (writeCodeMem), or the mapping holding it is made
// writable for the copy and given back the protection /proc/self/maps
// shows for it.
func writeCode(addr uint64, b []byte) error {
	if err := writeCodeMem(addr, b); err != errNoMemWrite {
		return err
	}
	prot, start, end, err := mappingOf(addr)
	if err != nil {
		return err
	}
	if _, e := hostCall(unix.SYS_MPROTECT, start, end-start, uint64(prot|unix.PROT_WRITE)); e != 0 {
		return e
	}
	copy(unsafe.Slice((*byte)(guestPtr(addr)), len(b)), b)
	if _, e := hostCall(unix.SYS_MPROTECT, start, end-start, uint64(prot)); e != 0 {
		return e
	}
	return nil
}

// protOf is the protection of the mapping holding addr, from /proc/self/maps.
func protOf(addr uint64) (int, error) {
	prot, _, _, err := mappingOf(addr)
	return prot, err
}

// mappingOf is the protection and range of the mapping (the kernel's VMA)
// holding addr, from /proc/self/maps. Writes change the protection of the
// whole range, never of one page in it: the kernel does not merge a
// private file mapping's written page back into its neighbours, so a
// page's mprotect would leave the text in three VMAs where natively (and
// in the guest's /proc/self/maps) there is one, and /proc/self/map_files,
// the host kernel's, would list the pieces. The kernel is asked for that
// one mapping where it can be (queryMapping), else the text is read.
func mappingOf(addr uint64) (prot int, start, end uint64, err error) {
	if prot, start, end, err := queryMapping(addr); err != errNoQuery {
		return prot, start, end, err
	}
	return mappingOfText(addr)
}

// mappingOfText is mappingOf from the text of /proc/self/maps.
func mappingOfText(addr uint64) (prot int, start, end uint64, err error) {
	sc, err := hostLines("/proc/self/maps")
	if err != nil {
		return 0, 0, 0, err
	}
	for sc.Scan() {
		prot, ok := protLine(sc.Text(), addr)
		if ok {
			lo, hi, _ := strings.Cut(strings.Fields(sc.Text())[0], "-")
			start, _ = strconv.ParseUint(lo, 16, 64)
			end, _ = strconv.ParseUint(hi, 16, 64)
			return prot, start, end, nil
		}
	}
	return 0, 0, 0, unix.EFAULT
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
