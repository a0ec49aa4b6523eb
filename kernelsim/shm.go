package kernelsim

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/vaspace"
)

// System V shared memory. Segments are kernel objects shared by key with
// every process, native ones included, so shmget and shmctl pass through.
// An attachment is a mapping, though: the kernel's shmat places one where
// its own mmap would (host memory, where a forked child's runtime may be),
// and shmdt removes mappings kernelsim must forget. So kernelsim chooses the
// address for shmat(id, 0), guards the explicit ones like MAP_FIXED, and
// keeps the VMA set in step with both calls. A fork child attaches every
// segment itself, by id, at the parent's addresses (attachSysV): the child
// then holds real attachments (shm_nattch counts them, its shmdt works), as
// after a native fork.

// shmat(2) flags not in x/sys/unix.
const (
	shmRemap = 0o40000
	shmExec  = 0o100000
)

// shmStat answers the segment's size in pages as mapped (shm_segsz
// rounded up) and its key. IPC_STAT needs the read permission shmat needs
// anyway, so it fails exactly when shmat would for the id (EINVAL, EIDRM,
// EACCES).
func shmStat(id int) (size uint64, key int32, errno unix.Errno) {
	//
	// Asked of the host directly: a segment is a kernel object any
	// process may stat by id (the guest's shmget and shmctl pass through),
	// not state of the guest process's.
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		if e, ok := err.(unix.Errno); ok {
			return 0, 0, e
		}
		return 0, 0, unix.EINVAL
	}
	return pageUp(ds.Segsz), ds.Perm.Key, 0
}

func shmatRaw(id int, addr uint64, flg int) int64 {
	return machine.Syscall(unix.SYS_SHMAT, &Args{uint64(id), addr, uint64(flg)})
}

func shmProt(flg int) int {
	prot := unix.PROT_READ
	if flg&unix.SHM_RDONLY == 0 {
		prot |= unix.PROT_WRITE
	}
	if flg&shmExec != 0 {
		prot |= unix.PROT_EXEC
	}
	return prot
}

// shmatTarget applies the kernel's own checks on shmat's address (as
// do_shmat does, before it looks at the segment): an unaligned address
// needs SHM_RND, which rounds it down to SHMLBA (the page size on
// x86-64); SHM_REMAP needs an address. It returns the address to attach
// at, 0 for one kernelsim chooses; atZero when the rounding gave 0, which
// Linux then maps at address 0 as MAP_FIXED would (mmap_min_addr usually
// refuses it): no host memory is there, so the kernel may answer.
func shmatTarget(addr uint64, flg int) (target uint64, atZero bool, errno unix.Errno) {
	if addr%pageSize != 0 {
		if flg&unix.SHM_RND == 0 {
			return 0, false, unix.EINVAL
		}
		addr &^= pageSize - 1
		if addr == 0 {
			if flg&shmRemap != 0 {
				return 0, false, unix.EINVAL
			}
			return 0, true, 0
		}
		return addr, false, 0
	}
	if addr == 0 && flg&shmRemap != 0 {
		return 0, false, unix.EINVAL
	}
	return addr, false, 0
}

func sysShmat(t *Task, a *Args) int64 {
	p := t.P
	id, flg := int(int32(a[0])), int(int32(a[2]))
	addr, atZero, e := shmatTarget(a[1], flg)
	switch {
	case e != 0:
		return -int64(e)
	}
	size, key, e := shmStat(id)
	if e != 0 {
		return -int64(e)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if atZero {
		// MAP_FIXED at 0 replaces whatever lies below the segment's size:
		// the guest's own (a non-PIE image at 0x400000) as natively, never
		// the host's.
		if p.hostMapped(0, size) {
			return -int64(unix.EINVAL)
		}
		return p.shmatLocked(shmatRaw(id, a[1], flg), size, key, flg)
	}
	if addr != 0 {
		end, ok := rangeOK(addr, size)
		if !ok {
			return -int64(unix.EINVAL)
		}
		if flg&shmRemap != 0 && !p.vmas.covers(addr, end) {
			// Never replace host memory: without SHM_REMAP the kernel
			// refuses an occupied range (EINVAL), as for a guest whose
			// range overlaps a mapping it does not own.
			flg &^= shmRemap
		}
		return p.shmatLocked(shmatRaw(id, a[1], flg), size, key, flg)
	}
	// The kernel would choose from the host's free space: reserve a range
	// in the guest's window and attach over the reservation.
	res, e := p.plat.Reserve(uintptr(size), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
	if e != 0 {
		return -int64(e)
	}
	r := shmatRaw(id, uint64(res), flg|shmRemap)
	if r < 0 && r > -4096 {
		machine.Syscall(unix.SYS_MUNMAP, &Args{uint64(res), size})
	}
	return p.shmatLocked(r, size, key, flg)
}

// hostMapped reports whether anything not the guest's is mapped in
// [start, end) (p.mu held).
func (p *Process) hostMapped(start, end uint64) bool {
	if p.vmas.covers(start, end) {
		return false
	}
	sc, err := hostLines("/proc/self/maps")
	if err != nil {
		return true
	}
	for sc.Scan() {
		lo, hi, ok := mapsRange(sc.Text())
		if ok && lo < end && hi > start && !p.vmas.covers(max(lo, start), min(hi, end)) {
			return true
		}
	}
	return sc.Err() != nil
}

// mapsRange is the address range of a /proc/PID/maps line.
func mapsRange(line string) (start, end uint64, ok bool) {
	r, _, _ := strings.Cut(line, " ")
	lo, hi, ok := strings.Cut(r, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	return start, end, err1 == nil && err2 == nil && start < end
}

// shmatLocked makes a successful attachment a guest mapping (p.mu held).
func (p *Process) shmatLocked(r int64, size uint64, key int32, flg int) int64 {
	if r < 0 && r > -4096 {
		return r
	}
	start := uint64(r)
	p.vmas.add(start, start+size)
	if p.Events != nil {
		// Named as /proc/PID/maps names it: the kernel calls a segment's
		// file after its key.
		p.Events.Map(start, start+size, 0, shmProt(flg), fmt.Sprintf("/SYSV%08x", uint32(key)))
	}
	return r
}

// sysShmdt detaches only guest attachments: any other address answers
// EINVAL, as an address without an attachment does. Linux detaches the
// attachment whose piece at or above addr sits at its own offset from addr
// (the first page itself may have been unmapped), with every other piece
// of it (mprotect splits one); what it detached is read back from
// /proc/self/maps.
func sysShmdt(t *Task, a *Args) int64 {
	p := t.P
	addr := a[0]
	if addr%pageSize != 0 {
		return -int64(unix.EINVAL)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before, err := sysvMappings()
	if err != nil {
		return errnoOf(err)
	}
	ours := false
	for _, m := range before {
		if m.Start >= addr && m.Start-addr == m.Offset && p.vmas.covers(m.Start, m.End) {
			ours = true
			break
		}
	}
	if !ours {
		return -int64(unix.EINVAL)
	}
	r := passthrough(unix.SYS_SHMDT, a)
	if r != 0 {
		return r
	}
	after, err := sysvMappings()
	if err != nil {
		return r
	}
	still := map[[2]uint64]bool{}
	for _, m := range after {
		still[[2]uint64{m.Start, m.End}] = true
	}
	for _, m := range before {
		if still[[2]uint64{m.Start, m.End}] || !p.vmas.covers(m.Start, m.End) {
			continue
		}
		p.vmas.remove(m.Start, m.End)
		if p.Events != nil {
			p.Events.Unmap(m.Start, m.End)
		}
	}
	return r
}

// sysvMapping is one VMA of a System V segment attachment.
type sysvMapping struct {
	Start, End, Offset uint64
	Prot               int
	ID                 int // the segment's id: its file's inode number
}

// sysvMappings lists this process's System V attachments.
func sysvMappings() ([]sysvMapping, error) {
	sc, err := hostLines("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	var out []sysvMapping
	for sc.Scan() {
		if m, ok := parseSysvLine(sc.Text()); ok {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// parseSysvLine parses a /proc/PID/maps line when it describes an
// attachment of a System V segment. The kernel gives a segment's file the
// segment's id as inode number and the name "SYSV" + its key in 8 hex
// digits, always unlinked (it lives on the kernel's internal shm mount):
// "7f..-7f.. rw-s 00000000 00:01 32769  /SYSV0052e2c1 (deleted)". A
// regular file named /SYSV… would not be "(deleted)" while mapped and
// shared unless removed, and then its inode is no segment's id: callers
// check the id with IPC_STAT before they rely on it.
func parseSysvLine(line string) (sysvMapping, bool) {
	var m sysvMapping
	f := strings.Fields(line)
	if len(f) != 7 || f[6] != "(deleted)" || len(f[1]) != 4 || f[1][3] != 's' {
		return m, false
	}
	name, ok := strings.CutPrefix(f[5], "/SYSV")
	if !ok || len(name) != 8 {
		return m, false
	}
	if _, err := strconv.ParseUint(name, 16, 32); err != nil {
		return m, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return m, false
	}
	var err1, err2, err3, err4 error
	m.Start, err1 = strconv.ParseUint(lo, 16, 64)
	m.End, err2 = strconv.ParseUint(hi, 16, 64)
	m.Offset, err3 = strconv.ParseUint(f[2], 16, 64)
	id, err4 := strconv.ParseUint(f[4], 10, 31)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || m.End <= m.Start {
		return m, false
	}
	m.ID = int(id)
	m.Prot = permsProt(f[1])
	return m, true
}

func permsProt(perms string) int {
	prot := 0
	if perms[0] == 'r' {
		prot |= unix.PROT_READ
	}
	if perms[1] == 'w' {
		prot |= unix.PROT_WRITE
	}
	if perms[2] == 'x' {
		prot |= unix.PROT_EXEC
	}
	return prot
}

// sysvGroupEnd returns the end of the group of regions starting at i that
// are pieces of one attachment: the same segment, adjacent, each at its
// own offset from the same base (mprotect splits an attachment so).
func sysvGroupEnd(rs []ForkRegion, i int) int {
	base := rs[i].Start - rs[i].Offset
	j := i + 1
	for j < len(rs) && rs[j].ShmSize > 0 && rs[j].ShmID == rs[i].ShmID &&
		rs[j].Start == rs[j-1].End && rs[j].Start-rs[j].Offset == base {
		j++
	}
	return j
}

// attachSysV re-creates one attachment of a fork's parent in the child:
// a shmat of the segment by id, so the child's pieces are an attachment
// of its own (nattch counts them, shmdt detaches them) sharing the pages.
// The whole segment goes straight to its address; a part the parent kept
// (it unmapped the rest) is attached elsewhere in the window and moved
// into place with mremap, the rest detached. Each piece then gets its
// protection back. An attachment none of whose pieces may be written comes
// back read-only
// (SHM_RDONLY) unless the parent may make it writable (ShmMayWrite).
func attachSysV(g []ForkRegion) error {
	id, size := g[0].ShmID, g[0].ShmSize
	base := g[0].Start - g[0].Offset
	end := g[len(g)-1].End
	flg := unix.SHM_RDONLY
	for _, r := range g {
		if r.ShmMayWrite || r.Prot&unix.PROT_WRITE != 0 {
			flg &^= unix.SHM_RDONLY
		}
		if r.Prot&unix.PROT_EXEC != 0 {
			flg |= shmExec
		}
	}
	if g[0].Offset == 0 && end == base+size {
		r := shmatRaw(id, base, flg)
		if r < 0 && r > -4096 {
			return unix.Errno(-r)
		}
		if uint64(r) != base {
			hostCall(unix.SYS_SHMDT, uint64(r))
			return fmt.Errorf("attached at %#x", r)
		}
	} else {
		tmp, e := vaspace.Map(uintptr(size), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0)
		if e != 0 {
			return e
		}
		r := shmatRaw(id, uint64(tmp), flg|shmRemap)
		if r < 0 && r > -4096 {
			hostCall(unix.SYS_MUNMAP, uint64(tmp), size)
			return unix.Errno(-r)
		}
		_, e = hostCall(unix.SYS_MREMAP, uint64(tmp)+g[0].Offset, end-g[0].Start, end-g[0].Start,
			unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, g[0].Start)
		hostCall(unix.SYS_MUNMAP, uint64(tmp), size)
		if e != 0 {
			return e
		}
	}
	for _, r := range g {
		if r.Prot != shmProt(flg) {
			hostCall(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot))
		}
	}
	return nil
}

// mayWriteRanges lists the start addresses of the mappings that may be
// made writable (VM_MAYWRITE: "mw" in /proc/self/smaps' VmFlags). An
// attachment made SHM_RDONLY may not; one mprotect'ed read-only may.
func mayWriteRanges() map[uint64]bool {
	out := map[uint64]bool{}
	sc, err := hostLines("/proc/self/smaps")
	if err != nil {
		return out
	}
	var cur uint64
	for sc.Scan() {
		line := sc.Text()
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			for _, fl := range strings.Fields(flags) {
				if fl == "mw" {
					out[cur] = true
				}
			}
			continue
		}
		if start, _, ok := mapsRange(line); ok { // a mapping's first line, as in maps
			cur = start
		}
	}
	return out
}
