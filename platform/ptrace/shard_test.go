package ptrace

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The tracer hands an ended thread's shard to its process's next thread
// (counts kept, thread state reset), and never the leader's, where the
// exit record goes.
func TestShardOfAnEndedThreadServesTheNext(t *testing.T) {
	r := &tracer{dir: t.TempDir(), procs: map[int]*tracedProcess{}, threads: map[int]*tracedThread{},
		shards: map[int]*cblock.ControlBlock{}, expected: map[int]*tracedProcess{}, root: 1}
	defer r.close()
	p := &tracedProcess{pid: 100}
	other := &tracedProcess{pid: 200}
	r.procs[100], r.procs[200] = p, other
	thread := func(tid int, proc *tracedProcess) *tracedThread {
		th := &tracedThread{tid: tid, proc: proc}
		r.threads[tid] = th
		return th
	}
	shard := func(th *tracedThread) *cblock.ControlBlock {
		t.Helper()
		cb, err := r.shard(th)
		if err != nil {
			t.Fatal(err)
		}
		return cb
	}
	var exited unix.WaitStatus // exit status 0

	leader := shard(thread(100, p))
	first := shard(thread(101, p))
	first.Counts[110][cblock.KindTrap] = 3
	r.ended(101, exited)
	second := shard(thread(102, p))
	if second != first {
		t.Fatal("the ended thread's shard did not serve the next thread")
	}
	if second.Tid != 102 || second.Pid != 100 || second.Threads != 2 || second.Counts[110][cblock.KindTrap] != 3 {
		t.Errorf("reused shard: tid %d pid %d threads %d getppid %d", second.Tid, second.Pid, second.Threads, second.Counts[110][cblock.KindTrap])
	}
	// Another process never gets it, nor a new thread while it is in use.
	if cb := shard(thread(201, other)); cb == first || cb == leader {
		t.Error("a block crossed processes")
	}
	if cb := shard(thread(103, p)); cb == first || cb == leader {
		t.Error("a block in use was handed out")
	}
	// The leader's block stays the leader's.
	r.ended(100, exited)
	if cb := shard(thread(104, p)); cb == leader {
		t.Error("the leader's block was reused")
	}
	files, err := filepath.Glob(filepath.Join(r.dir, "shard-*.cb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 { // 100, 101 (then 102), 201, 103, 104
		t.Errorf("%d shard files, want 5: %v", len(files), files)
	}
}
