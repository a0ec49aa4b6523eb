package coverage

import (
	"bytes"
	"strings"
	"testing"
)

// diffPair is a base run and a new run of the same program under
// different ASLR bases: write keeps its trap site at 0x100 and gains
// bypassed calls, the read site at 0x300 is gone, and getpid starts
// trapping at a new site.
func diffPair(t *testing.T) (base, new *Report) {
	base = aslrRun(t, []string{"prog"}, 0x7f0000000000, 0,
		call{libx, 0x100, 1, KindTrap, 4},
		call{libx, 0x200, 1, KindBypass, 4},
		call{libx, 0x300, 0, KindTrap, 2},
		call{libx, 0x400, 228, KindVDSO, 9})
	new = aslrRun(t, []string{"prog"}, 0x7f3300000000, 0,
		call{libx, 0x100, 1, KindTrap, 4},
		call{libx, 0x200, 1, KindBypass, 12},
		call{libx, 0x300, 0, KindBypass, 2},
		call{"/prog", 0x50, 39, KindTrap, 7},
		call{libx, 0x400, 228, KindVDSO, 30})
	return base, new
}

func TestCompare(t *testing.T) {
	base, new := diffPair(t)
	d := Compare(base, new)

	if len(d.NewTrapSites) != 1 || d.NewTrapSites[0].Key() != (SiteKey{"/prog", 0x50, 39, "trap"}) || d.NewTrapSites[0].Count != 7 {
		t.Errorf("new trap sites = %+v", d.NewTrapSites)
	}
	if len(d.GoneTrapSites) != 1 || d.GoneTrapSites[0].Key() != (SiteKey{libx, 0x300, 0, "trap"}) || d.GoneTrapSites[0].Count != 2 {
		t.Errorf("gone trap sites = %+v", d.GoneTrapSites)
	}
	if len(d.NewTrapSyscalls) != 1 || d.NewTrapSyscalls[0].Name != "getpid" || d.NewTrapSyscalls[0].New.Trap != 7 {
		t.Errorf("new trap syscalls = %+v", d.NewTrapSyscalls)
	}
	if len(d.GoneTrapSyscalls) != 1 || d.GoneTrapSyscalls[0].Name != "read" || d.GoneTrapSyscalls[0].Base.Trap != 2 {
		t.Errorf("gone trap syscalls = %+v", d.GoneTrapSyscalls)
	}
	// clock_gettime's vDSO count changed, but neither bypass nor trap.
	var names []string
	for _, c := range d.Syscalls {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "read,write,getpid" {
		t.Errorf("changed syscalls = %s, want read,write,getpid", got)
	}

	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	checkWidth(t, text)
	for _, want := range []string{
		"base prog: 19 calls, 6 trapped, 40% bypassed, 2 trap sites\n",
		"new  prog: 55 calls, 11 trapped, 56% bypassed, 2 trap sites\n",
		"newly trapping syscalls (1):\n  getpid                 7 trapped of 7\n",
		"syscalls no longer trapping (1):\n  read                   2 trapped of 2\n",
		"newly trapping sites (1 sites, 7 calls):\n  /prog  ?        0x50  getpid  7\n",
		"sites no longer trapping (1 sites, 2 calls):\n  /lib/x.so  ?       0x300  read  2\n",
		"  syscall      base       new    change   base byp/trap    new byp/trap\n",
		"  read           0%      100%  100.00pp             0/2             2/0\n",
		"  write         50%       75%   25.00pp             4/4            12/4\n",
		"  getpid          -        0%       new             0/0             0/7\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diff text lacks %q:\n%s", want, text)
		}
	}
}

func TestCompareSameSitesUnderASLRIsEmpty(t *testing.T) {
	base, _ := diffPair(t)
	again, _ := diffPair(t)
	for i := range again.Sites {
		again.Sites[i].Address += 0x1000 // relocated: identity is object+offset
	}
	d := Compare(base, again)
	if !d.Empty() {
		t.Fatalf("diff of a run with itself: %+v", d)
	}
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "\nno change in trapped sites or bypass/trap counts\n") {
		t.Errorf("text:\n%s", b.String())
	}
}

func TestBypassRatio(t *testing.T) {
	for _, c := range []struct {
		b, t uint64
		want float64
		ok   bool
	}{{0, 0, 0, false}, {1, 0, 1, true}, {0, 5, 0, true}, {3, 1, 0.75, true}, {2, 1, 0.6666, true}} {
		if got, ok := BypassRatio(c.b, c.t); got != c.want || ok != c.ok {
			t.Errorf("BypassRatio(%d, %d) = %v, %v; want %v, %v", c.b, c.t, got, ok, c.want, c.ok)
		}
	}
}
