package kernelsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

// fork (ARCHITECTURE.md, "Processes"): a Go runtime cannot survive a real fork, so a guest
// fork becomes a fresh host process — a re-exec of vsysbed — that receives
// the guest's state over a socket, the way Gramine checkpoints a process
// into its child: every guest mapping at the same address (shared ones
// re-mapped from the same file or memfd, private ones re-mapped and their
// written pages streamed once), every guest fd at the same number
// (SCM_RIGHTS), the calling thread's registers and extended state, FS,
// mask, alternate stack, dispositions, brk and the VMA map. cwd, umask and
// rlimits come with the host process itself. The child's pid is the new
// host process's pid; only the calling thread exists in the child.
// vfork and clone(CLONE_VM) copy nothing: see vfork.go.

// ForkRegion is one guest mapping as the child must re-create it.
type ForkRegion struct {
	Start, End uint64
	Prot       int
	Shared     bool
	FD         int // index into the passed fds of the backing file or memfd, -1 for anonymous
	Offset     uint64
	Path       string
	// A System V attachment (ShmSize > 0): the child attaches segment
	// ShmID itself (attachSysV); FD, when open, is the fallback.
	ShmID       int
	ShmSize     uint64
	ShmMayWrite bool // attached writable, whatever mprotect made of it since
	// Shmem: FD is the memfd behind a shared anonymous mapping (shmem.go),
	// which the child keeps for its own children.
	Shmem bool
}

// ForkFD is a guest descriptor the child gets at the same number.
type ForkFD struct {
	Num     int
	Cloexec bool
}

// ForkState is everything the child host process needs besides the fds.
type ForkState struct {
	Image
	BrkCur     uint64
	VMAs       [][2]uint64
	Regions    []ForkRegion
	FDs        []ForkFD
	NumFiles   int // mapping fds after the guest fds
	HostFDBase int
	Routes     map[int]bool
	Limits     map[int]unix.Rlimit // the guest's virtual limits (rlimit.go)
	Persona    uint64              // the guest's personality (persona.go)
	Conf       Confinement         // status's seccomp fields (procstatus.go)
	Comm       string              // the forking thread's name
	Signalfds  map[int]uint64      // the guest's signalfds: fd → mask (signalfd.go)
	FDFloor    int                 // above every guest fd: where the child's own fds may go

	Regs     cblock.Regs
	Xsave    []byte
	GuestFS  uint64
	Actions  [nsig + 1][4]uint64
	Mask     uint64
	Altstack [3]uint64 // sp, flags, size
	ChildTID uint64    // CLONE_CHILD_SETTID: write the child's tid here
	ClearTID uint64    // CLONE_CHILD_CLEARTID
}

func (t *Task) fork(flags, newsp, ptid, ctid, tlsv uint64) int64 {
	if flags&(unix.CLONE_VM|unix.CLONE_VFORK) != 0 {
		return t.vfork(flags, newsp, ptid, ctid, tlsv)
	}
	p := t.P
	cb := t.CB
	regs, err := t.childRegs(newsp)
	if err != nil {
		return errnoOf(err)
	}
	st := &ForkState{
		Image: Image{Exe: p.Exe, Argv: p.Argv, Envp: p.Envp, Auxv: p.Auxv,
			BrkStart: p.brkStart, BrkMax: p.brkMax, VDSOBase: p.vdsoBase, VDSOEnd: p.vdsoEnd, Stack: p.stack},
		BrkCur:     p.brkCur,
		HostFDBase: p.HostFDBase,
		Routes:     p.routes,
		Limits:     p.limitsCopy(),
		Persona:    p.personaOf(),
		Conf:       p.confinement,
		Comm:       threadName(),
		Signalfds:  p.signalfdMasks(),
		FDFloor:    entry.FDHigh() + 1,
		Regs:       regs,
		Xsave:      append([]byte(nil), cb.Xsave[:entry.XsaveSize()]...),
		GuestFS:    cb.GuestFS,
		Mask:       t.sigmask,
		Altstack:   [3]uint64{t.altstack.Sp, uint64(uint32(t.altstack.Flags)), t.altstack.Size},
	}
	if flags&unix.CLONE_SETTLS != 0 {
		st.GuestFS = tlsv
	}
	if flags&unix.CLONE_CHILD_SETTID != 0 {
		st.ChildTID = ctid
	}
	if flags&unix.CLONE_CHILD_CLEARTID != 0 {
		st.ClearTID = ctid
	}
	p.mu.Lock()
	st.VMAs = append([][2]uint64(nil), p.vmas.r...)
	for s := 1; s <= nsig; s++ {
		a := p.sig.actions[s]
		st.Actions[s] = [4]uint64{a.handler, a.flags, a.restorer, a.mask}
	}
	p.mu.Unlock()

	files, err := p.snapshot(st)
	defer func() {
		for _, fd := range files {
			hostClose(fd)
		}
	}()
	if err != nil {
		return errnoOf(err)
	}
	if errno := p.nprocCheck(p.limitsCopy(), true); errno != 0 {
		return -int64(errno)
	}
	child, link, errno := p.plat.StartProcess()
	if errno != 0 {
		return -int64(errno)
	}
	sent := func() {}
	if d, ok := p.plat.(ForkSentNotifier); ok {
		var once sync.Once
		sent = func() { once.Do(d.ForkSent) }
		defer sent() // a fork that failed before
	}
	if err := p.sendFork(link, st, files, sent); err != nil {
		link.Close()
		return p.forkFailed(child, err)
	}
	p.rewrite.mu.Lock() // no site half-rewritten in the copy (rewrite.go)
	err = p.streamMemory(link, child, st)
	p.rewrite.mu.Unlock()
	if err != nil {
		link.Close()
		return p.forkFailed(child, err)
	}
	p.keepChildLink(child, link) // for its setpgid until its execve (setpgid.go)
	if flags&unix.CLONE_PARENT_SETTID != 0 {
		writeU32(ptid, uint32(child))
	}
	return int64(child)
}

// ForkSentNotifier is a Platform with work to do in the forking thread's fork
// call while the child host process adopts the state just sent to it
// (ForkSent; or at the end, once, when the fork failed before):
// platform/inprocess starts its next spare host process there, while the
// parent would only wait for the child's "mapped". Not after the child's
// "ready": the parent's fork must return as the child starts to run (a
// child that signals its parent 50 ms after the fork found the parent
// still in fork, guest sigwait).
type ForkSentNotifier interface {
	ForkSent()
}

// childRegs are the registers a new process resumes with: the caller's at
// the syscall's return point (for a bypass call, its return address and
// the callee-saved registers the entry recorded), rax=0, and the new stack
// when one was given.
func (t *Task) childRegs(newsp uint64) (cblock.Regs, error) {
	cb := t.CB
	regs := cb.Trap
	if cb.Kind == cblock.KindBypass {
		retAddr, err := readU64(cb.GuestSP)
		if err != nil {
			return regs, err
		}
		tr := cb.Trap
		regs = cblock.Regs{Rbx: tr.Rbx, Rbp: tr.Rbp, R12: tr.R12, R13: tr.R13, R14: tr.R14, R15: tr.R15,
			Rip: retAddr, Rsp: cb.GuestSP + 8, Rflags: 0x202}
	} else {
		regs.Rcx, regs.R11 = regs.Rip, regs.Rflags
	}
	regs.Rax = 0
	if newsp != 0 {
		regs.Rsp = newsp
	}
	return regs, nil
}

func (p *Process) forkFailed(child int, err error) int64 {
	hostCall(unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
	hostCall(unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	if p.Events != nil {
		p.Events.Error("fork: " + err.Error())
	}
	return -int64(unix.ENOMEM)
}

// snapshot lists the guest's mappings (from /proc/self/maps, inside the
// guest-owned ranges) and fds, and opens what the child must map again:
// the host fds (above the host's base, close-on-exec) to pass, which the
// caller closes. Every fd and file goes through the Machine.
func (p *Process) snapshot(st *ForkState) ([]int, error) {
	var files []int
	// Guest fds first: their index in the passed list is their position.
	names, err := machine.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || isHostFD(fd) {
			continue
		}
		fl, err := hostFcntl(fd, unix.F_GETFD, 0)
		if err != nil {
			continue // the listing's own fd, closed by now
		}
		dup, err := hostFcntl(fd, unix.F_DUPFD_CLOEXEC, p.HostFDBase+200)
		if err != nil {
			return files, err
		}
		files = append(files, dup)
		st.FDs = append(st.FDs, ForkFD{Num: fd, Cloexec: fl&unix.FD_CLOEXEC != 0})
	}

	maps, err := machine.ReadFile("/proc/self/maps")
	if err != nil {
		return files, err
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	var mayWrite map[uint64]bool
	opened := map[string]int{} // device, inode, open mode → index in files
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		p.mu.Lock()
		owned := p.vmas.covers(start, end)
		p.mu.Unlock()
		if !owned || start >= p.vdsoBase && start < p.vdsoEnd {
			continue
		}
		perms := f[1]
		r := ForkRegion{Start: start, End: end, FD: -1, Shared: perms[3] == 's'}
		if perms[0] == 'r' {
			r.Prot |= unix.PROT_READ
		}
		if perms[1] == 'w' {
			r.Prot |= unix.PROT_WRITE
		}
		if perms[2] == 'x' {
			r.Prot |= unix.PROT_EXEC
		}
		off, _ := strconv.ParseUint(f[2], 16, 64)
		r.Offset = off
		if len(f) >= 6 {
			r.Path = f[5]
		}
		if m, ok := parseSysvLine(sc.Text()); ok {
			// Still a live segment? (An unlinked file called /SYSV… is
			// not one, or not the same size.)
			if size, _, e := shmStat(m.ID); e == 0 && m.End-m.Start+m.Offset <= size {
				r.ShmID, r.ShmSize = m.ID, size
				r.ShmMayWrite = r.Prot&unix.PROT_WRITE != 0
				if !r.ShmMayWrite {
					// Read-only now: attached so (SHM_RDONLY), or made so
					// by mprotect? smaps' VmFlags tell (mw: may write).
					if mayWrite == nil {
						mayWrite = mayWriteRanges()
					}
					r.ShmMayWrite = mayWrite[start]
				}
			}
		}
		if ino, ok := shmemInode(sc.Text()); ok && r.Shared {
			p.mu.Lock()
			fd, ours := p.shmemFD(ino)
			var hfd int
			var err error
			if ours {
				hfd, err = hostFcntl(fd, unix.F_DUPFD_CLOEXEC, p.HostFDBase+200)
			}
			p.mu.Unlock()
			if ours && err == nil {
				r.FD, r.Shmem = len(files), true
				files = append(files, hfd)
				st.NumFiles++
				st.Regions = append(st.Regions, r)
				continue
			}
		}
		inode := f[4]
		if inode != "0" || r.Shared {
			// The mapped object itself, whatever its name now (deleted
			// files and memfds included).
			mode := unix.O_RDONLY
			if r.Shared && r.Prot&unix.PROT_WRITE != 0 {
				mode = unix.O_RDWR // a writable shared mapping needs a writable fd
			}
			// Opened once for all its mappings (a library's four or five
			// segments): the same device and inode are the same object.
			// ~10-20 µs an open of map_files (docs/BENCHMARKS.md).
			key := f[3] + " " + inode + " " + strconv.Itoa(mode)
			if i, ok := opened[key]; ok && inode != "0" {
				r.FD = i
				st.Regions = append(st.Regions, r)
				continue
			}
			open := func(path string) (int, error) {
				return machine.Openat(unix.AT_FDCWD, path, mode|unix.O_CLOEXEC, 0)
			}
			mf, err := open(fmt.Sprintf("/proc/self/map_files/%x-%x", start, end))
			if err != nil {
				// map_files needs CAP_SYS_ADMIN. A guest fd still open on
				// the object (a memfd, a deleted file) reopens it.
				if i, ok := sameObject(files[:len(st.FDs)], f[3], inode); ok {
					mf, err = open(fmt.Sprintf("/proc/self/fd/%d", st.FDs[i].Num))
				}
			}
			if err != nil && r.Path != "" && r.Path[0] == '/' {
				// The file by name will do while it exists — the same
				// file: for a shared mapping, another one ("/dev/zero" of
				// a shared anonymous mapping) would silently not share.
				mf, err = open(r.Path)
				if err == nil && r.Shared {
					if _, same := sameObject([]int{mf}, f[3], inode); !same {
						machine.Close(mf)
						err = fmt.Errorf("%s is another file now", r.Path)
					}
				}
			}
			if err == nil {
				hfd, derr := hostFcntl(mf, unix.F_DUPFD_CLOEXEC, p.HostFDBase+200)
				machine.Close(mf)
				if derr == nil {
					r.FD = len(files)
					files = append(files, hfd)
					st.NumFiles++
					opened[key] = r.FD
				}
			}
			if r.FD < 0 && r.Shared && r.ShmSize == 0 {
				return files, fmt.Errorf("cannot reopen shared mapping %x-%x %s", start, end, r.Path)
			}
		}
		st.Regions = append(st.Regions, r)
	}
	return files, sc.Err()
}

// sendFork writes the state (frameFork: gob after this process's prelude)
// and the fds, calls sent, and waits for the child's "mapped".
func (p *Process) sendFork(link *os.File, st *ForkState, files []int, sent func()) error {
	buf, err := frameFork(st)
	if err != nil {
		return err
	}
	if err := fdpass.SendAll(link, buf); err != nil {
		return err
	}
	if err := fdpass.SendFDs(int(link.Fd()), files); err != nil {
		return err
	}
	sent()
	return expectLine(link, "mapped")
}

// streamMemory writes into the child every page of a private mapping that
// holds data of the guest's own: present or swapped, and anonymous (never
// backed by the file: zero-fill or copied on write). Untouched pages and
// clean file pages come from the child's own mappings.
func (p *Process) streamMemory(link *os.File, child int, st *ForkState) error {
	pm, err := machine.Openat(unix.AT_FDCWD, "/proc/self/pagemap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer machine.Close(pm)
	const page = 4096
	for _, r := range st.Regions {
		if r.Shared || r.Prot == unix.PROT_NONE && r.FD < 0 {
			continue
		}
		npages := (r.End - r.Start) / page
		ents := make([]byte, 8*npages)
		if err := hostPreadFull(pm, ents, int64(r.Start/page*8)); err != nil {
			return err
		}
		for i := uint64(0); i < npages; {
			if !needsCopy(ents[8*i:]) {
				i++
				continue
			}
			j := i + 1
			for j < npages && needsCopy(ents[8*j:]) && j-i < 256 {
				j++
			}
			addr, n := r.Start+i*page, int((j-i)*page)
			if err := p.plat.CopyToChild(child, addr, n, r.Prot); err != nil {
				return fmt.Errorf("copying %#x+%#x: %w", addr, n, err)
			}
			i = j
		}
	}
	if err := fdpass.SendAll(link, []byte("copied\n")); err != nil {
		return err
	}
	return expectLine(link, "ready")
}

func needsCopy(ent []byte) bool {
	v := binary.LittleEndian.Uint64(ent)
	present := v&(1<<63) != 0 || v&(1<<62) != 0
	filePage := v&(1<<61) != 0
	return present && !filePage
}

func expectLine(r io.Reader, want string) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if line != want {
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	return nil
}

func readLine(r io.Reader) (string, error) {
	var b []byte
	var c [1]byte
	for {
		if _, err := r.Read(c[:]); err != nil {
			return string(b), err
		}
		if c[0] == '\n' {
			return string(b), nil
		}
		b = append(b, c[0])
	}
}

// sameObject returns the index of the first of fds that is the object a
// /proc/PID/maps line names by device ("fd:01", hex major:minor) and inode.
func sameObject(fds []int, dev, inode string) (int, bool) {
	major, minor, ok := strings.Cut(dev, ":")
	maj, err1 := strconv.ParseUint(major, 16, 32)
	mnr, err2 := strconv.ParseUint(minor, 16, 32)
	ino, err3 := strconv.ParseUint(inode, 10, 64)
	if !ok || err1 != nil || err2 != nil || err3 != nil {
		return -1, false
	}
	for i, fd := range fds {
		if st, err := hostFstat(fd); err == nil && st.Ino == ino &&
			uint64(unix.Major(st.Dev)) == maj && uint64(unix.Minor(st.Dev)) == mnr {
			return i, true
		}
	}
	return -1, false
}
