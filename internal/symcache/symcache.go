// Package symcache keeps the report's symbolisation across runs: what
// coverage's symbolizer found in an object (the function and source line
// at each address it looked up) is stored per object, so that the next
// report naming sites in the same libc opens it for its build-id and
// never decompresses its line table again (~50 ms of a `vsysbed run --
// /bin/true` with libc6-dbg installed).
//
// It is a coverage.SymbolStore. The key coverage hands it names the
// object's bytes (build-id and size, the separate debug file's identity)
// and the symbolizer's rules (coverage.SymbolizerVersion); the answers are
// a function of those alone. The vsysbed binary is not in the key: two
// builds run in turn (a benchmark of old against new) share the files
// instead of rewriting them on every run.
//
// The files are $XDG_CACHE_HOME/vsysbed/symbols-<hash of key> (next to
// the probe cache, internal/probecache), written to a temporary file and
// renamed into place. Each holds its format, full key and a checksum; a
// file that does not parse, is of another format or key, or fails its
// checksum is ignored, and the report's answers replace it. No cache directory, an unwritable one or VSYSBED_SYMBOL_CACHE=off:
// objects are parsed every time, with no error.
package symcache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/cachedir"
)

// EnvVar turns the cache off when set to "off".
const EnvVar = "VSYSBED_SYMBOL_CACHE"

// format is the first line of a cache file; a new layout gets a new one.
const format = "vsysbed-symbol-cache 1"

// maxFileSize bounds a file Load reads (16384 entries of long C++ names
// stay well below).
const maxFileSize = 16 << 20

// Cache is the store in one directory.
type Cache struct {
	dir string
}

// New is the cache in dir (created on the first Store).
func New(dir string) *Cache { return &Cache{dir: dir} }

// Open is the cache in the cache directory, as the report's store; nil (no
// store) when the cache is off or there is no directory.
func Open() coverage.SymbolStore {
	dir := cachedir.Dir(EnvVar)
	if dir == "" {
		return nil
	}
	return New(dir)
}

// path is the file for key.
func (c *Cache) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, "symbols-"+hex.EncodeToString(sum[:12]))
}

// head is what a file for key starts with.
func (c *Cache) head(key string) string {
	return format + "\n" + key
}

// Load returns the entries stored for key; nil when there is no valid file.
func (c *Cache) Load(key string) []coverage.SymbolEntry {
	data, err := os.ReadFile(c.path(key))
	if err != nil || len(data) > maxFileSize {
		return nil
	}
	entries, err := decode(data, c.head(key))
	if err != nil {
		return nil
	}
	return entries
}

// Store replaces the entries of key, atomically: a temporary file in the
// directory renamed over the entry, so that a reader sees the old file or
// the whole new one. Errors are dropped: the next report parses again.
func (c *Cache) Store(key string, entries []coverage.SymbolEntry) {
	c.store(key, entries)
}

func (c *Cache) store(key string, entries []coverage.SymbolEntry) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".symbols-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(encode(c.head(key), entries))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path(key))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// encode is a file's contents: head, one "at" line per entry, checksum.
func encode(head string, entries []coverage.SymbolEntry) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for _, e := range entries {
		fmt.Fprintf(&b, "at %x %x %d %s %s\n", e.Addr, e.Value, e.Line, strconv.Quote(e.Function), strconv.Quote(e.File))
	}
	return cachedir.Seal(b.Bytes())
}

// decode checks a file's contents against head and returns its entries.
func decode(data []byte, head string) ([]coverage.SymbolEntry, error) {
	rest, err := cachedir.Unseal(data, head)
	if err != nil {
		return nil, err
	}
	var entries []coverage.SymbolEntry
	sc := bufio.NewScanner(bytes.NewReader(rest))
	sc.Buffer(nil, maxFileSize)
	for sc.Scan() {
		e, err := decodeEntry(sc.Text())
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// decodeEntry parses one "at ADDR VALUE LINE FUNCTION FILE" line.
func decodeEntry(line string) (coverage.SymbolEntry, error) {
	bad := fmt.Errorf("bad line %q", line)
	f := strings.SplitN(line, " ", 5)
	if len(f) != 5 || f[0] != "at" {
		return coverage.SymbolEntry{}, bad
	}
	addr, err1 := strconv.ParseUint(f[1], 16, 64)
	value, err2 := strconv.ParseUint(f[2], 16, 64)
	n, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil || n < 0 {
		return coverage.SymbolEntry{}, bad
	}
	rest := f[4]
	qfn, err := strconv.QuotedPrefix(rest)
	if err != nil || len(rest) <= len(qfn) || rest[len(qfn)] != ' ' {
		return coverage.SymbolEntry{}, bad
	}
	qfile := rest[len(qfn)+1:]
	fn, err1 := strconv.Unquote(qfn)
	file, err2 := strconv.Unquote(qfile)
	if err1 != nil || err2 != nil || (fn != "" && value > addr) {
		return coverage.SymbolEntry{}, bad
	}
	return coverage.SymbolEntry{Addr: addr, Function: fn, Value: value, File: file, Line: n}, nil
}
