package kernelsim

// queryPersonality is personality(2)'s "only tell me" argument.
const queryPersonality = 0xffffffff

// The guest's personality is its own (Process.persona): the host threads'
// is the platform's (platform/inprocess's ForkedHostPersonality), which
// the guest never sees or changes. It starts as the personality vsysbed
// was started with and is inherited by fork, vfork and execve, as Linux's.
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
