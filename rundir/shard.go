package rundir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// ShardPattern matches the shard files in a run directory
// (shard-<tid>.cb, one per control block).
const ShardPattern = "shard-*.cb"

// ShardPath is the shard file named after thread tid in run directory dir.
func ShardPath(dir string, tid int) string {
	return filepath.Join(dir, fmt.Sprintf("shard-%d.cb", tid))
}

// CreateShard creates a new shard file in run directory dir for thread tid
// and maps it as OpenShard does. The file is shard-<tid>.cb unless that
// name is taken, then shard-<tid>.<n>.cb: a shard outlives its first
// thread (ShardPool hands it to later ones) and every host process of a
// tree writes into the same directory, so a tid the kernel reused — a
// later thread, or a forked host process whose pid was once a thread's —
// must not truncate a file that still holds counts.
func CreateShard(dir string, tid int) (cb *cblock.ControlBlock, unmap func() error, err error) {
	path := ShardPath(dir, tid)
	for n := 1; ; n++ {
		cb, unmap, err = openShard(path, unix.O_EXCL)
		if !errors.Is(err, unix.EEXIST) || n == 1000 {
			return cb, unmap, err
		}
		path = filepath.Join(dir, fmt.Sprintf("shard-%d.%d.cb", tid, n))
	}
}

// OpenShard creates (or truncates) the shard file at path, maps it shared
// and initialises the header fields the entry code and the supervisor rely
// on. Every store into the block lands in the page cache and survives a
// SIGKILL of the host. unmap releases the mapping; the thread must no
// longer run guest code that counts into it.
//
// Raw system calls only: this runs in the host process, where a Go os.File
// would wake the netpoller and take a low fd number from the guest.
func OpenShard(path string) (cb *cblock.ControlBlock, unmap func() error, err error) {
	return openShard(path, unix.O_TRUNC)
}

func openShard(path string, flag int) (cb *cblock.ControlBlock, unmap func() error, err error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|flag, 0o644)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	// The mapping keeps the file referenced; the descriptor is not needed
	// past mmap, and a stray host fd would be one more for the fd guard.
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, cblock.Size); err != nil {
		return nil, nil, &fs.PathError{Op: "ftruncate", Path: path, Err: err}
	}
	mem, err := unix.Mmap(fd, 0, cblock.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: path, Err: err}
	}
	cb = (*cblock.ControlBlock)(unsafe.Pointer(&mem[0]))
	cb.Self = uint64(uintptr(unsafe.Pointer(cb)))
	cb.Version = cblock.Version
	cb.Threads = 1
	// Magic last: a shard with a magic is a shard whose header is complete.
	cb.Magic = cblock.Magic
	return cb, func() error { return unix.Munmap(mem) }, nil
}

// ShardData is what the supervisor reads back from one shard file.
type ShardData struct {
	Path     string
	Tid      uint64 // the last thread that used the block
	Threads  uint32 // threads that used it in turn (at least 1)
	Pid      uint32 // the host process the thread belonged to (0 in old shards)
	TrapMode uint8
	Counts   [cblock.NrMax][cblock.Kinds]uint64
	Errors   [cblock.NrMax]uint32 // calls that returned -4095..-1
	Patched  [cblock.NrMax]uint64 // calls through rewritten sites (0 in version 2 shards)
	Sites    []cblock.Site        // occupied slots only, in table order
	Exit     cblock.Exit

	// Cycles are the TSC cycles of the timed calls without a site slot,
	// by number and cblock.Time* column, SiteCycles those of Sites[i]'s timed
	// calls (cblock.TimedCalls; 0 in version 2 and 3 shards, and with
	// --timing=off). Plain scales them to all calls.
	Cycles     [cblock.NrMax][cblock.TimeKinds]uint64
	SiteCycles []uint64
}

// ErrEmptyShard is wrapped by the *ShardError for a shard whose header was
// never written: the host died between creating the file and initialising
// the block, so there is nothing to count.
var ErrEmptyShard = errors.New("shard never initialised")

// ShardError is a shard file that is not a control block this build can read.
type ShardError struct {
	Path string
	Err  error
}

func (e *ShardError) Error() string { return fmt.Sprintf("shard %s: %v", e.Path, e.Err) }
func (e *ShardError) Unwrap() error { return e.Err }

// Field offsets taken from the Go mirror, so a layout change in cb.h (kept
// in step by tls.TestOffsets) reaches the reader too.
var (
	offMagic    = int(unsafe.Offsetof(cblock.ControlBlock{}.Magic))
	offVersion  = int(unsafe.Offsetof(cblock.ControlBlock{}.Version))
	offTrapMode = int(unsafe.Offsetof(cblock.ControlBlock{}.TrapMode))
	offTid      = int(unsafe.Offsetof(cblock.ControlBlock{}.Tid))
	offPid      = int(unsafe.Offsetof(cblock.ControlBlock{}.Pid))
	offThreads  = int(unsafe.Offsetof(cblock.ControlBlock{}.Threads))
	offExit     = int(unsafe.Offsetof(cblock.ControlBlock{}.Exit))
	offCounts   = int(unsafe.Offsetof(cblock.ControlBlock{}.Counts))
	offSites    = int(unsafe.Offsetof(cblock.ControlBlock{}.Sites))
	siteSize    = int(unsafe.Sizeof(cblock.Site{}))
)

// ReadShard reads and validates the shard file at path. It decodes
// explicitly (little-endian, offsets from the Go mirror) rather than
// casting the bytes, so a short or foreign file is an error, not a fault.
func ReadShard(path string) (*ShardData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	// Versions 2 (before Patched) and 3 (before the timing) are the same
	// block, shorter: they read with no patched calls and no time.
	want := cblock.Size
	if len(b) > offVersion+4 {
		switch {
		case len(b) == cblock.SizeV2 && le.Uint32(b[offVersion:]) == 2:
			want = cblock.SizeV2
		case len(b) == cblock.SizeV3 && le.Uint32(b[offVersion:]) == 3:
			want = cblock.SizeV3
		}
	}
	switch {
	case len(b) != want:
		return nil, &ShardError{path, fmt.Errorf("size %d, want %d", len(b), cblock.Size)}
	case le.Uint64(b[offMagic:]) == 0:
		return nil, &ShardError{path, ErrEmptyShard}
	case le.Uint64(b[offMagic:]) != cblock.Magic:
		return nil, &ShardError{path, fmt.Errorf("bad magic %#x", le.Uint64(b[offMagic:]))}
	case want == cblock.Size && le.Uint32(b[offVersion:]) != cblock.Version:
		return nil, &ShardError{path, fmt.Errorf("version %d, this build reads %d, 3 and 2", le.Uint32(b[offVersion:]), cblock.Version)}
	}
	timed := want == cblock.Size
	sd := &ShardData{
		Path:     path,
		Tid:      le.Uint64(b[offTid:]),
		Pid:      le.Uint32(b[offPid:]),
		Threads:  max(le.Uint32(b[offThreads:]), 1), // 0 before the field existed
		TrapMode: b[offTrapMode],
	}
	e := b[offExit:]
	sd.Exit = cblock.Exit{
		Done:         le.Uint32(e[0:]),
		Code:         int32(le.Uint32(e[4:])),
		Signal:       int32(le.Uint32(e[8:])),
		FaultAddr:    le.Uint64(e[16:]),
		FaultRip:     le.Uint64(e[24:]),
		SitesDropped: le.Uint64(e[32:]),
	}
	for nr := range cblock.NrMax {
		for kind := range cblock.Kinds {
			sd.Counts[nr][kind] = le.Uint64(b[offCounts+(nr*cblock.Kinds+kind)*8:])
		}
	}
	for nr := range cblock.NrMax {
		sd.Errors[nr] = le.Uint32(b[cblock.OffErrors+nr*4:])
		if want != cblock.SizeV2 {
			sd.Patched[nr] = le.Uint64(b[cblock.OffPatched+nr*8:])
		}
		if timed {
			for col := range cblock.TimeKinds {
				sd.Cycles[nr][col] = le.Uint64(b[cblock.OffCycles+(nr*cblock.TimeKinds+col)*8:])
			}
		}
	}
	for i := range cblock.NumSites {
		s := b[offSites+i*siteSize:]
		site := cblock.Site{
			Addr:  le.Uint64(s[0:]),
			Nr:    le.Uint32(s[8:]),
			Kind:  le.Uint32(s[12:]),
			Count: le.Uint64(s[16:]),
		}
		if site.Count == 0 {
			continue
		}
		if site.Kind >= cblock.SiteKinds {
			return nil, &ShardError{path, fmt.Errorf("site slot %d: kind %d out of range", i, site.Kind)}
		}
		sd.Sites = append(sd.Sites, site)
		var cycles uint64
		if timed {
			cycles = le.Uint64(b[cblock.OffSiteCycles+i*8:])
		}
		sd.SiteCycles = append(sd.SiteCycles, cycles)
	}
	return sd, nil
}

// ReadShardOwner reads only the process and the last thread a shard file
// names (its header): cheaper than ReadShard for a count of live threads.
func ReadShardOwner(path string) (pid, tid int, ok bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, false
	}
	defer unix.Close(fd)
	end := max(offTid+8, offPid+4, offMagic+8)
	b := make([]byte, end)
	if n, err := unix.Pread(fd, b, 0); err != nil || n != end {
		return 0, 0, false
	}
	le := binary.LittleEndian
	if le.Uint64(b[offMagic:]) != cblock.Magic {
		return 0, 0, false
	}
	return int(le.Uint32(b[offPid:])), int(le.Uint64(b[offTid:])), true
}
