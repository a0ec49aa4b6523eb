package rundir

import (
	"sync"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// ShardPool hands out the control blocks of one host process's guest
// threads and takes back those whose thread has exited, so that a process
// that creates a thread per request keeps as many shard files (and
// MAP_SHARED mappings) as it ever had threads alive at once, not one per
// thread it ever started.
//
// A returned block is not folded anywhere: the next thread gets the whole
// block, cblock.Reset clears what described the old thread and keeps what it
// counted, and the new thread counts on into the same file. So there is
// no moment at which a count sits in two files or in none, and the
// supervisor, which sums every file it finds, is exact whenever the host
// process dies. The report needs no per-thread detail: it sums counts and
// sites per process (every block of a pool belongs to the same process,
// which is what ShardData.Pid says), takes the exit from whichever block
// recorded it, and counts threads with cblock.ControlBlock.Threads.
//
// Every block of a pool carries the pool's process's pid, including those
// a vfork child's thread used: that code runs in the parent's memory.
type ShardPool struct {
	dir string

	mu   sync.Mutex
	free []*cblock.ControlBlock
	open int // blocks this pool created
}

// NewShardPool is the pool of a process whose shards go to run directory dir.
func NewShardPool(dir string) *ShardPool { return &ShardPool{dir: dir} }

// Get returns a control block for new thread tid: a free one, Reset (its
// Tid already tid's), or else a new shard file. reused tells which.
func (p *ShardPool) Get(tid int) (cb *cblock.ControlBlock, reused bool, err error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		cb = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if cb != nil {
		// Outside the lock: the block is ours alone once off the list.
		cblock.Reset(cb)
		cb.Tid = uint64(tid)
		return cb, true, nil
	}
	cb, _, err = CreateShard(p.dir, tid)
	if err != nil {
		return nil, false, err
	}
	cb.Tid = uint64(tid)
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
	return cb, false, nil
}

// Put takes back the block of a thread that has left the guest for good:
// no code of that thread may touch it any more (tls.Run returned, so GS
// base is 0, and Syscall User Dispatch is off on that thread, or its
// selector would be the next thread's). A nil block is ignored.
func (p *ShardPool) Put(cb *cblock.ControlBlock) {
	if cb == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, cb)
	p.mu.Unlock()
}

// Stats returns how many blocks the pool created and how many are free.
func (p *ShardPool) Stats() (open, free int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.free)
}
