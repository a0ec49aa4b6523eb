package symcache

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/cachedir"
)

const key = "object build-id:0123abcd 4096\ndebug none\nsymbolizer 1\n"

var sample = []coverage.SymbolEntry{
	{Addr: 0x1000, Function: "write", Value: 0xff0, File: "io/write.c", Line: 26},
	{Addr: 0x2000, Function: "", Value: 0, File: "", Line: 0},
	{Addr: 0x3000, Function: `operator new(unsigned long) "q"`, Value: 0x2ff0, File: "a b\nc.cc", Line: 9},
}

func TestStoreLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vsysbed") // created by Store
	c := New(dir)
	if got := c.Load(key); got != nil {
		t.Fatalf("a hit in an empty cache: %v", got)
	}
	if err := c.store(key, sample); err != nil {
		t.Fatal(err)
	}
	if got := c.Load(key); !reflect.DeepEqual(got, sample) {
		t.Fatalf("Load = %+v, want %+v", got, sample)
	}
	if got := c.Load(strings.Replace(key, "4096", "4097", 1)); got != nil {
		t.Error("a hit for another key")
	}
	if got := c.Load(strings.Replace(key, "symbolizer 1", "symbolizer 2", 1)); got != nil {
		t.Error("a hit for another symbolizer version")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "symbols-") {
		t.Errorf("cache dir holds %v, want one symbols- file", ents)
	}
}

// TestCorruptFilesAreIgnoredAndRewritten: every damage a file can have
// gives no entries (never a panic), and the next Store replaces it.
func TestCorruptFilesAreIgnoredAndRewritten(t *testing.T) {
	dir := t.TempDir()
	c := New(dir)
	if err := c.store(key, sample); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(c.path(key))
	if err != nil {
		t.Fatal(err)
	}
	// A valid checksum over a bad body: the checks past the sum must hold.
	resum := func(body string) []byte { return []byte(body + "sum " + cachedir.Sum([]byte(body)) + "\n") }
	body := string(good[:strings.LastIndex(string(good), "sum ")])
	damaged := map[string][]byte{
		"empty":           nil,
		"truncated":       good[:len(good)/2],
		"bit flip":        []byte(strings.Replace(string(good), "write", "wrote", 1)),
		"no newline":      good[:len(good)-1],
		"garbage":         []byte("\x00\x01\x02 not a cache file"),
		"other format":    resum(strings.Replace(body, format, "vsysbed-symbol-cache 0", 1)),
		"bad hex":         resum(strings.Replace(body, "at 1000", "at 10z0", 1)),
		"short line":      resum(body + "at 1 2 3\n"),
		"negative line":   resum(body + "at 1 0 -3 \"f\" \"x\"\n"),
		"unquoted":        resum(body + "at 1 0 3 f x\n"),
		"one string":      resum(body + "at 1 0 3 \"f\"\n"),
		"trailing junk":   resum(body + "at 1 0 3 \"f\" \"x\" y\n"),
		"function above":  resum(body + "at 1 5 3 \"f\" \"x\"\n"),
		"other line kind": resum(body + "range 1 2\n"),
	}
	for name, data := range damaged {
		if err := os.WriteFile(c.path(key), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := c.Load(key); got != nil {
			t.Errorf("%s: Load = %+v, want nothing", name, got)
		}
		c.Store(key, sample)
		if again, _ := os.ReadFile(c.path(key)); string(again) != string(good) {
			t.Errorf("%s: not rewritten by Store", name)
		}
	}
	// A file too big to be ours is not read.
	if err := os.WriteFile(c.path(key), make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Load(key); got != nil {
		t.Error("an oversized file was read")
	}
}

func TestUnwritableDirIsNotAnError(t *testing.T) {
	// A file where the directory should be: unwritable as root too.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(filepath.Join(file, "vsysbed"))
	c.Store(key, sample) // no panic, no error to report
	if c.store(key, sample) == nil {
		t.Error("stored under a file")
	}
	if c.Load(key) != nil {
		t.Error("a hit from nowhere")
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv(EnvVar, "")
	s := Open()
	c, ok := s.(*Cache)
	if !ok || c.dir != filepath.Join(dir, "vsysbed") {
		t.Fatalf("Open = %#v, want the cache in %s/vsysbed", s, dir)
	}
	t.Setenv(EnvVar, "off")
	if s := Open(); s != nil {
		t.Errorf("%s=off: Open = %#v, want nil", EnvVar, s)
	}
	t.Setenv(EnvVar, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if s := Open(); s != nil {
		t.Errorf("no HOME: Open = %#v, want nil", s)
	}
}
