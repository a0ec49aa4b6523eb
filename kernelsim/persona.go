package kernelsim

import "golang.org/x/sys/unix"

// personality(2) flags the host needs for the host processes it starts.
const (
	addrNoRandomize  = 0x0040000
	addrCompatLayout = 0x0200000
)

// HostChildPersonality is the personality every host process a guest's
// fork or vfork starts (and the probe that measures where their code lies)
// comes up with. No randomisation makes their layout predictable, so the
// trap filter can allow their code; the legacy bottom-up mmap layout keeps
// it predictable when the guest changes RLIMIT_STACK — the top-down layout
// puts the mmap base below the stack by the stack limit, so after a
// guest's `ulimit -s unlimited` a fork's libraries would land outside the
// ranges the filter allows and it would die by SIGSYS.
const HostChildPersonality = addrNoRandomize | addrCompatLayout

// queryPersonality is personality(2)'s "only tell me" argument.
const queryPersonality = 0xffffffff

// HostPersonality reads the calling thread's personality.
func HostPersonality() uint64 {
	cur, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, queryPersonality, 0, 0)
	return uint64(uint32(cur))
}

// SetHostChildPersonality gives the calling OS thread the personality of
// host children. personality(2) is per thread and a new process inherits
// the one of the thread that forked it, so it must hold on whichever
// thread starts a host process: setting it once on the main thread left
// a fork from any other guest thread with ASLR, outside the code ranges
// the inherited trap filter allows, dead by SIGSYS on its first syscall.
// The caller must have its goroutine locked to the thread.
func SetHostChildPersonality() unix.Errno {
	cur := HostPersonality()
	if cur&HostChildPersonality == HostChildPersonality {
		return 0
	}
	_, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(cur|HostChildPersonality), 0, 0)
	return e
}

// The guest's personality is its own (Process.persona): the host threads'
// is the one above, which the guest never sees or changes. It starts as
// the personality vsysbed was started with and is inherited by fork,
// vfork and execve, as Linux's.
func sysPersonality(t *Task, a *Args) int64 {
	t.P.mu.Lock()
	defer t.P.mu.Unlock()
	return personalityCall(t.persona, a[0])
}

// personalityCall is personality(2) on the value at cur: it returns the
// old value and sets the new one unless asked only to tell.
func personalityCall(cur *uint64, arg uint64) int64 {
	old := *cur
	if uint32(arg) != queryPersonality {
		*cur = uint64(uint32(arg))
	}
	return int64(old)
}

func (p *Process) personaOf() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.persona
}

// personality is the calling guest task's process's.
func (t *Task) personality() uint64 {
	t.P.mu.Lock()
	defer t.P.mu.Unlock()
	return *t.persona
}
