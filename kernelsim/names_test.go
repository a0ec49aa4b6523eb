package kernelsim

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"testing"
)

func TestNamesUniqueAndComplete(t *testing.T) {
	seen := map[string]int{}
	for nr := 0; nr <= MaxNr; nr++ {
		name := Name(nr)
		if name == "" {
			t.Errorf("Name(%d) is empty", nr)
			continue
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("Name(%d) = %q, already used by %d", nr, name, prev)
		}
		seen[name] = nr
		if got, ok := Number(name); !ok || got != nr {
			t.Errorf("Number(%q) = %d, %v; want %d, true", name, got, ok, nr)
		}
	}
}

func TestNameSpotChecks(t *testing.T) {
	for _, tc := range []struct {
		nr   int
		name string
	}{
		{0, "read"}, {1, "write"}, {39, "getpid"}, {59, "execve"},
		{158, "arch_prctl"}, {231, "exit_group"}, {334, "rseq"},
		{335, "reserved_335"}, {423, "reserved_423"}, {424, "pidfd_send_signal"},
		{435, "clone3"}, {469, "file_setattr"},
		{-1, "nr_-1"}, {MaxNr + 1, "nr_" + strconv.Itoa(MaxNr+1)}, {999, "nr_999"},
		{0x40000000, "nr_1073741824"},
	} {
		if got := Name(tc.nr); got != tc.name {
			t.Errorf("Name(%d) = %q, want %q", tc.nr, got, tc.name)
		}
	}
	for _, name := range []string{"", "nr_999", "listns", "READ"} {
		if nr, ok := Number(name); ok {
			t.Errorf("Number(%q) = %d, true; want not found", name, nr)
		}
	}
}

// The header is the distribution's uapi snapshot; it may be older than the
// kernel (our list extends it) but must never contradict it.
func TestNamesMatchUapiHeader(t *testing.T) {
	const header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
	f, err := os.Open(header)
	if os.IsNotExist(err) {
		t.Skipf("%s not installed (linux-libc-dev); nothing to compare against", header)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	define := regexp.MustCompile(`^#define __NR_(\w+)\s+(\d+)\s*$`)
	fromHeader := map[int]string{}
	last := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := define.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		nr, _ := strconv.Atoi(m[2])
		fromHeader[nr] = m[1]
		last = max(last, nr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(fromHeader) < 300 {
		t.Fatalf("parsed only %d syscalls from %s", len(fromHeader), header)
	}
	if last > MaxNr {
		t.Errorf("header defines %d (%s), beyond MaxNr %d: regenerate names.go", last, fromHeader[last], MaxNr)
	}
	for nr := 0; nr <= min(last, MaxNr); nr++ {
		want, ok := fromHeader[nr]
		if !ok {
			want = "reserved_" + strconv.Itoa(nr)
		}
		if got := Name(nr); got != want {
			t.Errorf("Name(%d) = %q, header says %q", nr, got, want)
		}
	}
}
