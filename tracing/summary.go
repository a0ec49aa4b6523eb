package tracing

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// SummaryRow is one syscall's line of -c.
type SummaryRow struct {
	Syscall                     string
	Time                        time.Duration
	Calls, Errors               uint64
	Bypass, Trap, Patched, VDSO uint64
	untimed                     uint64 // vDSO calls counted by the shards: no time measured
}

// ReadRecords reads a JSON Lines file of Records; a partial last line (a
// process killed in its write) is left out.
func ReadRecords(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs, sc.Err()
}

// Summarize sums records per syscall, as strace -c does; vdso adds the
// calls answered in the vDSO (counted by the shards, never seen by the
// kernel's Dispatch) per syscall name, for the traced names only.
func Summarize(recs []Record, vdso map[string]uint64) []SummaryRow {
	by := map[string]*SummaryRow{}
	row := func(name string) *SummaryRow {
		r := by[name]
		if r == nil {
			r = &SummaryRow{Syscall: name}
			by[name] = r
		}
		return r
	}
	for _, rec := range recs {
		r := row(rec.Syscall)
		r.Calls++
		r.Time += time.Duration(rec.DurationNS)
		if rec.Errno != "" {
			r.Errors++
		}
		switch rec.Kind {
		case "bypass":
			r.Bypass++
		case "trap":
			r.Trap++
		case "patched":
			r.Patched++
		case "vdso": // the ptrace platform sees the vDSO's fallback syscalls
			r.VDSO++
		}
	}
	for name, n := range vdso {
		if n > 0 {
			r := row(name)
			r.VDSO += n
			r.Calls += n
			r.untimed += n
		}
	}
	rows := make([]SummaryRow, 0, len(by))
	for _, r := range by {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Time != rows[j].Time {
			return rows[i].Time > rows[j].Time
		}
		if rows[i].Calls != rows[j].Calls {
			return rows[i].Calls > rows[j].Calls
		}
		return rows[i].Syscall < rows[j].Syscall
	})
	return rows
}

// WriteSummary prints rows in strace -c's columns, then vsysbed's entry
// kinds, and a total line.
func WriteSummary(w io.Writer, rows []SummaryRow) error {
	var total SummaryRow
	total.Syscall = "total"
	for _, r := range rows {
		total.Time += r.Time
		total.Calls += r.Calls
		total.Errors += r.Errors
		total.Bypass += r.Bypass
		total.Trap += r.Trap
		total.Patched += r.Patched
		total.VDSO += r.VDSO
	}
	head := fmt.Sprintf("%6s %11s %11s %9s %9s %9s %9s %9s %9s %s\n",
		"% time", "seconds", "usecs/call", "calls", "errors", "bypass", "trap", "patched", "vdso", "syscall")
	rule := strings.Join([]string{"------", dashes(11), dashes(11), dashes(9), dashes(9), dashes(9), dashes(9),
		dashes(9), dashes(9), dashes(16)}, " ") + "\n"
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteString(rule)
	line := func(r SummaryRow, usecs string) {
		pct := 100.0
		if total.Time > 0 {
			pct = 100 * float64(r.Time) / float64(total.Time)
		} else if r.Syscall != "total" {
			pct = 0
		}
		sb.WriteString(fmt.Sprintf("%6.2f %11.6f %11s %9d %9s %9d %9d %9d %9d %s\n", pct, r.Time.Seconds(), usecs,
			r.Calls, blankZero(r.Errors), r.Bypass, r.Trap, r.Patched, r.VDSO, r.Syscall))
	}
	for _, r := range rows {
		usecs := ""
		if n := r.Calls - r.untimed; n > 0 {
			usecs = fmt.Sprint(int64(r.Time/time.Microsecond) / int64(n))
		}
		line(r, usecs)
	}
	sb.WriteString(rule)
	line(total, "")
	_, err := io.WriteString(w, sb.String())
	return err
}

func dashes(n int) string { return strings.Repeat("-", n) }

func blankZero(v uint64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprint(v)
}
