package kernelsim

import "github.com/vsysbed/vsysbed/tls/cblock"

// guestProcess is what the core asks about the guest process a task
// belongs to wherever the answer depends on how the platform hosts it,
// instead of testing which kind of task it is. A process's own threads
// have ownProcess: the host process stands for the guest process, and its
// pid, thread group, fd table and memory are the guest's. A vfork child,
// which runs on a thread of its parent's host process until its execve or
// exit, has its vforkChild (vfork.go).
type guestProcess interface {
	// ids are the guest pid and tid of the task running on block cb.
	ids(cb *cblock.ControlBlock) (pid, tid int)
	// ownsThreads: the host thread group is the guest process's, so a
	// signal the host directed at this thread is the task's, and a tid
	// under /proc/self/task names one of the process's threads (or a
	// host thread, which is not the guest's).
	ownsThreads() bool
	// ownsFiles: the host process's fd table is the guest's (a shared
	// anonymous mapping's memfd may go there; /proc/self/maps may be
	// refilled at its read).
	ownsFiles() bool
	// ownsMemory: the guest's memory is its process's alone, so its call
	// sites may be rewritten and counted as the process's.
	ownsMemory() bool
	// syscall answers nr when its meaning differs for this process;
	// ok=false lets the table handle it.
	syscall(t *Task, nr int, a *Args) (r int64, ok bool)
	// exec carries out an execve that passed its checks: past the point
	// of no return, the process's new image runs.
	exec(t *Task, path, comm string, argv, envp []string) int64
	// dispatch runs the call the task stopped in on block cb (Dispatch).
	dispatch(t *Task, cb *cblock.ControlBlock)
}

// ownProcess is the guestProcess of a process's own threads.
type ownProcess struct{}

func (ownProcess) ids(cb *cblock.ControlBlock) (int, int)  { return pid, int(cb.Tid) }
func (ownProcess) ownsThreads() bool                       { return true }
func (ownProcess) ownsFiles() bool                         { return true }
func (ownProcess) ownsMemory() bool                        { return true }
func (ownProcess) syscall(*Task, int, *Args) (int64, bool) { return 0, false }
func (ownProcess) exec(t *Task, path, comm string, argv, envp []string) int64 {
	return t.execInPlace(path, comm, argv, envp)
}
func (ownProcess) dispatch(t *Task, cb *cblock.ControlBlock) { t.dispatch(cb) }
