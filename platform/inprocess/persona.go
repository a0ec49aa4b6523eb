package inprocess

import "golang.org/x/sys/unix"

// personality(2) flags the host needs for the host processes it starts.
const (
	addrNoRandomize  = 0x0040000
	addrCompatLayout = 0x0200000
)

// ForkedHostPersonality is the personality every host process a guest's
// fork or vfork starts (and the probe that measures where their code lies)
// comes up with. No randomisation makes their layout predictable, so the
// trap filter can allow their code; the legacy bottom-up mmap layout keeps
// it predictable when the guest changes RLIMIT_STACK — the top-down layout
// puts the mmap base below the stack by the stack limit, so after a
// guest's `ulimit -s unlimited` a fork's libraries would land outside the
// ranges the filter allows and it would die by SIGSYS. The guest's own
// personality is kernelsim's (Config.Personality), never the host's.
const ForkedHostPersonality = addrNoRandomize | addrCompatLayout

// queryPersonality is personality(2)'s "only tell me" argument.
const queryPersonality = 0xffffffff

// hostPersonality reads the calling thread's personality.
func hostPersonality() uint64 {
	cur, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, queryPersonality, 0, 0)
	return uint64(uint32(cur))
}

// setForkedPersonality gives the calling OS thread the personality of
// host children. personality(2) is per thread and a new process inherits
// the one of the thread that forked it, so it must hold on whichever
// thread starts a host process: setting it once on the main thread left
// a fork from any other guest thread with ASLR, outside the code ranges
// the inherited trap filter allows, dead by SIGSYS on its first syscall.
// The caller must have its goroutine locked to the thread.
func setForkedPersonality() unix.Errno {
	cur := hostPersonality()
	if cur&ForkedHostPersonality == ForkedHostPersonality {
		return 0
	}
	_, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(cur|ForkedHostPersonality), 0, 0)
	return e
}
