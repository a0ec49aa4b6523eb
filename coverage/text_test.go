package coverage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONRoundTrip(t *testing.T) {
	r := twoThreadRun(HostStatus{})
	r.Exit.FaultAddr = 0xffffffffffffffff // above 2^53: must not pass through a double

	path := filepath.Join(t.TempDir(), "report.json")
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) || !bytes.Contains(buf.Bytes(), []byte("\n  \"schema\"")) {
		t.Errorf("not indented with a trailing newline:\n%s", buf.Bytes())
	}
	for _, field := range []string{`"object"`, `"offset"`, `"incomplete_reason": ""`, `"signal": ""`, `"errors"`} {
		if !bytes.Contains(buf.Bytes(), []byte(field)) {
			t.Errorf("JSON lacks %s", field)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", back, r)
	}

	// Empty lists stay lists (not null) and survive the trip too.
	empty := Build(Input{})
	buf.Reset()
	empty.WriteJSON(&buf)
	if bytes.Contains(buf.Bytes(), []byte("null")) {
		t.Errorf("empty report has nulls:\n%s", buf.Bytes())
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	if back, err := Load(path); err != nil || !reflect.DeepEqual(back, empty) {
		t.Errorf("empty round trip: %+v, %v", back, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(`{"schema":"vsysbed.report/v2"}`), 0o644)
	var se *SchemaError
	if _, err := Load(other); !errors.As(err, &se) || se.Schema != "vsysbed.report/v2" {
		t.Errorf("other schema: %v", err)
	}
	broken := filepath.Join(dir, "broken.json")
	os.WriteFile(broken, []byte(`{"schema":`), 0o644)
	if _, err := Load(broken); err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	render := func() (string, string) {
		r := twoThreadRun(HostStatus{})
		var j, txt bytes.Buffer
		if err := r.WriteJSON(&j); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteText(&txt); err != nil {
			t.Fatal(err)
		}
		return j.String(), txt.String()
	}
	j1, t1 := render()
	for range 5 { // map iteration order differs between builds
		j2, t2 := render()
		if j1 != j2 || t1 != t2 {
			t.Fatal("two builds of the same run directory differ")
		}
	}
}

func checkWidth(t *testing.T, text string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > TextWidth {
			t.Errorf("line %d is %d columns: %q", i+1, n, l)
		}
	}
	return lines
}

func TestWriteText(t *testing.T) {
	r := twoThreadRun(HostStatus{})
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	lines := checkWidth(t, text)
	if lines[0] != "vsysbed: prog -v" || lines[1] != "exit code 0, trap mode seccomp, 2 thread(s)" {
		t.Errorf("header:\n%s\n%s", lines[0], lines[1])
	}
	var rows []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 6 && (strings.HasSuffix(f[5], "%") || f[5] == "-" || f[5] == "%bypass") {
			rows = append(rows, strings.Join(f, " "))
		}
	}
	want := []string{
		"syscall bypass trap vdso total %bypass",
		"clock_gettime 0 0 50 50 -", // answered in the vDSO: no share
		"write 15 4 0 19 78.94%",
		"getpid 0 2 0 2 0%",
		"syscall_511 0 2 0 2 0%",
		"read 0 1 0 1 0%",
		"exit_group 1 0 0 1 100%",
		"total 16 9 50 75 64%", // 16 of the 25 calls that entered the kernel
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("table rows:\n%s\nwant:\n%s\nfull text:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"), text)
	}
	for _, s := range []string{
		"trapped sites (5 sites, 9 calls)",
		"\n  " + libc + " (6 calls)\n    0x2234 ",
		"\n  /work/prog (2 calls)\n    0x10 ",
		"\n  [unknown] (1 calls)\n    0x1000 ",
		"errors:\n  not supported yet: clone\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "0x40 ") {
		t.Errorf("vdso site listed among trapped sites:\n%s", text)
	}
}

func TestWriteTextClipsAndLimits(t *testing.T) {
	long := "/" + strings.Repeat("very-long-directory-name/", 8) + "libfoo.so.1"
	r := &Report{
		Schema:           Schema,
		Command:          []string{"prog", strings.Repeat("argument ", 30)},
		Exit:             ExitStatus{Signal: "SIGKILL"},
		IncompleteReason: "host process killed by SIGKILL before the guest exited",
		Totals:           Totals{Trap: ^uint64(0) / 2, Total: ^uint64(0) / 2},
		Syscalls:         []SyscallRow{{Nr: 1, Name: strings.Repeat("n", 60), Trap: ^uint64(0) / 2, Total: ^uint64(0) / 2}},
		Errors:           []string{strings.Repeat("e", 300), "two\nlines"},
	}
	for i := range 25 {
		r.Sites = append(r.Sites, Site{Object: long, Offset: Hex(0x1000 + i), Symbol: strings.Repeat("s", 80),
			Syscall: strings.Repeat("x", 40), Kind: "trap", Count: uint64(100 - i)})
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	checkWidth(t, text)
	if !strings.Contains(text, "\n  …") || !strings.Contains(text, "libfoo.so.1 (2200 calls)\n") {
		t.Errorf("long object path not clipped from the left:\n%s", text)
	}
	if !strings.Contains(text, "  … 5 more (") {
		t.Errorf("no '… 5 more' line:\n%s", text)
	}
	if !strings.Contains(text, "\n  two lines\n") {
		t.Errorf("multi-line error not kept on one line:\n%s", text)
	}
	if !strings.Contains(text, "INCOMPLETE: host process killed by SIGKILL") {
		t.Errorf("incomplete reason missing:\n%s", text)
	}
	if n := strings.Count(text, "\n    0x"); n != TextTopSites {
		t.Errorf("%d site lines, want %d", n, TextTopSites)
	}
}

// TestSymbolsFromELF builds a small shared object with gcc, once with its
// symbol table and once stripped (dynamic symbols only, like Debian's libc),
// and resolves a site inside one of its functions.

func TestWriteTextMergesSitesAcrossProcesses(t *testing.T) {
	r := &Report{Command: []string{"sh"}, TrapMode: "seccomp",
		Sites: []Site{
			{Address: 0x7f0000001234, Object: "/lib/libc.so.6", Offset: 0x1234, Symbol: "read+0xb", Nr: 0, Syscall: "read", Kind: "trap", Count: 5},
			{Address: 0x7f1000001234, Object: "/lib/libc.so.6", Offset: 0x1234, Symbol: "read+0xb", Nr: 0, Syscall: "read", Kind: "trap", Count: 4},
			{Address: 0x7f0000002000, Object: "/lib/libc.so.6", Offset: 0x2000, Nr: 1, Syscall: "write", Kind: "trap", Count: 7},
			{Address: 0x1000, Object: UnknownObject, Offset: 0x1000, Nr: 1, Syscall: "write", Kind: "trap", Count: 1},
			{Address: 0x2000, Object: UnknownObject, Offset: 0x1000, Nr: 1, Syscall: "write", Kind: "trap", Count: 1},
		}}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, s := range []string{
		"trapped sites (4 sites, 18 calls)",
		"    0x1234 <read+0xb>  read   9\n    0x2000             write  7\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	if strings.Count(text, "read+0xb") != 1 {
		t.Errorf("the read site is listed more than once:\n%s", text)
	}
}

// The processes of a tree share the guest address window: one address
// holds /bin/sh in the parent and /bin/cat in the child it forked and
// exec'd, while the child still reaches the libc it inherited.
