package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tracing"
)

// TraceOptions are `vsysbed run`'s strace flags (docs/trace.md).
type TraceOptions struct {
	// Config: the set, -s, -t/-tt/-ttt, -r, -T, --stack and the format;
	// its Output and Summary are the supervisor's to fill in.
	Config tracing.Config
	// Output: -o FILE (--trace FILE); "" is vsysbed's stderr.
	Output string
	// Summary: -c, strace's table (to Output or stderr) instead of lines.
	Summary bool
}

// startTrace writes the run's tracing configuration into its run
// directory, where every host process of the tree finds it, and returns
// what to do once the tree has ended.
func startTrace(t *TraceOptions, dir string) (finish func(*coverage.Report), err error) {
	c := t.Config
	out := t.Output
	if out != "" {
		if out, err = filepath.Abs(out); err != nil {
			return nil, err
		}
		f, err := os.Create(out) // strace truncates its -o file
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	if t.Summary {
		c.Summary = filepath.Join(dir, tracing.SummaryFile)
	} else if out != "" {
		c.Output = out
	}
	var relay *tracing.Relay
	if !t.Summary && out == "" {
		var st unix.Stat_t
		if unix.Fstat(2, &st) == nil && (st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFIFO) {
			// A terminal or a pipe has no file offset: each host process
			// opens it again and writes in step with the guest.
			c.Output = "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/2"
		} else {
			// A file (whose offset a second opening would not share) or a
			// socket: through the supervisor (tracing/relay.go).
			c.Socket = filepath.Join(dir, tracing.SocketFile)
			if relay, err = tracing.Listen(c.Socket, os.Stderr); err != nil {
				return nil, err
			}
		}
	}
	if err := tracing.WriteConfig(dir, c); err != nil {
		return nil, err
	}
	return func(rep *coverage.Report) {
		if relay != nil {
			relay.Close()
		}
		if !t.Summary {
			return
		}
		if err := writeSummary(c, out, rep); err != nil {
			fmt.Fprintf(os.Stderr, "vsysbed: -c: %v\n", err)
		}
	}, nil
}

// writeSummary prints -c's table, with the report's vDSO calls of the
// traced syscalls (which never reach the kernel's Dispatch).
func writeSummary(c tracing.Config, out string, rep *coverage.Report) error {
	recs, err := tracing.ReadRecords(c.Summary)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	traced := map[string]bool{}
	for _, nr := range c.Set {
		traced[kernelsim.Name(nr)] = true
	}
	vdso := map[string]uint64{}
	if rep != nil {
		for _, row := range rep.Syscalls {
			if traced[row.Name] {
				vdso[row.Name] += row.VDSO
			}
		}
	}
	w := os.Stderr
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return tracing.WriteSummary(w, tracing.Summarize(recs, vdso))
}
