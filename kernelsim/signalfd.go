package kernelsim

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// signalfd: the guest's signals are kernelsim's, so a real signalfd, which
// reads the host thread's pending signals, never sees them (the host's
// handlers take every signal first: util-linux `script` hung reading its
// SIGCHLD). A guest signalfd is the read end of a pipe instead, and the
// signals stay in the guest's pending sets, as on Linux: sigpending shows
// them, a standard signal sent twice is one, a sigwait can take one first.
// The pipe only makes the fd pollable: it holds one byte (the token) while
// a signal of the mask is pending, so poll and epoll see the fd readable
// exactly then. A read of the fd comes here (the C entry routes read and
// readv of the fds Entry.MarkSignalfd names) and dequeues the pending
// signals of the mask as signalfd_siginfo records, the thread's own first,
// lowest number first, as Linux's dequeue_signal does; with none, it
// waits for the token (EAGAIN for O_NONBLOCK). Left different: fstat and
// /proc/self/fd show a pipe, and a dup of the fd reads the pipe itself.
type signalfd struct {
	mask  uint64
	tok   Token  // the pipe's host end: puts and takes its byte
	ino   uint64 // the read end's inode: a closed and reused number is not it
	token bool   // the pipe holds its byte
}

const (
	sfdNonblock = unix.O_NONBLOCK
	sfdCloexec  = unix.O_CLOEXEC
	sfdInfoSize = 128 // struct signalfd_siginfo
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
		sf := p.signalfdOf(fd)
		if sf == nil {
			if !fdOpen(fd) {
				return -int64(unix.EBADF)
			}
			return -int64(unix.EINVAL) // not a signalfd
		}
		p.mu.Lock()
		sf.mask = mask
		p.armSignalfds()
		p.mu.Unlock()
		return int64(fd)
	}
	r, sf, err := p.newSignalfdPipe(mask, flags)
	if err != nil {
		return errnoOf(err)
	}
	p.mu.Lock()
	p.addSignalfd(r, sf)
	t.absorbHostSignals()
	p.armSignalfds()
	p.mu.Unlock()
	return int64(r)
}

// newSignalfdPipe makes a signalfd's pipe (Platform.TokenPipe): the read
// end is the guest's fd (flags SFD_NONBLOCK, SFD_CLOEXEC), the token end
// the host's.
func (p *Process) newSignalfdPipe(mask, flags uint64) (int, *signalfd, error) {
	r, tok, err := p.plat.TokenPipe(flags&sfdNonblock != 0, flags&sfdCloexec != 0)
	if err != nil {
		return -1, nil, err
	}
	return r, &signalfd{mask: mask, tok: tok, ino: inodeOf(r)}, nil
}

func inodeOf(fd int) uint64 {
	st, err := hostFstat(fd)
	if err != nil {
		return 0
	}
	return st.Ino
}

// addSignalfd records fd as a signalfd (caller holds p.mu).
func (p *Process) addSignalfd(fd int, sf *signalfd) {
	if p.sigfds == nil {
		p.sigfds = map[int]*signalfd{}
	}
	if old := p.sigfds[fd]; old != nil {
		old.close()
	}
	p.sigfds[fd] = sf
	entry.MarkGuestFD(fd, true)
	entry.MarkSignalfd(fd, true)
}

// signalfdOf: the signalfd the guest's fd is, or nil (a number the guest
// closed and reused since, or dup2'd over, is forgotten here).
func (p *Process) signalfdOf(fd int) *signalfd {
	p.mu.Lock()
	sf := p.sigfds[fd]
	p.mu.Unlock()
	if sf == nil {
		entry.MarkSignalfd(fd, false)
		return nil
	}
	if inodeOf(fd) != sf.ino {
		p.closeSignalfd(fd)
		return nil
	}
	return sf
}

// armSignalfds puts the token in each signalfd's pipe while a signal of
// its mask is pending, and takes it out when none is (caller holds p.mu).
// Pending means for the process or for any of its threads: the readers
// are not known in advance.
func (p *Process) armSignalfds() {
	if len(p.sigfds) == 0 {
		return
	}
	pending := p.sig.pending.mask
	p.eachTask(func(t *Task) { pending |= t.pending.mask })
	for _, sf := range p.sigfds {
		want := pending&sf.mask != 0
		switch {
		case want && !sf.token:
			sf.tok.Put()
			sf.token = true
		case !want && sf.token:
			sf.tok.Take()
			sf.token = false
		}
	}
}

func (sf *signalfd) close() { sf.tok.Close() }

// takeForSignalfd dequeues up to n pending signals of mask for t.
func (t *Task) takeForSignalfd(mask uint64, n int) [][sfdInfoSize]byte {
	p := t.P
	p.mu.Lock()
	defer p.mu.Unlock()
	t.absorbHostSignals()
	var recs [][sfdInfoSize]byte
	for len(recs) < n {
		if sig := lowest(t.pending.mask & mask); sig != 0 {
			recs = append(recs, signalfdInfo(sig, t.pending.take(sig)))
		} else if sig := lowest(p.sig.pending.mask & mask); sig != 0 {
			recs = append(recs, signalfdInfo(sig, p.sig.pending.take(sig)))
		} else {
			break
		}
	}
	p.armSignalfds()
	return recs
}

// readSignalfd is read or readv (iov nonzero: the iovec array, iovcnt) of
// signalfd fd into the guest's buffers.
func (t *Task) readSignalfd(fd int, sf *signalfd, bufs []guestBuf) int64 {
	total := 0
	for _, v := range bufs {
		total += int(min(v.len, 1<<30))
	}
	if total < sfdInfoSize {
		return -int64(unix.EINVAL)
	}
	p := t.P
	for {
		p.mu.Lock()
		mask := sf.mask
		p.mu.Unlock()
		if recs := t.takeForSignalfd(mask, total/sfdInfoSize); len(recs) > 0 {
			out := make([]byte, 0, len(recs)*sfdInfoSize)
			for _, r := range recs {
				out = append(out, r[:]...)
			}
			if err := scatterGuest(bufs, out); err != nil {
				return errnoOf(err)
			}
			return int64(len(out))
		}
		// Nothing pending: wait for the token (the fd's own O_NONBLOCK
		// makes this EAGAIN). A signal for a handler interrupts the
		// wait (EINTR, restarted with SA_RESTART); the kick alone, or a
		// signal the guest does not see, does not.
		_, errno := hostCall(unix.SYS_READ, uint64(fd), uint64(uintptr(unsafe.Pointer(&tokenSink[0]))), 1)
		switch errno {
		case 0:
			p.mu.Lock()
			sf.token = false
			p.mu.Unlock()
		case unix.EINTR:
			if t.deliverableUnder(t.sigmask) {
				return -int64(unix.EINTR)
			}
		default:
			return -int64(errno)
		}
	}
}

// guestBuf is one of the guest's buffers: an iovec.
type guestBuf struct{ base, len uint64 }

// scatterGuest writes out over the guest's buffers in order.
func scatterGuest(bufs []guestBuf, out []byte) error {
	for _, v := range bufs {
		if len(out) == 0 {
			break
		}
		n := int(min(v.len, uint64(len(out))))
		if err := writeGuest(v.base, out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// tokenSink is where signalfd reads take the token byte to (static: the
// call has its address only, hostCall), never looked at.
var tokenSink [1]byte

// signalfdRead: read and readv of a signalfd, which the C entry sends
// here; handled=false for any other fd.
func (t *Task) signalfdRead(nr int, a *Args) (int64, bool) {
	fd := int(int32(a[0]))
	sf := t.P.signalfdOf(fd)
	if sf == nil {
		return 0, false
	}
	var bufs []guestBuf
	if nr == unix.SYS_READ {
		bufs = []guestBuf{{a[1], a[2]}}
	} else {
		n := int(int32(a[2]))
		if n < 0 || n > 1024 { // UIO_MAXIOV
			return -int64(unix.EINVAL), true
		}
		raw := make([]byte, n*16)
		if err := readGuest(a[1], raw); err != nil {
			return errnoOf(err), true
		}
		for i := 0; i < n; i++ {
			bufs = append(bufs, guestBuf{le64(raw[16*i:]), le64(raw[16*i+8:])})
		}
	}
	return t.readSignalfd(fd, sf, bufs), true
}

// closeSignalfd forgets fd when the guest closes it (caller: sysClose).
func (p *Process) closeSignalfd(fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sf := p.sigfds[fd]; sf != nil {
		sf.close()
		delete(p.sigfds, fd)
	}
	entry.MarkSignalfd(fd, false)
}

// signalfdMasks are the process's signalfds for a fork child: fd → mask.
func (p *Process) signalfdMasks() map[int]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[int]uint64{}
	for fd, sf := range p.sigfds {
		m[fd] = sf.mask
	}
	return m
}

// adoptSignalfds gives a fork child signalfds of its own at the numbers
// it inherited: the pipe it shares with its parent would hand each one
// the other's tokens (a signalfd reads the reader's own signals).
func (p *Process) adoptSignalfds(masks map[int]uint64) {
	for fd, mask := range masks {
		fl, err := hostFcntl(fd, unix.F_GETFL, 0)
		if err != nil {
			continue
		}
		fdfl, _ := hostFcntl(fd, unix.F_GETFD, 0)
		var flags uint64
		if fl&unix.O_NONBLOCK != 0 {
			flags |= sfdNonblock
		}
		if fdfl&unix.FD_CLOEXEC != 0 {
			flags |= sfdCloexec
		}
		r, sf, err := p.newSignalfdPipe(mask, flags)
		if err != nil {
			continue
		}
		if r != fd {
			hostDup3(r, fd, int(flags&sfdCloexec))
			hostClose(r)
		}
		p.mu.Lock()
		p.addSignalfd(fd, sf)
		p.mu.Unlock()
	}
}

// signalfdInfo is struct signalfd_siginfo for a siginfo_t.
func signalfdInfo(sig int, si siginfo) [sfdInfoSize]byte {
	var r [sfdInfoSize]byte
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
