package probecache

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/internal/cachedir"
	"github.com/vsysbed/vsysbed/internal/procmaps"
)

var sample = []bpf.Range{{Start: 0x555555554000, End: 0x555555600000}, {Start: 0x7ffff7fc1000, End: 0x7ffff7fc3000}}

func selfKey(t *testing.T) string {
	t.Helper()
	maps, err := procmaps.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	key, err := Key("/proc/self/exe", maps, 0x0040008)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestKeyNamesWhatTheLayoutDependsOn(t *testing.T) {
	key := selfKey(t)
	for _, want := range []string{"exe build-id:", "kernel ", "personality 0x40008", "file "} {
		if !strings.Contains(key, want) {
			t.Errorf("key lacks %q:\n%s", want, key)
		}
	}
	maps, _ := procmaps.Read(os.Getpid())
	other, err := Key("/proc/self/exe", maps, 0x0040000)
	if err != nil {
		t.Fatal(err)
	}
	if other == key {
		t.Error("the personality does not change the key")
	}
	if again := selfKey(t); again != key {
		t.Errorf("the key is not stable:\n%s\n%s", key, again)
	}
}

func TestExeIDWithoutBuildIDHashesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("not an ELF file"), 0o755)
	id, size, err := ExeID(p)
	if err != nil || !strings.HasPrefix(id, "sha256:") || size != 15 {
		t.Fatalf("ExeID = %q, %d, %v", id, size, err)
	}
	os.WriteFile(p, []byte("not an ELF file!"), 0o755)
	if id2, _, _ := ExeID(p); id2 == id {
		t.Error("different contents, same id")
	}
}

func TestStoreLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vsysbed") // created by Store
	key := selfKey(t)
	if _, ok := Load(dir, key); ok {
		t.Fatal("a hit in an empty cache")
	}
	if err := Store(dir, key, sample); err != nil {
		t.Fatal(err)
	}
	got, ok := Load(dir, key)
	if !ok || !reflect.DeepEqual(got, sample) {
		t.Fatalf("Load = %v, %v; want %v", got, ok, sample)
	}
	if _, ok := Load(dir, key+"file 0 0 0 0.0 /other\n"); ok {
		t.Error("a hit for another key")
	}
	// Atomic: no temporary file is left behind, only the entry.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "probe-") {
		t.Errorf("cache dir holds %v", ents)
	}
}

func TestCorruptOrForeignFileIsIgnored(t *testing.T) {
	key := selfKey(t)
	good := encode(key, sample)
	cases := map[string][]byte{
		"empty":      nil,
		"garbage":    []byte("\x7fELF\x00\x01 nonsense"),
		"truncated":  good[:len(good)-20],
		"bit flip":   flip(good, len(format)+len(key)+10),
		"other key":  encode(strings.Replace(key, "kernel ", "kernel x", 1), sample),
		"no ranges":  encode(key, nil),
		"bad range":  resum(strings.Replace(string(good[:len(good)-len("sum ")-65]), "range 5", "range z", 1)),
		"end<=start": encode(key, []bpf.Range{{Start: 2, End: 1}}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(path(dir, key), data, 0o644)
			if got, ok := Load(dir, key); ok {
				t.Errorf("Load accepted it: %v", got)
			}
			probes := 0
			t.Setenv("XDG_CACHE_HOME", dir)
			t.Setenv(EnvVar, "")
			os.MkdirAll(filepath.Join(dir, "vsysbed"), 0o755)
			mkey := runKey(t)
			os.WriteFile(path(filepath.Join(dir, "vsysbed"), mkey), data, 0o644)
			got, cached, err := Ranges("/proc/self/exe", 0x0040008, func() ([]bpf.Range, error) { probes++; return sample, nil })
			if err != nil || cached || probes != 1 || !reflect.DeepEqual(got, sample) {
				t.Errorf("Ranges = %v, cached %v, %v after %d probes", got, cached, err, probes)
			}
		})
	}
}

// runKey is the key Ranges computes in this process.
func runKey(t *testing.T) string {
	maps, err := procmaps.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	k, err := Key("/proc/self/exe", maps, 0x0040008)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

// resum gives body a valid checksum line (so only the body's own checks
// can reject it).
func resum(body string) []byte {
	return []byte(body + "sum " + cachedir.Sum([]byte(body)) + "\n")
}

func TestRangesProbesOnceThenHits(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(EnvVar, "")
	probes := 0
	probe := func() ([]bpf.Range, error) { probes++; return sample, nil }
	for i, wantCached := range []bool{false, true, true} {
		got, cached, err := Ranges("/proc/self/exe", 0x0040008, probe)
		if err != nil || cached != wantCached || !reflect.DeepEqual(got, sample) {
			t.Fatalf("run %d: Ranges = %v, cached %v, %v", i, got, cached, err)
		}
	}
	if probes != 1 {
		t.Errorf("%d probes, want 1", probes)
	}
	// The bypass: every call probes.
	t.Setenv(EnvVar, "off")
	if _, cached, _ := Ranges("/proc/self/exe", 0x0040008, probe); cached || probes != 2 {
		t.Errorf("with %s=off: cached %v after %d probes", EnvVar, cached, probes)
	}
}

func TestUnwritableOrMissingDirJustProbes(t *testing.T) {
	ro := t.TempDir()
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o755)
	// A regular file where the directory should be: unwritable for root too.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	probe := func() ([]bpf.Range, error) { return sample, nil }
	for name, env := range map[string][2]string{
		"read-only":       {ro, ""},
		"not a directory": {file, ""},
		"HOME not a dir":  {"", file},
		"no HOME":         {"", ""},
		"relative XDG":    {"relative/dir", ""},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "read-only" && os.Geteuid() == 0 {
				t.Skip("root writes to read-only directories")
			}
			t.Setenv("XDG_CACHE_HOME", env[0])
			t.Setenv("HOME", env[1])
			t.Setenv(EnvVar, "")
			for i := 0; i < 2; i++ {
				got, cached, err := Ranges("/proc/self/exe", 0x0040008, probe)
				if err != nil || cached || !reflect.DeepEqual(got, sample) {
					t.Fatalf("Ranges = %v, cached %v, %v", got, cached, err)
				}
			}
		})
	}
	// The probe's own failure is the caller's error.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	boom := errors.New("boom")
	if _, _, err := Ranges("/proc/self/exe", 0x0040008, func() ([]bpf.Range, error) { return nil, boom }); err != boom {
		t.Errorf("err = %v, want %v", err, boom)
	}
}
