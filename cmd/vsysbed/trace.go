package main

import (
	"flag"
	"io"

	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/tracer"
	"github.com/vsysbed/vsysbed/tracing"
)

// traceFlags are run's strace flags (docs/trace.md).
type traceFlags struct {
	exprs              []string
	out                string
	format             string
	strlen             int
	t, tt, ttt, r, dur bool
	follow, summary    bool
	stack              bool
}

func (tf *traceFlags) register(fs *flag.FlagSet) {
	fs.Func("e", "trace only `trace=SET` (strace's syntax: names, %file, %desc, %process, %network,\n"+
		"%signal, %memory, %ipc, %creds, %clock, /regex, all, none, a leading ! negates;\n"+
		"repeatable); tracing is on with -e, -o or -c (docs/trace.md)", func(v string) error {
		tf.exprs = append(tf.exprs, v)
		return nil
	})
	fs.StringVar(&tf.out, "o", "", "write the trace to `FILE` (one line per call; default: stderr)")
	fs.StringVar(&tf.out, "trace", "", "the same as -o `FILE`")
	fs.StringVar(&tf.format, "trace-format", "text", "trace lines as `text` (strace's) or jsonl (docs/trace.md's schema)")
	fs.IntVar(&tf.strlen, "s", 32, "print at most `N` bytes of each string (strace's -s)")
	fs.BoolVar(&tf.t, "t", false, "prefix each trace line with the time of day")
	fs.BoolVar(&tf.tt, "tt", false, "... with microseconds")
	fs.BoolVar(&tf.ttt, "ttt", false, "... as seconds since the epoch")
	fs.BoolVar(&tf.r, "r", false, "prefix each trace line with the time since the process's previous call")
	fs.BoolVar(&tf.dur, "T", false, "show the time spent in each call, <seconds>")
	fs.BoolVar(&tf.follow, "f", false, "follow forks (always on: the whole tree is traced, each line names its pid)")
	fs.BoolVar(&tf.summary, "c", false, "print strace's -c summary (and per entry kind) instead of the trace")
	fs.BoolVar(&tf.stack, "stack", false, "print the symbolised call site under each trace line (strace's -k, one frame)")
}

// options turns the flags into the supervisor's, nil when tracing is
// off; an error is a one-line usage error.
func (tf *traceFlags) options(platform string, stderr io.Writer) (*tracer.TraceOptions, bool) {
	if len(tf.exprs) == 0 && tf.out == "" && !tf.summary {
		return nil, true
	}
	fail := func(format string, args ...any) (*tracer.TraceOptions, bool) {
		usageError(stderr, "run", format, args...)
		return nil, false
	}
	if platform == tracer.PlatformNative {
		return fail("tracing (-e, -o, -c) runs on the inprocess and ptrace platforms only")
	}
	if tf.format != "text" && tf.format != "jsonl" {
		return fail("--trace-format must be text or jsonl, got %q", tf.format)
	}
	if tf.strlen < 0 {
		return fail("-s must not be negative, got %d", tf.strlen)
	}
	set := tracing.All()
	if len(tf.exprs) > 0 {
		set = make(tracing.Set, tracing.SetSize)
		for _, e := range tf.exprs {
			var err error
			if set, err = tracing.ParseExpr(e, set, kernelsim.Name, kernelsim.Number); err != nil {
				return fail("%v", err)
			}
		}
	}
	o := &tracer.TraceOptions{Output: tf.out, Summary: tf.summary}
	c := &o.Config
	for nr, on := range set {
		if on && nr <= kernelsim.MaxNr {
			c.Set = append(c.Set, nr)
		}
	}
	c.Format, c.StrLen, c.Relative, c.Durations, c.Stack = tf.format, tf.strlen, tf.r, tf.dur, tf.stack
	switch {
	case tf.ttt:
		c.Time = 3
	case tf.tt:
		c.Time = 2
	case tf.t:
		c.Time = 1
	}
	return o, true
}
