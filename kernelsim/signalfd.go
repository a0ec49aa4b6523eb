package kernelsim

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"vsysbed/tls"
)

// signalfd: the guest's signals are kernelsim's, so a real signalfd, which
// reads the host thread's pending signals, never sees them (the host's
// handlers take every signal first: util-linux `script` hung reading its
// SIGCHLD). A guest signalfd is the read end of a pipe instead: a signal
// in its mask that the receiving thread blocks is written there as a
// signalfd_siginfo when it is sent, rather than queued, so read, poll and
// epoll see it as on Linux. The differences: the signal is taken from the
// pending set when it arrives, not when it is read (sigpending does not
// show it), a pending standard signal sent again is a second record, and
// fstat shows a pipe.
type signalfd struct {
	mask  uint64
	write int // the pipe's write end, a host fd
}

const (
	sfdNonblock = unix.O_NONBLOCK
	sfdCloexec  = unix.O_CLOEXEC
)

func sysSignalfd(t *Task, a *Args) int64 {
	return t.signalfd(int(int32(a[0])), a[1], a[2], 0)
}

func sysSignalfd4(t *Task, a *Args) int64 {
	return t.signalfd(int(int32(a[0])), a[1], a[2], a[3])
}

func (t *Task) signalfd(fd int, maskAddr, size, flags uint64) int64 {
	if size != 8 || flags&^(sfdNonblock|sfdCloexec) != 0 {
		return -int64(unix.EINVAL)
	}
	mask, err := readU64(maskAddr)
	if err != nil {
		return errnoOf(err)
	}
	mask &^= unblockable
	p := t.P
	if fd != -1 {
		p.mu.Lock()
		sf := p.sigfds[fd]
		if sf != nil {
			sf.mask = mask
		}
		p.mu.Unlock()
		if sf == nil {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
				return -int64(unix.EBADF)
			}
			return -int64(unix.EINVAL) // not a signalfd
		}
		t.flushToSignalfds()
		return int64(fd)
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return errnoOf(err)
	}
	// The write end is the host's: out of the guest's numbers.
	w, err := unix.FcntlInt(uintptr(pipe[1]), unix.F_DUPFD_CLOEXEC, p.HostFDBase+400)
	unix.Close(pipe[1])
	if err != nil {
		unix.Close(pipe[0])
		return errnoOf(err)
	}
	unix.SetNonblock(w, true) // a full pipe drops records, never blocks a sender
	r := pipe[0]
	if flags&sfdCloexec == 0 {
		unix.FcntlInt(uintptr(r), unix.F_SETFD, 0)
	}
	if flags&sfdNonblock != 0 {
		unix.SetNonblock(r, true)
	}
	tls.MarkGuestFD(r, true)
	p.mu.Lock()
	if p.sigfds == nil {
		p.sigfds = map[int]*signalfd{}
	}
	p.sigfds[r] = &signalfd{mask: mask, write: w}
	p.mu.Unlock()
	t.flushToSignalfds()
	return int64(r)
}

// toSignalfd writes sig to a signalfd whose mask has it when blocked says
// the receiving thread blocks it; true: the signal is taken (p.mu held).
func (p *Process) toSignalfd(sig int, si siginfo, blocked uint64) bool {
	if len(p.sigfds) == 0 || blocked&bit(sig) == 0 {
		return false
	}
	for _, sf := range p.sigfds {
		if sf.mask&bit(sig) != 0 {
			rec := signalfdInfo(sig, si)
			unix.Write(sf.write, rec[:])
			return true
		}
	}
	return false
}

// flushToSignalfds moves the pending signals a new or changed signalfd
// covers into it, as Linux's signalfd reads what is already pending.
func (t *Task) flushToSignalfds() {
	p := t.P
	p.mu.Lock()
	defer p.mu.Unlock()
	t.absorbHostSignals()
	for _, sf := range p.sigfds {
		for _, ps := range []*pendingSet{&t.pending, &p.sig.pending} {
			for sig := 1; sig <= nsig; sig++ {
				for ps.mask&bit(sig)&sf.mask&t.sigmask != 0 {
					rec := signalfdInfo(sig, ps.take(sig))
					unix.Write(sf.write, rec[:])
				}
			}
		}
	}
}

// closeSignalfd forgets fd when the guest closes it (caller: sysClose).
func (p *Process) closeSignalfd(fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sf := p.sigfds[fd]; sf != nil {
		unix.Close(sf.write)
		delete(p.sigfds, fd)
	}
}

// signalfdInfo is struct signalfd_siginfo for a siginfo_t.
func signalfdInfo(sig int, si siginfo) [128]byte {
	var r [128]byte
	le := binary.LittleEndian
	code := int32(le.Uint32(si[8:]))
	le.PutUint32(r[0:], uint32(sig))  // ssi_signo
	copy(r[4:8], si[4:8])             // ssi_errno
	le.PutUint32(r[8:], uint32(code)) // ssi_code
	copy(r[12:16], si[16:20])         // ssi_pid (si_pid, or a timer's si_tid)
	copy(r[16:20], si[20:24])         // ssi_uid
	copy(r[40:44], si[24:28])         // ssi_status (SIGCHLD)
	copy(r[44:48], si[24:28])         // ssi_int
	copy(r[48:56], si[24:32])         // ssi_ptr
	if sig == int(unix.SIGCHLD) {
		copy(r[56:64], si[32:40]) // ssi_utime
		copy(r[64:72], si[40:48]) // ssi_stime
	}
	if isFault(sig) {
		copy(r[72:80], si[16:24]) // ssi_addr
	}
	return r
}

func isFault(sig int) bool {
	switch unix.Signal(sig) {
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP:
		return true
	}
	return false
}
