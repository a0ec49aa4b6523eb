package kernelsim

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Shared anonymous memory (mmap MAP_SHARED|MAP_ANONYMOUS) must stay shared
// with a fork child, which is another host process that re-creates the
// mapping. The kernel backs such a mapping with an unnamed shmem file that
// only /proc/self/map_files reopens, and that needs CAP_SYS_ADMIN (or
// CAP_CHECKPOINT_RESTORE): without it the file's name, "/dev/zero", opens
// a new, unshared object. So kernelsim backs each one with a memfd of the
// mapping's size instead — the same object type as the kernel's, sized
// once (beyond it, SIGBUS either way) — and keeps its fd in the host's
// range to hand to a fork child. PostgreSQL's main shared memory is such a
// mapping, shared by every backend it forks.

// shmemName is the memfd's name: /proc/self/maps shows
// "/memfd:vsysbed-shmem (deleted)" for the mapping.
const shmemName = "vsysbed-shmem"

// isSharedAnon: the mapping is to be backed by a memfd. MAP_SHARED_VALIDATE
// is not (Linux answers EINVAL for it without a file, a memfd would
// validate it), nor MAP_HUGETLB (hugetlbfs sizes and alignment: left to
// the kernel, and unshared with a fork child without CAP_SYS_ADMIN).
func isSharedAnon(flags uint64) bool {
	const mapType = 0xf
	return flags&unix.MAP_ANONYMOUS != 0 && flags&mapType == unix.MAP_SHARED && flags&unix.MAP_HUGETLB == 0
}

// newShmem creates the memfd behind a shared anonymous mapping of length
// bytes (p.mu held) and returns its fd, in the host's range.
func (p *Process) newShmem(length uint64) (int, unix.Errno) {
	size := pageUp(length)
	if size == 0 || size < length {
		return -1, unix.EINVAL
	}
	fd, e := p.plat.MemFile(shmemName, size)
	if e == unix.EFBIG {
		return -1, unix.ENOMEM // larger than a file may be: as Linux's shmem
	}
	if e != 0 {
		return -1, e
	}
	p.addShmem(fd)
	return fd, 0
}

// addShmem records fd as the memfd of shared anonymous mappings (p.mu
// held), forgetting first those no mapping uses any more.
func (p *Process) addShmem(fd int) {
	if p.shmem == nil {
		p.shmem = map[int]uint64{}
	}
	if len(p.shmem) >= p.shmemGC {
		p.collectShmem()
		p.shmemGC = 2*len(p.shmem) + 64
	}
	if st, err := hostFstat(fd); err == nil {
		p.shmem[fd] = st.Ino
	}
}

// dropShmem closes fd when a mapping of it could not be made (p.mu held).
func (p *Process) dropShmem(fd int) {
	delete(p.shmem, fd)
	hostClose(fd)
}

// collectShmem closes the memfds no guest mapping refers to (p.mu held).
func (p *Process) collectShmem() {
	live, err := shmemInodes()
	if err != nil {
		return
	}
	for fd, ino := range p.shmem {
		if !live[ino] {
			p.dropShmem(fd)
		}
	}
}

// closeShmem forgets every memfd: execve unmapped the guest's memory.
func (p *Process) closeShmem() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for fd := range p.shmem {
		p.dropShmem(fd)
	}
}

// shmemFD is the memfd whose inode is ino, if it is one of ours (p.mu held).
func (p *Process) shmemFD(ino uint64) (int, bool) {
	for fd, i := range p.shmem {
		if i == ino {
			return fd, true
		}
	}
	return -1, false
}

// shmemInodes lists the inodes of the memfds mapped in this process.
func shmemInodes() (map[uint64]bool, error) {
	sc, err := hostLines("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	live := map[uint64]bool{}
	for sc.Scan() {
		if ino, ok := shmemInode(sc.Text()); ok {
			live[ino] = true
		}
	}
	return live, sc.Err()
}

// shmemInode is the inode of a /proc/PID/maps line's memfd when the line
// maps one of kernelsim's shared-memory memfds (by name: a guest's own
// memfd of the same name is told apart by its inode, never one of ours).
func shmemInode(line string) (uint64, bool) {
	f := strings.Fields(line)
	if len(f) != 7 || f[5] != "/memfd:"+shmemName || f[6] != "(deleted)" {
		return 0, false
	}
	ino, err := strconv.ParseUint(f[4], 10, 64)
	return ino, err == nil
}
