package explore

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sample() *Result {
	return &Result{Command: []string{"prog"}, Runs: 1, Experiments: 6, Required: []string{"openat"}, Syscalls: []Verdict{
		{Nr: 28, Name: "madvise", Calls: 1, Stubbed: true, Faked: true},
		{Nr: 39, Name: "getpid", Calls: 1, Faked: true},
		{Nr: 257, Name: "openat", Calls: 3, Required: true},
	}}
}

func TestCSVIsLoupes(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteCSV(&b, 260); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for i, want := range map[int]string{
		0: "# syscall, used, works faked, works stubbed, works both",
		1: "0,N,N,N,N", 1 + 28: "28,Y,N,N,Y", 1 + 39: "39,Y,Y,N,N", 1 + 257: "257,Y,N,N,N", 1 + 260: "260,N,N,N,N",
	} {
		if lines[i] != want {
			t.Errorf("line %d: %q, want %q", i, lines[i], want)
		}
	}
	if len(lines) != 1+261+1 {
		t.Errorf("%d lines", len(lines))
	}
}

func TestTableAndPage(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"syscall     calls  stubbed   faked     both      required\n",
		"getpid          1  no        yes       no        no\n",
		"openat          3  no        no        no        yes\n",
		"required: 1 of 3 used syscalls: openat\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if m := sample().MissingIn(Personality{Name: "x", Has: func(string) bool { return false }}); len(m) != 1 || m[0] != "openat" {
		t.Errorf("missing in an empty personality: %v", m)
	}
	b.Reset()
	none := Personality{Name: "tiny", Has: func(n string) bool { return n == "getpid" }}
	if err := sample().WriteHTML(&b, []Personality{none}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "0/1 implemented", "1/3 implemented", "<th>in tiny</th>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestInjection(t *testing.T) {
	if injection("read", Stub) != "read:error=ENOSYS" || injection("read", Fake) != "read:retval=0" {
		t.Error(injection("read", Stub), injection("read", Fake))
	}
}

func TestProgressBarRedrawsOneLine(t *testing.T) {
	var b strings.Builder
	o := &Options{Progress: &b, ProgressBar: true, Runs: 1}
	o.progress(1, 3, "getpid", Stub, 1, time.Second, time.Second)
	o.progress(2, 3, "openat", Stub, 0, time.Second, 2*time.Second)
	o.progress(3, 3, "openat", Fake, 1, time.Second, 3*time.Second)
	got := b.String()
	if strings.Count(got, "\n") != 2 { // the failing experiment's line, and the end
		t.Errorf("lines: %q", got)
	}
	for _, want := range []string{"\r\x1b[K[########................] [1/3] getpid stubbed: works", "\r\x1b[K[2/3] openat stubbed: fails (1.00s), ETA 1s\n", "[########################] [3/3] openat faked: works (1.00s), ETA 0s\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
	b.Reset()
	o.ProgressBar = false
	o.progress(1, 2, "getpid", Fake, 1, time.Second, time.Second)
	if got := b.String(); got != "[1/2] getpid faked: works (1.00s), ETA 1s\n" {
		t.Errorf("plain line: %q", got)
	}
}
