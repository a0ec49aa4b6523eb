package coverage

import (
	"math/bits"
	"strconv"
	"strings"
)

// The bypass share is the report's one definition of "% bypassed", used by
// every output and gate (text, HTML, `report check`, `report diff`, bed's
// matchers): of the calls that entered vsysbed's kernel, the share that came
// through __kernel_vsyscall,
//
//	bypass share = bypass / (bypass + trap + patched + int80)
//
// in whole hundredths of a percent, rounded down. vDSO calls are left out:
// they never enter the kernel, by either path. Patched calls are raw
// syscall instructions vsysbed rewrote after trapping there (--rewrite=lazy),
// not calls the program made through __kernel_vsyscall: they count against
// the share, which is thus the same with and without rewriting. Rounding
// down in integers means a report just under a gate's threshold neither
// prints as meeting it nor passes through a float rounding up.

// Entered is how many of the calls entered vsysbed's kernel: every call but
// those the vDSO answered.
func (t Totals) Entered() uint64 { return t.Bypass + t.Trap + t.Patched + t.Int80 }

// Entered is how many of the row's calls entered vsysbed's kernel.
func (row SyscallRow) Entered() uint64 {
	return row.Bypass + row.Trap + row.Patched + row.Int80
}

// BypassShare returns the bypass share of bypass calls among entered, in
// hundredths of a percent (0..10000); ok is false when entered is 0, where
// the share is undefined.
func BypassShare(bypass, entered uint64) (hundredths uint64, ok bool) {
	if entered == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(min(bypass, entered), 10000)
	hundredths, _ = bits.Div64(hi, lo, entered)
	return hundredths, true
}

// BypassPercent is the report's bypass share in percent (two decimals at
// most); ok is false when no call entered the kernel.
func (t Totals) BypassPercent() (float64, bool) {
	h, ok := BypassShare(t.Bypass, t.Entered())
	return float64(h) / 100, ok
}

// FormatBypassShare writes the bypass share as every output prints it:
// "33.33%", "100%", or "-" when no call entered the kernel.
func FormatBypassShare(bypass, entered uint64) string {
	h, ok := BypassShare(bypass, entered)
	if !ok {
		return "-"
	}
	return formatPercent(float64(h) / 100)
}

// formatPercent writes p with at most two decimals.
func formatPercent(p float64) string {
	s := strconv.FormatFloat(p, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
