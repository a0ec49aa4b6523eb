package kernelsim

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadStart is how a new guest thread tells the thread that cloned it
// that it runs (its tid) or could not start (-errno): one word, waited
// for with futex(2). A Go channel woke the cloner — a goroutine locked to
// its thread — through the scheduler: the new thread's P took the
// cloner's goroutine as it became runnable, and that P stayed with the
// new thread in its cgo call into the guest until another M (or sysmon)
// took the goroutine over and handed it to the cloner's M: two wake-ups
// and a steal where the futex is one wake-up (docs/BENCHMARKS.md,
// "Thread create+join").
type threadStart struct {
	done atomic.Uint32
	r    atomic.Int64
}

// FUTEX_WAIT and FUTEX_WAKE with FUTEX_PRIVATE_FLAG (128): the word is
// this process's.
const (
	futexWaitPrivate = 0 | 128
	futexWakePrivate = 1 | 128
)

// send is called once, on the new thread.
func (s *threadStart) send(r int64) {
	s.r.Store(r)
	s.done.Store(1)
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&s.done)), futexWakePrivate, 1, 0, 0, 0)
}

// wait returns what send sent. A blocking call as Go sees it (not Raw):
// the runtime may hand this thread's P to others meanwhile.
func (s *threadStart) wait() int64 {
	for s.done.Load() == 0 {
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&s.done)), futexWaitPrivate, 0, 0, 0, 0)
	}
	return s.r.Load()
}
