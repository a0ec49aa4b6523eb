package rundir

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls/cblock"
)

const nrGetppid = 110

// dirCounts sums what the supervisor would read from dir now: the report's
// getppid trap count, its thread count and the number of shard files.
func dirCounts(t *testing.T, dir string) (getppid uint64, threads, files int) {
	t.Helper()
	in := readInput(t, dir)
	in.NoSymbols = true
	r := coverage.Build(in)
	for _, row := range r.Syscalls {
		if row.Nr == nrGetppid {
			getppid = row.Trap
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, ShardPattern))
	if err != nil {
		t.Fatal(err)
	}
	return getppid, r.Threads, len(paths)
}

// countTrap is what the entry code does for one trapped call.
func countTrap(cb *cblock.ControlBlock, nr int, site uint64) {
	cb.Counts[nr][cblock.KindTrap]++
	for i := range cb.Sites {
		s := &cb.Sites[i]
		if s.Count == 0 || s.Addr == site && s.Nr == uint32(nr) && s.Kind == cblock.KindTrap {
			s.Addr, s.Nr, s.Kind = site, uint32(nr), cblock.KindTrap
			s.Count++
			return
		}
	}
}

// A thread at a time, as a server with one worker alive: one file, and
// at every step — a SIGKILL can come at any — the directory holds exactly
// the calls made so far, never one twice.
func TestShardPoolReusesAnExitedThreadsBlockWithoutLosingCounts(t *testing.T) {
	dir := t.TempDir()
	pool := NewShardPool(dir)
	var made uint64
	for i := 0; i < 50; i++ {
		tid := 1000 + i
		cb, reused, err := pool.Get(tid)
		if err != nil {
			t.Fatal(err)
		}
		if reused != (i > 0) {
			t.Fatalf("thread %d: reused = %v", i, reused)
		}
		if cb.Tid != uint64(tid) {
			t.Fatalf("thread %d: Tid = %d, want %d", i, cb.Tid, tid)
		}
		if got, threads, _ := dirCounts(t, dir); got != made || threads != i+1 {
			t.Fatalf("thread %d handed out: getppid %d threads %d, want %d and %d", i, got, threads, made, i+1)
		}
		cb.Flags |= cblock.FlagLeave // what the exiting thread leaves behind
		for j := 0; j < 3; j++ {
			countTrap(cb, nrGetppid, 0x401000)
			made++
			if got, _, _ := dirCounts(t, dir); got != made {
				t.Fatalf("thread %d call %d: directory has %d getppid, want %d", i, j, got, made)
			}
		}
		pool.Put(cb)
	}
	got, threads, files := dirCounts(t, dir)
	if got != 150 || threads != 50 || files != 1 {
		t.Errorf("getppid %d threads %d files %d, want 150, 50, 1", got, threads, files)
	}
	if open, free := pool.Stats(); open != 1 || free != 1 {
		t.Errorf("pool opened %d, %d free; want 1, 1", open, free)
	}
	in := readInput(t, dir)
	in.NoSymbols = true
	r := coverage.Build(in)
	if len(r.Sites) != 1 || r.Sites[0].Count != 150 {
		t.Errorf("sites %+v, want the one site with 150 calls", r.Sites)
	}
}

func TestShardPoolResetsTheNextThreadsState(t *testing.T) {
	pool := NewShardPool(t.TempDir())
	cb, _, err := pool.Get(7)
	if err != nil {
		t.Fatal(err)
	}
	cb.Flags = cblock.FlagLeave
	cb.SigPending = 1
	cb.Exit.SitesDropped = 2
	pool.Put(cb)
	again, reused, err := pool.Get(8)
	if err != nil {
		t.Fatal(err)
	}
	if !reused || again != cb {
		t.Fatalf("Get after Put: reused=%v same=%v", reused, again == cb)
	}
	if again.Flags != 0 || again.SigPending != 0 || again.Tid != 8 || again.Exit.SitesDropped != 2 || again.Threads != 2 {
		t.Errorf("reused block: flags=%#x sigpending=%d tid=%d sites_dropped=%d threads=%d",
			again.Flags, again.SigPending, again.Tid, again.Exit.SitesDropped, again.Threads)
	}
}

// Threads created while others exit, from many goroutines (run with
// -race): the files never outnumber the threads alive at once, each block
// serves one thread at a time, and the sum is exact.
func TestShardPoolConcurrentThreadsStayBounded(t *testing.T) {
	dir := t.TempDir()
	pool := NewShardPool(dir)
	const workers, perWorker = 4, 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	inUse := map[*cblock.ControlBlock]bool{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				cb, _, err := pool.Get(w*perWorker + i + 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if inUse[cb] {
					t.Errorf("block %p handed to two live threads", cb)
				}
				inUse[cb] = true
				mu.Unlock()
				for j := 0; j < 3; j++ {
					countTrap(cb, nrGetppid, 0x401000+uint64(w))
				}
				mu.Lock()
				delete(inUse, cb)
				mu.Unlock()
				pool.Put(cb)
			}
		}(w)
	}
	wg.Wait()
	got, threads, files := dirCounts(t, dir)
	if got != workers*perWorker*3 || threads != workers*perWorker {
		t.Errorf("getppid %d threads %d, want %d and %d", got, threads, workers*perWorker*3, workers*perWorker)
	}
	if files > workers {
		t.Errorf("%d shard files for at most %d threads alive at once", files, workers)
	}
}

// A name already taken in the run directory — by a block that outlived
// its thread, whose tid the kernel gave to a new thread or a forked host
// process — is never truncated.
func TestCreateShardNeverTruncatesATakenName(t *testing.T) {
	dir := t.TempDir()
	first, _, err := CreateShard(dir, 42)
	if err != nil {
		t.Fatal(err)
	}
	first.Counts[nrGetppid][cblock.KindTrap] = 5
	second, _, err := CreateShard(dir, 42)
	if err != nil {
		t.Fatal(err)
	}
	second.Counts[nrGetppid][cblock.KindTrap] = 1
	if got, threads, files := dirCounts(t, dir); got != 6 || threads != 2 || files != 2 {
		t.Errorf("getppid %d threads %d files %d, want 6, 2, 2", got, threads, files)
	}
	if _, err := os.Stat(filepath.Join(dir, "shard-42.1.cb")); err != nil {
		t.Errorf("the second shard of tid 42: %v", err)
	}
}
