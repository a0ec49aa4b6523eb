package coverage

import (
	"bytes"
	"strings"
	"testing"
)

// The diff's and the check's site columns are as wide as their widest
// cell in runes, like every width of the text output: a non-ASCII object
// or function name must not widen its column by its extra bytes.
func TestSiteListColumnsAreRunesWide(t *testing.T) {
	r := goldenReport("prog", []Site{
		{Object: "/opt/ünï.so", Offset: 0x10, Function: "fünc", Nr: 1, Syscall: "write", Kind: KindTrap, Count: 2},
		{Object: "/a.so", Offset: 0x20, Nr: 1, Syscall: "write", Kind: KindTrap, Count: 1},
	})
	var b bytes.Buffer
	if err := Check(r, Gates{MaxTrapSites: count(0)}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n  /opt/ünï.so  fünc        0x10  write  2\n",
		"\n  /a.so        ?           0x20  write  1\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("check text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSiteTable(t *testing.T) {
	sites := []Site{
		{Object: "/usr/lib/libverylong.so", Offset: 0x10, Symbol: "a", Syscall: "read", Count: 12345},
		{Object: "/x.so", Offset: 0x123456789abc, Syscall: "write", Count: 7},
	}
	tbl := SiteTable{Indent: "> ", Columns: []SiteColumn{
		{Cell: func(s *Site) string { return s.Object }, MaxWidth: 10, ClipLeft: true},
		{Cell: (*Site).Where, Width: 3},
		{Cell: func(s *Site) string { return s.Offset.String() }, Width: 8, Right: true},
		{Cell: func(s *Site) string { return s.Syscall }},
	}}
	got := strings.Join(tbl.Lines(sites), "\n")
	want := "> …rylong.so  a        0x10  read\n" +
		"> /x.so       ?    0x123456789abc  write"
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
	if got := MoreSites(sites); got != "… 2 more (12352 calls)" {
		t.Errorf("MoreSites = %q", got)
	}
}
