package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/internal/cachedir"
	"github.com/vsysbed/vsysbed/rundir"
)

// runDirPrefix names every run directory in $TMPDIR.
const runDirPrefix = "vsysbed-run-"

// newRunDir makes the run directory (shards, event logs) in $TMPDIR and
// records this process as its supervisor; cleanup removes it unless
// --keep-rundir, which prints where it is. Stale directories of earlier
// runs go first (GCRegistered).
func newRunDir(o Options) (dir string, cleanup func(), err error) {
	tmp := os.TempDir()
	GCRegistered(tmp)
	dir, err = os.MkdirTemp(tmp, runDirPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("creating the run directory: %w", err)
	}
	if err := rundir.WriteSupervisor(dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("recording the supervisor: %w", err)
	}
	if o.Tamper != nil && !o.Tamper.Empty() {
		if err := rundir.WriteTamper(dir, o.Tamper); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("recording --inject and --personality: %w", err)
		}
	}
	if o.KeepRunDir {
		os.WriteFile(filepath.Join(dir, rundir.KeepFile), nil, 0o644)
		fmt.Fprintf(os.Stderr, "vsysbed: run directory %s\n", dir)
		return dir, func() {}, nil
	}
	unregister := register(dir)
	return dir, func() {
		if os.RemoveAll(dir) == nil {
			unregister()
		}
	}, nil
}

// GC removes the stale run directories in tmp and returns their paths. A
// directory is stale when the supervisor it records is gone (killed: it
// could not clean up) and no live process maps a file in it (a host
// process still dying, or one a --wait=main run left running). A directory
// without a record (made by an older vsysbed, or being made right now) or
// kept with --keep-rundir is left alone. It reads the whole of tmp, which
// a shared /tmp of thousands of entries makes a matter of milliseconds:
// `vsysbed gc` does, each run only GCRegistered.
func GC(tmp string) (removed []string) {
	f, err := os.Open(tmp)
	if err != nil {
		return nil
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	var dirs []string
	for _, n := range names {
		if strings.HasPrefix(n, runDirPrefix) {
			dirs = append(dirs, filepath.Join(tmp, n))
		}
	}
	sort.Strings(dirs)
	var forget func(string)
	if reg, ok := registry(false); ok {
		forget = func(d string) { forgetEntries(reg, d) }
	}
	return gcDirs(dirs, forget)
}

// GCRegistered is GC of the run directories this user's runs registered
// (register) and did not remove: those of killed supervisors, and of runs
// whose processes outlived them, in tmp or any other $TMPDIR. It reads the
// registry, a directory of a few small files, not tmp. Without a registry
// of this user's own (no cache directory) it falls back to GC of tmp.
func GCRegistered(tmp string) (removed []string) {
	reg, ok := registry(false)
	if !ok {
		return GC(tmp)
	}
	f, err := os.Open(reg)
	if err != nil {
		return nil
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	entries := map[string]string{} // run directory → its entry
	var dirs []string
	for _, n := range names {
		if !strings.HasPrefix(n, runDirPrefix) {
			continue
		}
		entry := filepath.Join(reg, n)
		b, err := os.ReadFile(entry)
		d := strings.TrimSuffix(string(b), "\n")
		if err != nil || len(b) > 4096 || !filepath.IsAbs(d) || !strings.HasPrefix(filepath.Base(d), runDirPrefix) || filepath.Clean(d) != d {
			os.Remove(entry) // not an entry register wrote
			continue
		}
		entries[d] = entry
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return gcDirs(dirs, func(d string) { os.Remove(entries[d]) })
}

// gcDirs removes the stale ones of dirs (GC); forget, when not nil, is
// called for each directory that is gone or will never be removed here
// (kept, no record).
func gcDirs(dirs []string, forget func(dir string)) (removed []string) {
	var candidates []string
	for _, d := range dirs {
		if _, err := os.Lstat(d); err != nil && forget != nil {
			forget(d)
			continue
		}
		if _, err := os.Lstat(filepath.Join(d, rundir.KeepFile)); err == nil {
			if forget != nil {
				forget(d)
			}
			continue
		}
		alive, err := rundir.SupervisorAlive(d)
		if err != nil && forget != nil {
			forget(d)
		}
		if err != nil || alive {
			continue
		}
		candidates = append(candidates, d)
	}
	if len(candidates) == 0 {
		return nil
	}
	inUse := mappedDirs()
	for _, d := range candidates {
		// /proc names the file by its resolved path.
		if real, err := filepath.EvalSymlinks(d); err != nil || inUse[real] {
			continue
		}
		if os.RemoveAll(d) == nil {
			removed = append(removed, d)
			if forget != nil {
				forget(d)
			}
		}
	}
	return removed
}

// registry is where this user's runs register their run directories:
// $XDG_CACHE_HOME/vsysbed/runs (internal/cachedir), one small file per
// run directory holding its path, named like it. Not in $TMPDIR: a run
// leaves nothing there, and making and removing a directory in a shared
// /tmp of thousands of entries costs a millisecond. ok is false when
// there is no cache directory, the registry is missing (and create is
// false or making it failed) or it is not this user's alone.
func registry(create bool) (dir string, ok bool) {
	root := cachedir.Root()
	if root == "" {
		return "", false
	}
	dir = filepath.Join(root, "runs")
	if create {
		os.MkdirAll(dir, 0o700)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return dir, false
	}
	return dir, st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == os.Getuid() && st.Mode&0o022 == 0
}

// register records run directory dir in the registry, so that the next
// run's GCRegistered finds it if this supervisor is killed; unregister
// forgets it once the directory is gone. A supervisor killed between
// writing its record and registering leaves a directory only `vsysbed gc`
// removes.
func register(dir string) (unregister func()) {
	reg, ok := registry(true)
	if !ok {
		return func() {}
	}
	// Run directories of two $TMPDIRs may share a name.
	entry := filepath.Join(reg, filepath.Base(dir))
	for n := 1; ; n++ {
		f, err := os.OpenFile(entry, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(dir + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(entry)
				return func() {}
			}
			return func() { os.Remove(entry) }
		}
		if !errors.Is(err, fs.ErrExist) || n == 100 {
			return func() {}
		}
		entry = filepath.Join(reg, filepath.Base(dir)+"."+strconv.Itoa(n))
	}
}

// forgetEntries removes the registry's entries for run directory dir
// (GC found it gone or removed it).
func forgetEntries(reg, dir string) {
	base := filepath.Base(dir)
	names, _ := filepath.Glob(filepath.Join(reg, base+"*"))
	for _, e := range names {
		if n := filepath.Base(e); n != base && !strings.HasPrefix(n, base+".") {
			continue
		}
		if b, err := os.ReadFile(e); err == nil && strings.TrimSuffix(string(b), "\n") == dir {
			os.Remove(e)
		}
	}
}

// mappedDirs are the directories of the files some live process maps
// (shards are MAP_SHARED for as long as their host process lives), from
// every readable /proc/PID/maps.
func mappedDirs() map[string]bool {
	out := map[string]bool{}
	maps, _ := filepath.Glob("/proc/[0-9]*/maps")
	for _, m := range maps {
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			i := strings.IndexByte(line, '/')
			if i < 0 || !strings.Contains(line, runDirPrefix) {
				continue
			}
			out[filepath.Dir(strings.TrimSuffix(line[i:], " (deleted)"))] = true
		}
		f.Close()
	}
	return out
}
