package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/tracer"
)

func parseTraceFlags(t *testing.T, platform string, args ...string) (*tracer.TraceOptions, bool, string) {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var tf traceFlags
	tf.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var sb strings.Builder
	o, ok := tf.options(platform, &sb)
	return o, ok, sb.String()
}

func TestTraceFlags(t *testing.T) {
	if o, ok, _ := parseTraceFlags(t, tracer.PlatformInProcess, "-T", "-s", "64"); !ok || o != nil {
		t.Errorf("-T alone turned tracing on: %+v", o)
	}
	o, ok, msg := parseTraceFlags(t, tracer.PlatformPtrace, "-e", "trace=read,write", "-e", "close", "-tt", "-T", "-o", "f", "--trace-format", "jsonl")
	if !ok || o == nil {
		t.Fatalf("refused: %s", msg)
	}
	c := o.Config
	if o.Output != "f" || c.Format != "jsonl" || c.Time != 2 || !c.Durations || c.StrLen != 32 {
		t.Errorf("options %+v", o)
	}
	if len(c.Set) != 3 || c.Set[0] != 0 || c.Set[1] != 1 || c.Set[2] != 3 {
		t.Errorf("set %v, want [0 1 3]", c.Set)
	}
	if o, _, _ := parseTraceFlags(t, tracer.PlatformInProcess, "-c"); o == nil || !o.Summary || len(o.Config.Set) < 400 {
		t.Errorf("-c alone: %+v", o)
	}
	for _, bad := range [][]string{
		{"-e", "trace=opn"}, {"-e", "signal=INT"}, {"-o", "f", "--trace-format", "xml"}, {"-c", "-s", "-1"},
	} {
		if _, ok, msg := parseTraceFlags(t, tracer.PlatformInProcess, bad...); ok || !strings.HasPrefix(msg, "vsysbed run: ") || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: ok=%v, message %q", bad, ok, msg)
		}
	}
	if _, ok, _ := parseTraceFlags(t, tracer.PlatformNative, "-c"); ok {
		t.Error("tracing accepted on the native platform")
	}
}
