package procmaps

import (
	"bufio"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "55d0c0000000-55d0c0001000 r--p 00000000 08:01 42 /usr/bin/prog\n" +
		"55d0c0001000-55d0c0005000 r-xp 00001000 08:01 42 /usr/bin/prog\n" +
		"7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]\n" +
		"7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n" +
		"7f0000100000-7f0000101000 r-xp 00002000 08:01 43 /tmp/a b (deleted)\n"
	maps, err := Parse(bufio.NewScanner(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 5 {
		t.Fatalf("%d mappings, want 5", len(maps))
	}
	if m := maps[1]; !m.Exec || m.Start != 0x55d0c0001000 || m.Offset != 0x1000 || m.Path != "/usr/bin/prog" {
		t.Errorf("text mapping parsed as %+v", m)
	}
	if maps[0].Exec || maps[2].Path != "[vdso]" || maps[3].Path != "" || maps[4].Path != "/tmp/a b (deleted)" {
		t.Errorf("mappings parsed as %+v", maps)
	}
	evs := Events(maps)
	if len(evs) != 3 || evs[0].Path != "/usr/bin/prog" || evs[0].Offset != 0x1000 || evs[1].Path != "[vdso]" {
		t.Errorf("map events %+v, want the three named executable mappings", evs)
	}
	for _, bad := range []string{"zzzz-1000 r-xp 0 0 0\n", "1000-2000 r-xp\n", "2000-1000 r-xp 0 08:01 1 /x\n"} {
		if _, err := Parse(bufio.NewScanner(strings.NewReader(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
