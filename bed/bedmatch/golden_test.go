package bedmatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/onsi/gomega/types"

	"github.com/vsysbed/vsysbed/bed/bedmatch"
	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/golden"
)

// goldenReport has more than 20 trap sites in the order a built report
// keeps them (most frequent first, then object and offset), with long and
// non-ASCII objects, functions with source lines, unknown code, bypass
// and vDSO sites between them, and trapped calls no site accounts for.
func goldenReport() *coverage.Report {
	long := "/" + strings.Repeat("very-long-directory-name/", 5) + "libfoo.so.1"
	sites := []coverage.Site{
		site(libc, 0x2234, "clone+0x14", "clone", 56, "trap", 900),
		site("/work/prog", 0x1000, "main+0x10", "write", 1, "bypass", 800),
		site("[vdso]", 0x900, "__vdso_clock_gettime", "clock_gettime", 228, "vdso", 500),
		site(libc, 0x4444, "", "write", 1, "trap", 70),
		site("/opt/ünïcødé/libü.so", 0x20, "fünc+0x1", "getpid", 39, "trap", 64),
		site(long, 0x10, strings.Repeat("s", 60), "read", 0, "trap", 64),
		site("[unknown]", 0x7f001000, "", "getpid", 39, "trap", 12),
		site("/work/prog", 0x123456789abc, "", "syscall_with_a_very_long_name_indeed_511", 511, "trap", 9),
	}
	sites[3].Function, sites[3].File, sites[3].Line = "__write", "write.c", 26
	for i := range 20 {
		sites = append(sites, site("/lib/libextra.so", coverage.Hex(0x100+i*0x10), fmt.Sprintf("fn%02d+0x4", i), "read", 0, "trap", uint64(8-i/7)))
	}
	r := report(sites...)
	// Calls whose sites did not fit in the site table.
	r.Syscalls = append(r.Syscalls, coverage.SyscallRow{Nr: 3, Name: "close", Trap: 5, Total: 5})
	r.Totals.Trap += 5
	r.Totals.Total += 5
	r.SitesDropped = 5
	return r
}

func TestGoldenMessages(t *testing.T) {
	r := goldenReport()
	base := report(site(libc, 0x2234, "clone+0x14", "clone", 56, "trap", 1))
	var out strings.Builder
	for _, c := range []struct {
		name string
		m    types.GomegaMatcher
	}{
		{"BeFullyBypassed", bedmatch.BeFullyBypassed()},
		{"HaveBypassRatioAtLeast(0.95)", bedmatch.HaveBypassRatioAtLeast(0.95)},
		{"HaveTrapped(read)", bedmatch.HaveTrapped("read")},
		{"HaveTrapped(write)", bedmatch.HaveTrapped("write")},
		{"HaveNoNewTrapsComparedTo", bedmatch.HaveNoNewTrapsComparedTo(base)},
	} {
		fmt.Fprintf(&out, "== %s: FailureMessage\n%s\n== %s: NegatedFailureMessage\n%s\n",
			c.name, c.m.FailureMessage(r), c.name, c.m.NegatedFailureMessage(r))
	}
	golden.Check(t, "messages.txt", out.String())
}
