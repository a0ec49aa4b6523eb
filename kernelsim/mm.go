package kernelsim

import (
	"sort"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/vaspace"
)

const pageSize = 4096

func pageUp(x uint64) uint64 { return (x + pageSize - 1) &^ (pageSize - 1) }

// vmaSet is the set of address ranges the guest owns, kept as sorted,
// disjoint, merged [start, end) intervals. The mm calls may only change
// memory inside it: everything outside belongs to the host.
type vmaSet struct{ r [][2]uint64 }

func (s *vmaSet) add(start, end uint64) {
	if start >= end {
		return
	}
	out := make([][2]uint64, 0, len(s.r)+1)
	i := 0
	for ; i < len(s.r) && s.r[i][1] < start; i++ {
		out = append(out, s.r[i])
	}
	for ; i < len(s.r) && s.r[i][0] <= end; i++ {
		start = min(start, s.r[i][0])
		end = max(end, s.r[i][1])
	}
	out = append(out, [2]uint64{start, end})
	s.r = append(out, s.r[i:]...)
}

func (s *vmaSet) remove(start, end uint64) {
	var out [][2]uint64
	for _, v := range s.r {
		if v[1] <= start || v[0] >= end {
			out = append(out, v)
			continue
		}
		if v[0] < start {
			out = append(out, [2]uint64{v[0], start})
		}
		if v[1] > end {
			out = append(out, [2]uint64{end, v[1]})
		}
	}
	s.r = out
}

// covers reports whether [start, end) lies entirely in guest ranges.
// within lists the pieces of [start, end) that are in the set.
func (s *vmaSet) within(start, end uint64) [][2]uint64 {
	var out [][2]uint64
	for _, r := range s.r {
		if lo, hi := max(r[0], start), min(r[1], end); lo < hi {
			out = append(out, [2]uint64{lo, hi})
		}
	}
	return out
}

func (s *vmaSet) covers(start, end uint64) bool {
	if start >= end {
		return true
	}
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i][1] > start })
	return i < len(s.r) && s.r[i][0] <= start && s.r[i][1] >= end
}

func rangeOK(addr, length uint64) (uint64, bool) {
	end := addr + pageUp(length)
	return end, end >= addr
}

func sysMmap(t *Task, a *Args) int64 {
	p := t.P
	addr, length, prot, flags, fd, off := a[0], a[1], a[2], a[3], a[4], a[5]
	if flags&unix.MAP_ANONYMOUS == 0 && isHostFD(int(int32(fd))) {
		return -int64(unix.EBADF) // the fd map leaves mmap out: MAP_ANONYMOUS ignores fd
	}
	if length == 0 && flags&unix.MAP_ANONYMOUS == 0 && off%pageSize == 0 {
		// Linux looks at the fd before the length (EBADF before EINVAL);
		// vaspace would refuse the length first.
		if !fdOpen(int(int32(fd))) {
			return -int64(unix.EBADF)
		}
	}
	if flags&unix.MAP_FIXED != 0 {
		end, ok := rangeOK(addr, length)
		if !ok {
			return -int64(unix.ENOMEM) // past TASK_SIZE, as get_unmapped_area answers
		}
		p.mu.Lock()
		inside := p.vmas.covers(addr, end)
		p.mu.Unlock()
		if !inside {
			// Never replace host memory: fail like an occupied hint would.
			flags = flags&^unix.MAP_FIXED | unix.MAP_FIXED_NOREPLACE
		}
	}
	// The map changes and its bookkeeping are one step under the lock: a
	// thread's munmap between them would drop another's new range.
	p.mu.Lock()
	anon := flags&unix.MAP_ANONYMOUS != 0
	memfd := -1
	if isSharedAnon(flags) && t.guest.ownsFiles() { // a vfork child's fd table is not ours (vfork.go)
		// Shared with fork children through a memfd (shmem.go).
		var e unix.Errno
		if memfd, e = p.newShmem(length); e != 0 {
			p.mu.Unlock()
			return -int64(e)
		}
		flags &^= unix.MAP_ANONYMOUS
		fd, off = uint64(memfd), 0
	}
	b := Args{addr, length, prot, flags, fd, off}
	var r int64
	if flags&(unix.MAP_FIXED|unix.MAP_FIXED_NOREPLACE|unix.MAP_32BIT) == 0 && !vaspace.In(addr, length) {
		// The kernel's choice could be where a forked child's host memory
		// goes: place it in the guest's window (a hint there is kept).
		a, e := p.plat.Reserve(uintptr(length), int(prot), int(flags), int(int32(fd)), off)
		r = int64(a)
		if e != 0 {
			r = -int64(e)
		}
	} else {
		r = passthrough(unix.SYS_MMAP, &b)
	}
	if r < 0 && r > -4096 {
		if memfd >= 0 {
			p.dropShmem(memfd)
		}
		p.mu.Unlock()
		return r
	}
	start := uint64(r)
	p.vmas.add(start, start+pageUp(length))
	p.mu.Unlock()
	if !anon && p.Events != nil {
		path, err := readlinkHost("/proc/self/fd/" + itoa(int(int32(fd))))
		if err == nil {
			p.Events.Map(start, start+pageUp(length), off, int(prot), path)
		}
	}
	return r
}

// guardRange passes nr through when [a0, a0+a1) is guest memory: an
// unaligned start is EINVAL, a range past the end of the address space
// wrapped (the call's own error: mprotect's ENOMEM, madvise's EINVAL).
func guardRange(nr int, notOwned, wrapped unix.Errno) Handler {
	return func(t *Task, a *Args) int64 {
		end, ok := rangeOK(a[0], a[1])
		if a[0]%pageSize != 0 {
			return -int64(unix.EINVAL)
		}
		if !ok {
			return -int64(wrapped)
		}
		t.P.mu.Lock()
		inside := t.P.vmas.covers(a[0], end)
		t.P.mu.Unlock()
		if !inside {
			return -int64(notOwned)
		}
		return passthrough(nr, a)
	}
}

func sysMunmap(t *Task, a *Args) int64 {
	end, ok := rangeOK(a[0], a[1])
	if !ok || a[0]%pageSize != 0 || a[1] == 0 {
		return -int64(unix.EINVAL)
	}
	t.P.mu.Lock()
	if !t.P.vmas.covers(a[0], end) {
		// Linux unmaps whatever the range holds, nothing at all included
		// (0). Here only the guest's pieces of it go: the rest is, to the
		// guest, a hole, or the host's, which stays.
		for _, piece := range t.P.vmas.within(a[0], end) {
			b := Args{piece[0], piece[1] - piece[0]}
			if r := passthrough(unix.SYS_MUNMAP, &b); r != 0 {
				t.P.mu.Unlock()
				return r
			}
		}
		a = &Args{a[0], 0}
	}
	r := int64(0)
	if a[1] != 0 {
		r = passthrough(unix.SYS_MUNMAP, a)
	}
	if r == 0 {
		t.P.vmas.remove(a[0], end)
		// The brk reservation stays guest-owned even when unmapped.
		if t.P.brkMax > t.P.brkStart {
			lo, hi := max(a[0], pageUp(t.P.brkStart)), min(end, t.P.brkMax)
			if lo < hi {
				t.P.vmas.add(lo, hi)
			}
		}
	}
	t.P.mu.Unlock()
	if r == 0 {
		if t.P.Events != nil {
			t.P.Events.Unmap(a[0], end)
		}
	}
	return r
}

// mremapFlags are the flags mremap knows.
const mremapFlags = unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED | unix.MREMAP_DONTUNMAP

func sysMremap(t *Task, a *Args) int64 {
	oldAddr, oldLen, newLen, flags, newAddr := a[0], a[1], a[2], a[3], a[4]
	// Linux's checks of the arguments alone come before it looks for the
	// mapping (EINVAL): unknown flags, an unaligned address, a new length
	// of 0, a new address without MREMAP_MAYMOVE.
	if flags&^mremapFlags != 0 || oldAddr%pageSize != 0 || pageUp(newLen) == 0 ||
		flags&(unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0 && flags&unix.MREMAP_MAYMOVE == 0 {
		return -int64(unix.EINVAL)
	}
	end, ok := rangeOK(oldAddr, oldLen)
	if !ok {
		return -int64(unix.EFAULT) // no mapping there
	}
	p := t.P
	p.mu.Lock()
	inside := p.vmas.covers(oldAddr, end)
	if inside && flags&unix.MREMAP_FIXED != 0 {
		nend, ok := rangeOK(newAddr, newLen)
		inside = ok && p.vmas.covers(newAddr, nend)
	}
	p.mu.Unlock()
	if !inside {
		return -int64(unix.EFAULT)
	}
	var r int64
	if flags&unix.MREMAP_FIXED == 0 {
		// In place first; a move goes to a place in the guest's window.
		b := *a
		b[3] = flags &^ unix.MREMAP_MAYMOVE
		r = passthrough(unix.SYS_MREMAP, &b)
		if r == -int64(unix.ENOMEM) && flags&unix.MREMAP_MAYMOVE != 0 {
			if to, e := p.plat.Reserve(uintptr(newLen), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE, -1, 0); e == 0 {
				b[3], b[4] = flags|unix.MREMAP_FIXED, uint64(to)
				if r = passthrough(unix.SYS_MREMAP, &b); r < 0 && r > -4096 {
					machine.Syscall(unix.SYS_MUNMAP, &Args{uint64(to), newLen})
				}
			}
		}
	} else {
		r = passthrough(unix.SYS_MREMAP, a)
	}
	if r < 0 && r > -4096 {
		return r
	}
	p.mu.Lock()
	if flags&unix.MREMAP_DONTUNMAP == 0 {
		p.vmas.remove(oldAddr, end)
	}
	p.vmas.add(uint64(r), uint64(r)+pageUp(newLen))
	p.mu.Unlock()
	return r
}

// sysBrk emulates the program break inside the reservation the loader
// made after the image: host malloc owns the real one.
func sysBrk(t *Task, a *Args) int64 {
	p := t.P
	p.mu.Lock()
	defer p.mu.Unlock()
	req := a[0]
	if req < p.brkStart || req > p.brkMax {
		return int64(p.brkCur)
	}
	oldEnd, newEnd := pageUp(p.brkCur), pageUp(req)
	switch {
	case newEnd > oldEnd:
		b := Args{oldEnd, newEnd - oldEnd, unix.PROT_READ | unix.PROT_WRITE,
			unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, ^uint64(0), 0}
		if r := passthrough(unix.SYS_MMAP, &b); r < 0 && r > -4096 {
			return int64(p.brkCur)
		}
	case newEnd < oldEnd:
		b := Args{newEnd, oldEnd - newEnd, unix.PROT_NONE,
			unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_NORESERVE, ^uint64(0), 0}
		if r := passthrough(unix.SYS_MMAP, &b); r < 0 && r > -4096 {
			return int64(p.brkCur)
		}
	}
	p.brkCur = req
	return int64(req)
}
