package tracer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vsysbed/vsysbed/rundir"
)

// runDirPrefix names every run directory in $TMPDIR.
const runDirPrefix = "vsysbed-run-"

// newRunDir makes the run directory (shards, event logs) in $TMPDIR and
// records this process as its supervisor; cleanup removes it unless
// --keep-rundir, which prints where it is. Stale directories of earlier
// runs go first (GC).
func newRunDir(o Options) (dir string, cleanup func(), err error) {
	GC(os.TempDir())
	dir, err = os.MkdirTemp("", runDirPrefix)
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
	return dir, func() { os.RemoveAll(dir) }, nil
}

// GC removes the stale run directories in tmp and returns their paths. A
// directory is stale when the supervisor it records is gone (killed: it
// could not clean up) and no live process maps a file in it (a host
// process still dying, or one a --wait=main run left running). A directory
// without a record (made by an older vsysbed, or being made right now) or
// kept with --keep-rundir is left alone.
func GC(tmp string) (removed []string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, runDirPrefix+"*"))
	var candidates []string
	for _, d := range dirs {
		if _, err := os.Lstat(filepath.Join(d, rundir.KeepFile)); err == nil {
			continue
		}
		alive, err := rundir.SupervisorAlive(d)
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
		}
	}
	return removed
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
