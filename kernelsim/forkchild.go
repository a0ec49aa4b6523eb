package kernelsim

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/fdpass"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vaspace"
)

// AdoptFork is the child host process's half of fork: it receives the
// guest's state over link, re-creates the guest's mappings (mapVDSO puts
// the synthetic vDSO back at its address, with this process's entry
// points), lets the parent stream the guest's memory, installs the guest's
// fds, and returns the kernel state with the calling thread's task, ready
// for tls.Run. The host (handlers, trap filter, event log) must be set up
// before: the filter's snapshot of host code must not include the guest's.
func AdoptFork(link *os.File, cb *cblock.ControlBlock, c Config, mapVDSO func(base uint64) error) (*Process, *Task, error) {
	st, fds, err := receiveFork(link, c.HostFDBase)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*Process, *Task, error) {
		fdpass.SendAll(link, []byte("error: "+err.Error()+"\n"))
		return nil, nil, err
	}
	for i := 0; i < len(st.Regions); i++ {
		r := st.Regions[i]
		if r.ShmSize > 0 {
			j := sysvGroupEnd(st.Regions, i)
			err := attachSysV(st.Regions[i:j])
			if err == nil {
				i = j - 1
				continue
			}
			if r.FD < 0 {
				return fail(fmt.Errorf("attaching System V segment %d at %#x in the child: %v", r.ShmID, r.Start, err))
			}
			// Not ours to attach (the guest's credentials changed, say):
			// the segment's file from the parent shares the pages at
			// least, region by region.
		}
		prot, flags, fd := r.Prot, uintptr(unix.MAP_FIXED_NOREPLACE), -1
		if r.Shared {
			flags |= unix.MAP_SHARED
		} else {
			flags |= unix.MAP_PRIVATE
			prot |= unix.PROT_READ | unix.PROT_WRITE // until the copy is in
		}
		if r.FD >= 0 {
			fd = fds[r.FD]
		} else {
			flags |= unix.MAP_ANONYMOUS
		}
		addr, e := hostCall(unix.SYS_MMAP, r.Start, r.End-r.Start, uint64(prot), uint64(flags), uint64(int64(fd)), r.Offset)
		if e != 0 || addr != r.Start {
			return fail(fmt.Errorf("mapping %#x-%#x (%s) in the child: %v", r.Start, r.End, r.Path, e))
		}
	}
	for _, r := range st.Regions {
		vaspace.Below(r.Start) // new guest memory goes below the parent's
	}
	vaspace.Below(st.VDSOBase)
	if err := mapVDSO(st.VDSOBase); err != nil {
		return fail(err)
	}
	if err := fdpass.SendAll(link, []byte("mapped\n")); err != nil {
		return nil, nil, err
	}
	if err := expectLine(link, "copied"); err != nil {
		return nil, nil, err
	}
	for _, r := range st.Regions {
		if !r.Shared {
			hostCall(unix.SYS_MPROTECT, r.Start, r.End-r.Start, uint64(r.Prot))
		}
	}
	// The memfds of shared anonymous memory stay, for this process's own
	// fork children (shmem.go); installFDs closes the passed fds.
	var shmem []int
	for _, r := range st.Regions {
		if r.Shmem {
			if hi, err := hostFcntl(fds[r.FD], unix.F_DUPFD_CLOEXEC, max(c.HostFDBase+300, st.FDFloor)); err == nil {
				shmem = append(shmem, hi)
			}
		}
	}
	c.GuestFDs = installFDs(st, fds, c.HostFDBase)

	c.Image = st.Image
	c.Personality = st.Persona
	c.Confinement = st.Conf
	SetThreadName(st.Comm)
	SetProcessTitle(st.Argv) // a fork child is its parent's program until it execs
	p := NewProcess(c, st.Routes)
	p.adoptSignalfds(st.Signalfds)
	p.mu.Lock()
	for res, l := range st.Limits {
		p.limits[res] = l
	}
	p.vmas.r = st.VMAs
	for _, fd := range shmem {
		p.addShmem(fd)
	}
	p.brkCur = st.BrkCur
	for s := 1; s <= nsig; s++ {
		a := st.Actions[s]
		p.sig.actions[s] = sigaction{a[0], a[1], a[2], a[3]}
		switch a[0] {
		case sigDfl:
		case sigIgn:
			entry.SetDisposition(s, cblock.DispositionIgnore)
		default:
			entry.SetDisposition(s, cblock.DispositionHandler)
		}
	}
	p.syncChildReaping()
	p.mu.Unlock()
	t := p.NewTask(cb)
	t.sigmask = st.Mask
	t.altstack = altstack{Sp: st.Altstack[0], Flags: int32(uint32(st.Altstack[1])), Size: st.Altstack[2]}
	t.tidAddress = st.ClearTID
	cb.Trap = st.Regs
	copy(cb.Xsave[:], st.Xsave)
	cb.GuestFS = st.GuestFS
	if st.ChildTID != 0 {
		writeU32(st.ChildTID, uint32(unix.Gettid()))
	}
	// "ready" goes out as the last step before the guest's first
	// instruction (Platform.Enter, from the C entry): the parent's fork
	// returns then, and a parent that reads the child's /proc/PID/stat
	// must see R there, as for a native child that has not run yet. So
	// nothing of Go's may still be starting up in this process by then:
	// the goroutine that serves the parent's setpgid (until our execve,
	// setpgid.go) starts now and waits in the netpoller, holding no
	// thread. Started at "ready", it took a new thread there (the clone
	// held the child's mmap lock against its first page fault: D) and the
	// guest thread's first trapped call waited for a P (S); 1% of reads
	// right after fork saw one or the other.
	served, err := p.startServingParent(link, max(c.HostFDBase+300, st.FDFloor))
	if err != nil {
		return fail(err)
	}
	t.readyLink = served
	return p, t, nil
}

// WarmAdopt does ahead, in a spare host process waiting for a fork or
// vfork (platform/inprocess/pool.go), what a process's first decoding of
// the state it is sent costs once: gob's type information for ForkState
// and VforkExec and all they hold (gob describes a struct's every field,
// zero or not), built by a round trip of each (~0.25 ms of the fork's
// hand-off otherwise, docs/BENCHMARKS.md). The decoder of the parent's
// stream is made by PrimeAdopt (forkcodec.go).
func WarmAdopt() {
	hostArgArea()
	for _, v := range []any{&ForkState{}, &VforkExec{}} {
		var b bytes.Buffer
		if gob.NewEncoder(&b).Encode(v) == nil {
			gob.NewDecoder(&b).DecodeValue(reflect.New(reflect.TypeOf(v).Elem()))
		}
	}
}

func receiveFork(link *os.File, base int) (*ForkState, []int, error) {
	st, err := decodeFork(link)
	if err != nil {
		return nil, nil, err
	}
	fds, err := fdpass.ReceiveFDs(link, len(st.FDs)+st.NumFiles, max(base+200, st.FDFloor))
	if err != nil {
		return nil, nil, err
	}
	return st, fds, nil
}

// installFDs puts every guest fd at its number and closes the rest below
// the host range (the re-exec's own stdio, when the guest had closed it),
// and returns the guest's numbers, ascending (never nil).
func installFDs(st *ForkState, fds []int, base int) []int {
	entry.SetHostFDBase(base)
	keep := map[int]bool{}
	for i, f := range st.FDs {
		flags := 0
		if f.Cloexec {
			flags = unix.O_CLOEXEC
		}
		if f.Num >= base {
			// A guest fd in the host's range: only where this process
			// holds nothing of its own (a host fd of the parent's there
			// was never the guest's; one of ours must not be replaced).
			if fdOpen(f.Num) {
				continue
			}
			entry.MarkGuestFD(f.Num, true)
		}
		hostDup3(fds[i], f.Num, flags)
		keep[f.Num] = true
	}
	for _, fd := range fds {
		hostClose(fd)
	}
	// The rest below the host range, a close_range per gap between the
	// guest's numbers: listing /proc/self/fd was ~0.1 ms of the child's
	// side of a fork.
	lo := 0
	guest := append([]int{}, slices.Sorted(maps.Keys(keep))...)
	for _, fd := range guest {
		if fd >= base {
			break
		}
		if fd > lo {
			hostCloseRange(lo, fd-1)
		}
		lo = fd + 1
	}
	if lo < base {
		hostCloseRange(lo, base-1)
	}
	return guest
}
