package explore

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteTable writes the verdicts, one syscall a line, then the minimal
// set.
func (r *Result) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	nameW := len("syscall")
	for _, v := range r.Syscalls {
		nameW = max(nameW, len(v.Name))
	}
	fmt.Fprintf(bw, "%-*s  %8s  %-8s  %-8s  %-8s  %s\n", nameW, "syscall", "calls", "stubbed", "faked", "both", "required")
	for _, v := range r.Syscalls {
		fmt.Fprintf(bw, "%-*s  %8d  %-8s  %-8s  %-8s  %s\n", nameW, v.Name, v.Calls, yn(v.Stubbed), yn(v.Faked), yn(v.Both()), yn(v.Required))
	}
	fmt.Fprintf(bw, "\nrequired: %d of %d used syscalls: %s\n", len(r.Required), len(r.Syscalls), strings.Join(r.Required, " "))
	fmt.Fprintf(bw, "%d experiments (x%d runs) in %.1fs, %.2fs each\n", r.Experiments, r.Runs, r.Seconds, r.SecondsPerExperiment)
	return bw.Flush()
}

// WriteJSON writes the result as JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteCSV writes Loupe's dyn.csv layout: every syscall number from 0 to
// maxNr, with Y/N for used, works faked, works stubbed, works both. As
// Loupe's own, the three "works" columns do not overlap: faked means
// faked but not stubbed, stubbed means stubbed but not faked, both means
// both; a used syscall with N in all three is required.
func (r *Result) WriteCSV(w io.Writer, maxNr int) error {
	bw := bufio.NewWriter(w)
	byNr := map[int]*Verdict{}
	for i := range r.Syscalls {
		byNr[r.Syscalls[i].Nr] = &r.Syscalls[i]
	}
	yn := func(b bool) string {
		if b {
			return "Y"
		}
		return "N"
	}
	fmt.Fprintln(bw, "# syscall, used, works faked, works stubbed, works both")
	for nr := 0; nr <= maxNr; nr++ {
		v := byNr[nr]
		if v == nil {
			fmt.Fprintf(bw, "%d,N,N,N,N\n", nr)
			continue
		}
		fmt.Fprintf(bw, "%d,Y,%s,%s,%s\n", nr, yn(v.Faked && !v.Stubbed), yn(v.Stubbed && !v.Faked), yn(v.Both()))
	}
	return bw.Flush()
}
