package rundir

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
)

// Every event line written by hand decodes to what encoding/json's
// Marshal of the struct each event was written from before gives (the
// structs are kept here as the reference), strings with quotes, control
// characters, invalid UTF-8 and the rest included, and reads back through
// ReadEvents.
func TestEventLinesAreJSONs(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	l, err := OpenEventLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	odd := "a \"q\" \\ \n\r\t \x00\x01\x1f\x7f <>& é \u2028 \xff\xfe end"
	pid := l.pid
	hex := func(v uint64) coverage.Hex { return coverage.Hex(v) }
	var want []any
	add := func(err error, v any) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	add(l.Exec("/bin/"+odd, []string{"x", odd, ""}, odd), struct {
		Ev     string   `json:"ev"`
		Pid    int      `json:"pid"`
		Path   string   `json:"path"`
		Argv   []string `json:"argv"`
		Interp string   `json:"interp"`
	}{coverage.EvExec, pid, "/bin/" + odd, []string{"x", odd, ""}, odd})
	add(l.Exec("/p", nil, ""), struct {
		Ev     string   `json:"ev"`
		Pid    int      `json:"pid"`
		Path   string   `json:"path"`
		Argv   []string `json:"argv"`
		Interp string   `json:"interp"`
	}{coverage.EvExec, pid, "/p", []string{}, ""})
	add(l.Map(0x7f0000001000, 0xffffffffffffffff, 0, 5, odd), struct {
		Ev     string       `json:"ev"`
		Pid    int          `json:"pid"`
		Start  coverage.Hex `json:"start"`
		End    coverage.Hex `json:"end"`
		Offset coverage.Hex `json:"offset"`
		Path   string       `json:"path"`
		Prot   string       `json:"prot"`
	}{coverage.EvMap, pid, hex(0x7f0000001000), hex(0xffffffffffffffff), hex(0), odd, "r-x"})
	add(l.Unmap(1, 2), struct {
		Ev    string       `json:"ev"`
		Pid   int          `json:"pid"`
		Start coverage.Hex `json:"start"`
		End   coverage.Hex `json:"end"`
	}{coverage.EvUnmap, pid, hex(1), hex(2)})
	add(l.Phase(PhaseGuest, -5, ""), struct {
		Ev    string `json:"ev"`
		Pid   int    `json:"pid"`
		Phase string `json:"phase"`
		T     int64  `json:"t"`
		Note  string `json:"note,omitempty"`
	}{coverage.EvPhase, pid, PhaseGuest, -5, ""})
	add(l.Phase(PhaseProbed, 1<<62, odd), struct {
		Ev    string `json:"ev"`
		Pid   int    `json:"pid"`
		Phase string `json:"phase"`
		T     int64  `json:"t"`
		Note  string `json:"note,omitempty"`
	}{coverage.EvPhase, pid, PhaseProbed, 1 << 62, odd})
	add(l.Fork(-1), struct {
		Ev     string `json:"ev"`
		Pid    int    `json:"pid"`
		Parent int    `json:"parent"`
	}{coverage.EvFork, pid, -1})
	add(l.Reaped(42, 0, syscall.SIGKILL), struct {
		Ev     string `json:"ev"`
		Pid    int    `json:"pid"`
		Child  int    `json:"child"`
		Code   int    `json:"code"`
		Signal string `json:"signal"`
	}{coverage.EvReaped, pid, 42, 0, coverage.SignalName(syscall.SIGKILL)})
	add(l.Rewrite(0x401000, 39, 1<<63, odd), struct {
		Ev      string       `json:"ev"`
		Pid     int          `json:"pid"`
		Address coverage.Hex `json:"address"`
		Nr      int          `json:"nr"`
		Traps   uint64       `json:"traps"`
		Rewrite string       `json:"rewrite"`
	}{coverage.EvRewrite, pid, hex(0x401000), 39, 1 << 63, odd})
	add(l.Error(odd), struct {
		Ev  string `json:"ev"`
		Pid int    `json:"pid"`
		Msg string `json:"msg"`
	}{coverage.EvError, pid, odd})
	add(l.Tampered(coverage.EvInject, 2, 0xabc, 1, odd), struct {
		Ev   string       `json:"ev"`
		Pid  int          `json:"pid"`
		Nr   int          `json:"nr"`
		Site coverage.Hex `json:"site"`
		Kind string       `json:"kind"`
		What string       `json:"what"`
	}{coverage.EvInject, pid, 2, hex(0xabc), kindNames[1], odd})

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for ; sc.Scan(); i++ {
		if i >= len(want) {
			t.Fatalf("more lines than events: %s", sc.Text())
		}
		ref, err := json.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		var got, exp any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, sc.Text())
		}
		json.Unmarshal(ref, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("line %d:\n got %s\nwant %s", i, sc.Text(), ref)
		}
		// The field order is the structs', as before.
		if keys := strings.Count(sc.Text(), `":`); keys != strings.Count(string(ref), `":`) {
			t.Errorf("line %d: %d keys, want %d", i, keys, strings.Count(string(ref), `":`))
		}
	}
	if i != len(want) {
		t.Errorf("%d lines, want %d", i, len(want))
	}
	evs, err := ReadEvents(path)
	if err != nil || len(evs) != len(want) {
		t.Errorf("ReadEvents: %d events, %v; want %d", len(evs), err, len(want))
	}
}
