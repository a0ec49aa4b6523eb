package kernelsim

import (
	"strings"
	"testing"
)

// Lines as Linux 6.x prints them (/proc/self/maps of cat).
const hostMaps = `397594000000-397595800000 ---p 00000000 00:00 0 
53ffbf540000-53ffbf562000 rw-p 00000000 00:00 0 
53ffbf562000-53ffbf5b9000 r--p 00000000 fe:00 316526                     /usr/lib/locale/C.utf8/LC_CTYPE
53ffbf7bb000-53ffbf7bc000 ---p 00000000 00:00 0 
53ffbf7bc000-53ffbffbc000 rw-p 00000000 00:00 0 
53ffbfff1000-53ffbfff3000 r--p 00000000 fe:00 247026                     /usr/bin/cat
53ffbfffd000-53ffc001e000 rw-p 00000000 00:00 0 
53ffc001e000-53ffffffd000 ---p 00000000 00:00 0 
53ffffffd000-53ffffffe000 r--p 00000000 00:00 0 
53ffffffe000-53fffffff000 r-xp 00000000 00:00 0 
5597407c5000-5597408bb000 r--p 00000000 fe:00 10019159                   /work/build/vsysbed
559741025000-559743067000 rw-p 00000000 00:00 0 
55974a7ab000-55974a7cc000 rw-p 00000000 00:00 0                          [heap]
7ffb582c8000-7ffb582eb000 rw-s 00000000 fe:00 10004401                   /tmp/vsysbed-run-1/shard-18245.cb
7fff69b52000-7fff69b73000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`

func catView() *mapsView {
	return &mapsView{
		guest:      [][2]uint64{{0x53ffbf540000, 0x53ffbf5b9000}, {0x53ffbf7bb000, 0x53ffbffbc000}, {0x53ffbfff1000, 0x53fffffff000}},
		vdso:       [2]uint64{0x53ffffffd000, 0x53fffffff000},
		stack:      [2]uint64{0x53ffbf7bc000, 0x53ffbffbc000},
		stackGuard: [2]uint64{0x53ffbf7bb000, 0x53ffbf7bc000},
		heap:       [2]uint64{0x53ffbfffd000, 0x53ffc001e000},
		reserved:   [2]uint64{0x53ffc001e000, 0x53ffffffd000},
	}
}

func TestMapsLineFormatIsTheKernels(t *testing.T) {
	for _, line := range strings.Split(strings.TrimSuffix(hostMaps, "\n"), "\n") {
		l, ok := parseMapsLine(line)
		if !ok {
			t.Fatalf("parseMapsLine(%q) failed", line)
		}
		if got := l.String(); got != line {
			t.Errorf("format:\n got %q\nwant %q", got, line)
		}
	}
	l, ok := parseMapsLine("00400000-00401000 r-xp 00000000 08:01 12 /tmp/a name with  spaces")
	if !ok || l.name != "/tmp/a name with  spaces" || l.start != 0x400000 {
		t.Errorf("a name with spaces: %+v %v", l, ok)
	}
	for _, bad := range []string{"", "x-y r--p 0 0:0 0", "1000-2000 r--p 0 00:00", "1000-2000 rw 0 00:00 0"} {
		if _, ok := parseMapsLine(bad); ok {
			t.Errorf("parseMapsLine(%q) accepted", bad)
		}
	}
}

func TestFilterMapsKeepsTheGuestsLines(t *testing.T) {
	got := string(catView().filterMaps([]byte(hostMaps)))
	want := `53ffbf540000-53ffbf562000 rw-p 00000000 00:00 0 
53ffbf562000-53ffbf5b9000 r--p 00000000 fe:00 316526                     /usr/lib/locale/C.utf8/LC_CTYPE
53ffbf7bc000-53ffbffbc000 rw-p 00000000 00:00 0                          [stack]
53ffbfff1000-53ffbfff3000 r--p 00000000 fe:00 247026                     /usr/bin/cat
53ffbfffd000-53ffc001e000 rw-p 00000000 00:00 0                          [heap]
53ffffffd000-53ffffffe000 r--p 00000000 00:00 0                          [vdso]
53ffffffe000-53fffffff000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	if got != want {
		t.Errorf("filterMaps:\n%s\nwant:\n%s", got, want)
	}
}

// A kernel VMA may run past a guest range (anonymous memory merged with
// the host's next to it): only the guest's part is shown, a file mapping's
// offset moved with its start.
func TestFilterMapsClipsAMergedLine(t *testing.T) {
	v := &mapsView{guest: [][2]uint64{{0x11000, 0x13000}}}
	got := string(v.filterMaps([]byte("00010000-00014000 r--p 00001000 fe:00 5                          /lib/x.so\n" +
		"00010000-00014000 rw-p 00000000 00:00 0 \n")))
	want := "00011000-00013000 r--p 00002000 fe:00 5                                  /lib/x.so\n" +
		"00011000-00013000 rw-p 00000000 00:00 0 \n"
	if got != want {
		t.Errorf("clipped:\n%q\nwant\n%q", got, want)
	}
}

func TestFilterSmapsKeepsEntries(t *testing.T) {
	host := "5597407c5000-5597408bb000 r--p 00000000 fe:00 10019159                   /work/build/vsysbed\nSize:                984 kB\nVmFlags: rd mr mw me \n" +
		"53ffbfff1000-53ffbfff3000 r--p 00000000 fe:00 247026                     /usr/bin/cat\nSize:                  8 kB\nVmFlags: rd mr mw me \n"
	got := string(catView().filterSmaps([]byte(host)))
	want := "53ffbfff1000-53ffbfff3000 r--p 00000000 fe:00 247026                     /usr/bin/cat\nSize:                  8 kB\nVmFlags: rd mr mw me \n"
	if got != want {
		t.Errorf("filterSmaps:\n%q\nwant\n%q", got, want)
	}
	numa := "5597407c5000 default file=/work/build/vsysbed mapped=246\n53ffbfff1000 default file=/usr/bin/cat mapped=2\n"
	if got := string(catView().filterNumaMaps([]byte(numa))); got != "53ffbfff1000 default file=/usr/bin/cat mapped=2\n" {
		t.Errorf("filterNumaMaps: %q", got)
	}
}

func TestParseProcEntry(t *testing.T) {
	for name, want := range map[string]*procEntry{
		"/proc/12/mem":         {12, 0, "mem"},
		"/proc/12/task/13/mem": {12, 13, "mem"},
		"/proc/12/maps":        {12, 0, "maps"},
		"/proc/12/fd/3":        nil,
		"/proc/self/mem":       nil, // not a kernel name: the kernel says /proc/PID
		"/proc/12/task/x/mem":  nil,
		"/proc/12/task/13":     nil,
		"/proc/12":             nil,
		"/tmp/12/mem":          nil,
	} {
		got, ok := parseProcEntry(name)
		if want == nil {
			if ok {
				t.Errorf("parseProcEntry(%q) = %+v, want none", name, got)
			}
			continue
		}
		if !ok || got != *want {
			t.Errorf("parseProcEntry(%q) = %+v %v, want %+v", name, got, ok, *want)
		}
	}
}

// The loader puts the break right after a guest's bss: the kernel merges
// both into one VMA, which maps shows as two lines, the second [heap].
func TestFilterMapsSplitsBssFromHeap(t *testing.T) {
	v := &mapsView{guest: [][2]uint64{{0x10000, 0x20000}}, heap: [2]uint64{0x14000, 0x16000}, reserved: [2]uint64{0x16000, 0x20000}}
	got := string(v.filterMaps([]byte("00010000-00016000 rw-p 00000000 00:00 0 \n00016000-00020000 ---p 00000000 00:00 0 \n")))
	want := "00010000-00014000 rw-p 00000000 00:00 0 \n00014000-00016000 rw-p 00000000 00:00 0                                  [heap]\n"
	if got != want {
		t.Errorf("split:\n%q\nwant\n%q", got, want)
	}
}

func TestSmapsRollupFormat(t *testing.T) {
	smaps := "00010000-00012000 r--p 00000000 fe:00 5                                  /lib/x.so\nRss:                   8 kB\nPss:                   4 kB\nAnonymous:             0 kB\nVmFlags: rd mr\n" +
		"00020000-00021000 rw-p 00000000 00:00 0 \nRss:                   4 kB\nPss:                   4 kB\nAnonymous:             4 kB\n"
	got := string(smapsRollup([]byte(smaps)))
	for _, want := range []string{
		"00010000-00021000 ---p 00000000 00:00 0                                  [rollup]\n",
		"Rss:                  12 kB\n", "Pss:                   8 kB\n", "Pss_Anon:              4 kB\n",
		"Pss_File:              4 kB\n", "Pss_Shmem:             0 kB\n", "Locked:                0 kB\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("smaps_rollup lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 1+len(rollupFields) {
		t.Errorf("%d lines, want %d", n, 1+len(rollupFields))
	}
}

// Another host process's guest ranges are its own: its maps keep what lies
// where guests live, never its host binary, heap or shard files.
func TestOtherHostProcessView(t *testing.T) {
	v := &mapsView{guest: [][2]uint64{{0, goArenaStart}, {0x4000_0000_0000, 0x5400_0000_0000}}}
	got := string(v.filterMaps([]byte(hostMaps)))
	for _, gone := range []string{"vsysbed", "shard-", "[heap]", "[stack]", "7fff69b52000"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q left in:\n%s", gone, got)
		}
	}
	if !strings.Contains(got, "/usr/bin/cat\n") || !strings.Contains(got, "[vsyscall]\n") {
		t.Errorf("the guest's lines are gone:\n%s", got)
	}
}
