package bpf

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

const sampleMaps = `555555554000-555555556000 r--p 00000000 08:01 1234   /usr/bin/host
555555556000-55555555a000 r-xp 00002000 08:01 1234   /usr/bin/host
555555560000-555555581000 rw-p 00000000 00:00 0      [heap]
7ffff7dd0000-7ffff7f45000 r-xp 00026000 08:01 99     /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7fc3000-7ffff7fc5000 r-xp 00000000 00:00 0      [vdso]
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0      [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
`

func TestParseExecutableMappings(t *testing.T) {
	got, err := parseExecutableMappings(strings.NewReader(sampleMaps))
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{
		{0x555555556000, 0x55555555a000},
		{0x7ffff7dd0000, 0x7ffff7f45000},
		{0x7ffff7fc3000, 0x7ffff7fc5000},
		{0xffffffffff600000, 0xffffffffff601000},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %#x\nwant %#x", got, want)
	}
}

func TestParseExecutableMappingsErrors(t *testing.T) {
	for _, in := range []string{
		"zzzz-1000 r-xp 0 0:0 0\n",
		"2000-1000 r-xp 0 0:0 0\n",
		"1000 r-xp 0 0:0 0\n",
		"1000-2000 rx 0 0:0 0\n",
		"1000-2000 r-xp\n",
	} {
		if _, err := parseExecutableMappings(strings.NewReader(in)); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func TestHostCodeRangesCoverThisFunction(t *testing.T) {
	ranges, err := HostCodeRanges()
	if err != nil {
		t.Fatal(err)
	}
	pc := funcPC()
	for _, r := range ranges {
		if pc >= r.Start && pc < r.End {
			return
		}
	}
	t.Fatalf("pc %#x of running code not in host code ranges %#x", pc, ranges)
}

func funcPC() uint64 {
	pc, _, _, _ := runtime.Caller(0)
	return uint64(pc)
}
