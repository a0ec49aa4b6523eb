package rundir

import (
	"path/filepath"
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// A spare's shard is no shard of the run until it is named, and naming it
// never replaces a shard a reused tid left.
func TestSpareShardIsNamedAtHandOff(t *testing.T) {
	dir := t.TempDir()
	shards := func() []string {
		paths, err := filepath.Glob(filepath.Join(dir, ShardPattern))
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	old, unmapOld, err := CreateShard(dir, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer unmapOld()
	old.Counts[39][cblock.KindTrap] = 5

	cb, unmap, err := CreateSpareShard(dir, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	cb.Counts[39][cblock.KindTrap] = 1
	if got := shards(); len(got) != 1 {
		t.Fatalf("an unnamed spare shard is a shard of the run: %v", got)
	}
	if err := NameSpareShard(dir, 7, 7); err != nil {
		t.Fatal(err)
	}
	got := shards()
	if len(got) != 2 {
		t.Fatalf("shards after naming: %v", got)
	}
	want := map[string]uint64{ShardPath(dir, 7): 5, filepath.Join(dir, "shard-7.1.cb"): 1}
	for path, n := range want {
		d, err := ReadShard(path)
		if err != nil {
			t.Fatal(err)
		}
		if d.Counts[39][cblock.KindTrap] != n {
			t.Errorf("%s counts %d traps, want %d", path, d.Counts[39][cblock.KindTrap], n)
		}
	}
	if err := NameSpareShard(dir, 7, 8); err == nil {
		t.Error("a spare shard was named twice")
	}
}
