package kernelsim

import (
	"encoding/binary"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals from outside that reach a host process twice, and the
// supervisor's part in job control (tracer/jobctl.go).
//
// The host processes are in the supervisor's process group, as the
// program's processes would be in the program's, so a signal sent to the
// group (`kill -INT -PGID`, a shell's `fg`) reaches a host process
// directly and, through the supervisor, which forwards what is sent to
// it, once more. The supervisor cannot tell a kill of the group from a
// kill of its own pid (both are SI_USER); the terminal's signals
// (SI_KERNEL) it does not forward at all. It forwards the others with
// rt_sigqueueinfo, marked (ForwardMark) and carrying the original sender,
// code and the time it read the signal; a host process takes a forward
// and a direct copy from the same sender within forwardWindow of each
// other as the one signal it is (either may come first: the relay and
// os/signal take them on different threads), and gives the guest the
// original siginfo. A signal sent to the supervisor alone and one sent to
// the guest's pid alone, by the same process within the window, are
// still taken for one.

// ForwardMark, in the top half of si_value, marks a siginfo the
// supervisor forwarded (its lower half holds the original si_code) or a
// SIGCONT a host process sends the supervisor (lower half all ones).
const ForwardMark = 0x76736266 // "fbsv"

// forwardWindow is how far apart a direct and a forwarded copy of one
// signal may be taken.
const forwardWindow = 3e9 // ns

const siQueue = -1

// SupervisorPID is the supervisor of this host process's run (0: none),
// set by platform/inprocess.
var SupervisorPID int

// ForwardedInfo is the siginfo the supervisor forwards sig with: sent by
// pid/uid with code, read at readNs (CLOCK_MONOTONIC).
func ForwardedInfo(sig int, code int32, pid, uid uint32, readNs int64) [128]byte {
	var si [128]byte
	binary.LittleEndian.PutUint32(si[0:], uint32(sig))
	binary.LittleEndian.PutUint32(si[8:], 0xffffffff) // SI_QUEUE
	binary.LittleEndian.PutUint32(si[16:], pid)
	binary.LittleEndian.PutUint32(si[20:], uid)
	binary.LittleEndian.PutUint64(si[24:], uint64(ForwardMark)<<32|uint64(uint32(code)))
	binary.LittleEndian.PutUint64(si[32:], uint64(readNs))
	return si
}

// forwardedSigs are the signals the supervisor forwards.
func forwardedSig(sig int) bool {
	switch unix.Signal(sig) {
	case unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT:
		return true
	}
	return false
}

type outsideCopy struct {
	sig      int
	pid, uid uint32
	code     int32
	at       int64 // ns, CLOCK_MONOTONIC
	fwd      bool
}

var outside struct {
	mu     sync.Mutex
	recent []outsideCopy
}

// fromOutside takes sig, which arrived from outside with si: a forward
// gets its original siginfo back, and drop says it is the second copy of
// one signal.
func fromOutside(sig int, si siginfo) (siginfo, bool) {
	if !forwardedSig(sig) {
		return si, false
	}
	code := int32(le32(si[8:]))
	val := binary.LittleEndian.Uint64(si[24:])
	c := outsideCopy{sig: sig, pid: le32(si[16:]), uid: le32(si[20:]), code: code, at: int64(monoNow())}
	switch {
	case code == siQueue && uint32(val>>32) == ForwardMark:
		c.fwd, c.code = true, int32(uint32(val))
		if read := int64(binary.LittleEndian.Uint64(si[32:])); read > 0 && read < c.at {
			c.at = read
		}
		put32(si[8:], uint32(c.code))
		for i := 24; i < 48; i++ {
			si[i] = 0
		}
	case code == siUser:
	default:
		return si, false
	}
	outside.mu.Lock()
	defer outside.mu.Unlock()
	kept := outside.recent[:0]
	for _, o := range outside.recent {
		if c.at-o.at < forwardWindow && o.at-c.at < forwardWindow {
			kept = append(kept, o)
		}
	}
	outside.recent = kept
	for i, o := range outside.recent {
		if o.sig == sig && o.pid == c.pid && o.uid == c.uid && o.code == c.code && o.fwd != c.fwd {
			outside.recent = append(outside.recent[:i], outside.recent[i+1:]...)
			return si, true
		}
	}
	outside.recent = append(outside.recent, c)
	return si, false
}

// continuedNotice tells the supervisor that this process was continued,
// when it is the process the supervisor mirrors (its child): the
// supervisor stopped itself with it, and a SIGCONT sent to the guest's
// pid alone (`kill -CONT`) must continue it too. Marked, so that it is
// not forwarded back.
func continuedNotice() {
	sup := SupervisorPID
	if sup <= 0 {
		return
	}
	if ppid, _ := hostCall(unix.SYS_GETPPID); int(ppid) != sup {
		return
	}
	si := new([128]byte)
	var pin runtime.Pinner // the call has its address only (hostCall)
	pin.Pin(si)
	defer pin.Unpin()
	binary.LittleEndian.PutUint32(si[0:], uint32(unix.SIGCONT))
	binary.LittleEndian.PutUint32(si[8:], 0xffffffff) // SI_QUEUE
	binary.LittleEndian.PutUint32(si[16:], uint32(pid))
	binary.LittleEndian.PutUint32(si[20:], uint32(unix.Getuid()))
	binary.LittleEndian.PutUint64(si[24:], uint64(ForwardMark)<<32|0xffffffff)
	hostCall(unix.SYS_RT_SIGQUEUEINFO, uint64(sup), uint64(unix.SIGCONT), uint64(uintptr(unsafe.Pointer(&si[0]))))
}
