// Package probecache keeps the answer of vsysbed's code-range probe (a
// re-exec of vsysbed with address randomisation off, which prints where a
// forked host process's code lies: inprocess.Probe) across runs, so that a
// run pays the ~20 ms re-exec once per vsysbed binary and system, not
// every time.
//
// With randomisation off and the legacy mmap layout the answer is a
// function of what the kernel maps and where: the vsysbed executable, the
// shared objects it loads (ld.so and libc: vsysbed is a PIE that links
// libc), the kernel and the personality the probe starts with. All of that
// is in the key: the executable's build-id (a SHA-256 of its contents when
// it has none) and size, the identity (device, inode, size, mtime) of
// every file the calling process has mapped executable — the same objects
// the probe loads, whatever LD_LIBRARY_PATH or LD_PRELOAD chose — the
// kernel's release, version and machine from uname, and the personality.
// Nothing per-run goes in: the probe's own layout has no randomisation.
//
// The cache file is $XDG_CACHE_HOME/vsysbed/probe-<hash of key> (default
// ~/.cache/vsysbed/), written to a temporary file and renamed into place.
// It holds its full key and a checksum; a file that does not parse, whose
// key is not this one or whose checksum fails is ignored and the probe
// runs again. No cache directory (no HOME), an unwritable one or
// VSYSBED_PROBE_CACHE=off: the probe runs every time, with no error.
package probecache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/cachedir"
	"github.com/vsysbed/vsysbed/internal/procmaps"
)

// EnvVar turns the cache off when set to "off" (tests that must see a
// probe run, or a suspected stale answer).
const EnvVar = "VSYSBED_PROBE_CACHE"

// format is the first line of a cache file; a new layout gets a new one.
const format = "vsysbed-probe-cache 1"

// maxRanges bounds what a valid file may hold (a host process has a
// handful of executable mappings).
const maxRanges = 64

// Dir is the cache directory: $XDG_CACHE_HOME/vsysbed, else
// $HOME/.cache/vsysbed; "" when neither is set (or the cache is off).
func Dir() string { return cachedir.Dir(EnvVar) }

// Key describes everything the probe's answer depends on, one "name value"
// per line: the executable exe (the file the probe re-executes), the
// executable file mappings of the calling process (maps), the kernel and
// personality.
func Key(exe string, maps []procmaps.Mapping, personality uint64) (string, error) {
	var b strings.Builder
	id, size, err := ExeID(exe)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "exe %s %d\n", id, size)
	var files []string
	seen := map[string]bool{}
	for _, m := range maps {
		if !m.Exec || !strings.HasPrefix(m.Path, "/") || seen[m.Path] {
			continue
		}
		seen[m.Path] = true
		var st unix.Stat_t
		if err := unix.Stat(m.Path, &st); err != nil {
			return "", fmt.Errorf("probecache: %s: %w", m.Path, err)
		}
		files = append(files, fmt.Sprintf("file %x %d %d %d.%09d %s\n", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, m.Path))
	}
	sort.Strings(files)
	for _, f := range files {
		b.WriteString(f)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("probecache: uname: %w", err)
	}
	fmt.Fprintf(&b, "kernel %s %s %s\n", unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Version[:]), unix.ByteSliceToString(u.Machine[:]))
	fmt.Fprintf(&b, "personality %#x\n", personality)
	return b.String(), nil
}

// ExeID identifies an executable by its GNU build-id note, or by a
// SHA-256 of its contents when it has none; size is the file's size.
func ExeID(path string) (id string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("probecache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("probecache: %w", err)
	}
	if ef, err := elf.NewFile(f); err == nil {
		if id := coverage.BuildID(ef); id != "" {
			return "build-id:" + id, st.Size(), nil
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return "", 0, fmt.Errorf("probecache: hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), st.Size(), nil
}

// path is the cache file for key in dir.
func path(dir, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "probe-"+hex.EncodeToString(sum[:12]))
}

// encode is a cache file's contents: format, key, ranges, checksum.
func encode(key string, ranges []bpf.Range) []byte {
	var b bytes.Buffer
	b.WriteString(format + "\n")
	b.WriteString(key)
	for _, r := range ranges {
		fmt.Fprintf(&b, "range %x %x\n", r.Start, r.End)
	}
	return cachedir.Seal(b.Bytes())
}

// decode checks a cache file's contents against key and returns its ranges.
func decode(data []byte, key string) ([]bpf.Range, error) {
	rest, err := cachedir.Unseal(data, format+"\n"+key)
	if err != nil {
		return nil, err
	}
	var ranges []bpf.Range
	sc := bufio.NewScanner(bytes.NewReader(rest))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "range" {
			return nil, fmt.Errorf("bad line %q", sc.Text())
		}
		start, err1 := strconv.ParseUint(f[1], 16, 64)
		end, err2 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil || start >= end {
			return nil, fmt.Errorf("bad range %q", sc.Text())
		}
		ranges = append(ranges, bpf.Range{Start: start, End: end})
	}
	if len(ranges) == 0 || len(ranges) > maxRanges {
		return nil, fmt.Errorf("%d ranges", len(ranges))
	}
	return ranges, nil
}

// Load returns the ranges cached in dir for key; ok is false when there is
// no valid entry.
func Load(dir, key string) (ranges []bpf.Range, ok bool) {
	if dir == "" {
		return nil, false
	}
	data, err := os.ReadFile(path(dir, key))
	if err != nil || len(data) > 1<<20 {
		return nil, false
	}
	ranges, err = decode(data, key)
	return ranges, err == nil
}

// Store writes ranges for key into dir (created if missing), atomically:
// a temporary file in dir renamed over the entry, so that a reader sees
// the old file or the whole new one.
func Store(dir, key string, ranges []bpf.Range) error {
	if dir == "" {
		return errors.New("probecache: no cache directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(encode(key, ranges))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path(dir, key))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Ranges returns the probe's answer for the executable exe started with
// personality, from the cache when it has a valid entry, else from probe,
// whose answer is then stored (a failure to store is not an error).
// cached says which.
func Ranges(exe string, personality uint64, probe func() ([]bpf.Range, error)) (ranges []bpf.Range, cached bool, err error) {
	dir := Dir()
	var key string
	if dir != "" {
		maps, merr := procmaps.Read(syscall.Getpid())
		if merr == nil {
			key, merr = Key(exe, maps, personality)
		}
		if merr != nil {
			dir = "" // cannot tell what the answer depends on: just probe
		}
	}
	if ranges, ok := Load(dir, key); ok {
		return ranges, true, nil
	}
	ranges, err = probe()
	if err != nil {
		return nil, false, err
	}
	if dir != "" {
		Store(dir, key, ranges)
	}
	return ranges, false, nil
}
