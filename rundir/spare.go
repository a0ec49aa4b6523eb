package rundir

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// A spare host process (platform/inprocess/pool.go) creates its shard
// before any fork is handed to it, under a name ShardPattern does not
// match, so a spare that is never used counts no process in the report;
// at hand-off the file takes its name (NameSpareShard). Creating and
// mapping a shard is ~0.8 ms of a fork under load; the rename is one call.

// SpareShardPath is the shard of the spare host process pid before it is
// named.
func SpareShardPath(dir string, pid int) string {
	return filepath.Join(dir, fmt.Sprintf(".spare-%d.cb", pid))
}

// CreateSpareShard creates and maps a spare's shard, as CreateShard does.
func CreateSpareShard(dir string, pid int) (*cblock.ControlBlock, func() error, error) {
	return openShard(SpareShardPath(dir, pid), unix.O_EXCL)
}

// NameSpareShard gives the spare's shard its name as CreateShard would
// have for thread tid: shard-<tid>.cb, or shard-<tid>.<n>.cb when taken.
func NameSpareShard(dir string, pid, tid int) error {
	from := SpareShardPath(dir, pid)
	path := ShardPath(dir, tid)
	for n := 1; ; n++ {
		err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
		if !errors.Is(err, unix.EEXIST) || n == 1000 {
			return err
		}
		path = filepath.Join(dir, fmt.Sprintf("shard-%d.%d.cb", tid, n))
	}
}
