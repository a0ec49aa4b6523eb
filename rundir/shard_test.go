package rundir

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// openTestShard opens a shard in dir for tid and unmaps it at test end.
func openTestShard(t *testing.T, dir string, tid int) *cblock.ControlBlock {
	t.Helper()
	cb, unmap, err := OpenShard(ShardPath(dir, tid))
	if err != nil {
		t.Fatalf("OpenShard: %v", err)
	}
	t.Cleanup(func() {
		if err := unmap(); err != nil {
			t.Errorf("unmap: %v", err)
		}
	})
	return cb
}

// openFDsTo lists this process's descriptors that refer to path.
func openFDsTo(t *testing.T, path string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			fds = append(fds, e.Name())
		}
	}
	return fds
}

func TestOpenShardInitialisesHeaderAndClosesFD(t *testing.T) {
	dir := t.TempDir()
	path := ShardPath(dir, 42)
	// Stale content from an earlier run must not survive.
	if err := os.WriteFile(path, []byte("stale shard contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	cb, unmap, err := OpenShard(path)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	if cb.Self != uint64(uintptr(unsafe.Pointer(cb))) {
		t.Errorf("Self = %#x, want the block's address %p", cb.Self, cb)
	}
	if cb.Magic != cblock.Magic || cb.Version != cblock.Version {
		t.Errorf("magic/version = %#x/%d", cb.Magic, cb.Version)
	}
	if fds := openFDsTo(t, path); len(fds) != 0 {
		t.Errorf("descriptors still open on the shard: %v", fds)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != cblock.Size {
		t.Errorf("shard size %d, want %d", st.Size(), cblock.Size)
	}
	// The mapping is shared: a store is visible in the file at once,
	// without unmapping (this is what survives a SIGKILL).
	cb.Counts[1][cblock.KindTrap] = 7
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(b[cblock.CounterOffset(1, cblock.KindTrap):]); got != 7 {
		t.Errorf("file counter = %d, want 7", got)
	}
	if string(b[:len("stale")]) == "stale" {
		t.Error("stale file contents survived OpenShard")
	}
}

func TestReadShardRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cb := openTestShard(t, dir, 7)
	cb.Tid = 7
	cb.TrapMode = cblock.TrapSUD
	cb.Counts[0][cblock.KindBypass] = 3
	cb.Counts[1][cblock.KindTrap] = 5
	cb.Counts[cblock.NrMax-1][cblock.KindVDSO] = 11
	cb.Sites[0] = cblock.Site{Addr: 0x1000, Nr: 1, Kind: cblock.KindTrap, Count: 5}
	cb.Sites[cblock.NumSites-1] = cblock.Site{Addr: 0x2000, Nr: 0, Kind: cblock.KindBypass, Count: 3}
	cb.Sites[9] = cblock.Site{Addr: 0x3000, Nr: 2, Kind: cblock.KindTrap, Count: 0} // free slot
	cb.Exit = cblock.Exit{Done: 1, Code: -2, Signal: 11, FaultAddr: 0xdead, FaultRip: 0xbeef, SitesDropped: 4}

	sd, err := ReadShard(ShardPath(dir, 7))
	if err != nil {
		t.Fatal(err)
	}
	if sd.Tid != 7 || sd.TrapMode != cblock.TrapSUD {
		t.Errorf("tid/trap mode = %d/%d", sd.Tid, sd.TrapMode)
	}
	if sd.Counts != cb.Counts {
		t.Error("counts differ from the control block's")
	}
	want := []cblock.Site{cb.Sites[0], cb.Sites[cblock.NumSites-1]}
	if len(sd.Sites) != 2 || sd.Sites[0] != want[0] || sd.Sites[1] != want[1] {
		t.Errorf("sites = %+v, want %+v", sd.Sites, want)
	}
	if sd.Exit != cb.Exit {
		t.Errorf("exit = %+v, want %+v", sd.Exit, cb.Exit)
	}
}

func TestReadShardRejectsBadFiles(t *testing.T) {
	good := func() []byte {
		b := make([]byte, cblock.Size)
		binary.LittleEndian.PutUint64(b[offMagic:], cblock.Magic)
		binary.LittleEndian.PutUint32(b[offVersion:], cblock.Version)
		return b
	}
	badKind := good()
	binary.LittleEndian.PutUint32(badKind[offSites+12:], cblock.SiteKinds)
	binary.LittleEndian.PutUint64(badKind[offSites+16:], 1)
	badMagic := good()
	badMagic[offMagic] ^= 0xff
	badVersion := good()
	binary.LittleEndian.PutUint32(badVersion[offVersion:], cblock.Version+1)

	for _, tc := range []struct {
		name      string
		data      []byte
		wantEmpty bool
	}{
		{"short", good()[:4096], false},
		{"long", append(good(), 0), false},
		{"zero", make([]byte, cblock.Size), true},
		{"magic", badMagic, false},
		{"version", badVersion, false},
		{"kind", badKind, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shard-1.cb")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadShard(path)
			var se *ShardError
			if !errors.As(err, &se) || se.Path != path {
				t.Fatalf("err = %v, want a *ShardError for %s", err, path)
			}
			if got := errors.Is(err, ErrEmptyShard); got != tc.wantEmpty {
				t.Errorf("errors.Is(err, ErrEmptyShard) = %v, want %v (%v)", got, tc.wantEmpty, err)
			}
		})
	}
	if _, err := ReadShard(filepath.Join(t.TempDir(), "missing.cb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	valid := filepath.Join(t.TempDir(), "shard-2.cb")
	if err := os.WriteFile(valid, good(), 0o644); err != nil {
		t.Fatal(err)
	}
	if sd, err := ReadShard(valid); err != nil || len(sd.Sites) != 0 {
		t.Errorf("valid empty shard: %v, %v", sd, err)
	}
	// A version 2 shard (before patched[]) is the block without its last
	// page, and still reads; a version 3 one of that size does not.
	v2 := good()[:cblock.SizeV2]
	binary.LittleEndian.PutUint32(v2[offVersion:], 2)
	binary.LittleEndian.PutUint64(v2[offCounts+(39*cblock.Kinds+cblock.KindTrap)*8:], 7)
	old := filepath.Join(t.TempDir(), "shard-3.cb")
	if err := os.WriteFile(old, v2, 0o644); err != nil {
		t.Fatal(err)
	}
	if sd, err := ReadShard(old); err != nil || sd.Counts[39][cblock.KindTrap] != 7 || sd.Patched[39] != 0 {
		t.Errorf("version 2 shard: %v, %v", sd, err)
	}
	short := good()[:cblock.SizeV2]
	if err := os.WriteFile(old, short, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadShard(old); err == nil {
		t.Errorf("version 3 shard of version 2's size read")
	}
}
