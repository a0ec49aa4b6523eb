package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/vsysbed/vsysbed/diffrun"
	"github.com/vsysbed/vsysbed/internal/exitstatus"
	"github.com/vsysbed/vsysbed/kernelsim"
)

// cmdDiffRun is `vsysbed diff-run`: exit 0 when every run agrees, 1 at the
// first divergence (printed), 127 when PROGRAM is not found, 125 when a
// run could not be made, 2 for bad usage.
func cmdDiffRun(args []string, stderr io.Writer) int {
	fs := newFlagSet("diff-run", func(w io.Writer, fs *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed diff-run [flags] [--] PROGRAM [ARGS...]\n\n"+
			"Runs PROGRAM natively and on each vsysbed platform with the same stdin\n"+
			"(all of it, read once; none from a terminal) and compares stdout, stderr,\n"+
			"exit status and, between the platforms' reports, each syscall's number of\n"+
			"calls and of error returns. Prints the first divergence and exits 1, or\n"+
			"exits 0 when the runs agree. vsysbed's own stderr lines (\"vsysbed: ...\")\n"+
			"are left out of the comparison.\n\nflags:\n")
		fs.PrintDefaults()
	})
	platforms := fs.String("platforms", strings.Join([]string{diffrun.Native, diffrun.InProcess, diffrun.Ptrace}, ","),
		"comma-separated `LIST` of runs, the first being the output reference:\nnative (no vsysbed), inprocess, ptrace, inprocess-lazy (inprocess is\n--rewrite=off, inprocess-lazy --rewrite=lazy)")
	trap := fs.String("trap", "", "--trap for the in-process runs: `seccomp` or sud")
	keep := fs.String("reports", "", "keep each platform's report in `DIR` as PLATFORM.json")
	quiet := fs.Bool("q", false, "print only a divergence")
	ignoreList := fs.String("ignore", "", "comma-separated `ASPECTS` to leave out: stdout, stderr, exit, syscalls")
	tolerate := fs.String("tolerate", strings.Join(diffrun.DefaultTolerate, ","),
		"comma-separated `SYSCALLS` whose counts may differ (they depend on timing)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(stderr, "diff-run", "no PROGRAM given")
	}
	var list []string
	seen := map[string]bool{}
	for _, p := range strings.Split(*platforms, ",") {
		switch p {
		case diffrun.Native, diffrun.InProcess, diffrun.Ptrace, diffrun.InProcessLazy:
		default:
			return usageError(stderr, "diff-run", "unknown platform %q (want native, inprocess, ptrace, inprocess-lazy)", p)
		}
		if seen[p] {
			return usageError(stderr, "diff-run", "platform %q twice", p)
		}
		seen[p] = true
		list = append(list, p)
	}
	if len(list) < 2 {
		return usageError(stderr, "diff-run", "--platforms needs at least two runs to compare")
	}
	ignore := map[string]bool{}
	if *ignoreList != "" {
		for _, a := range strings.Split(*ignoreList, ",") {
			if !slices.Contains(diffrun.Aspects, a) {
				return usageError(stderr, "diff-run", "--ignore: unknown aspect %q (want %s)", a, strings.Join(diffrun.Aspects, ", "))
			}
			ignore[a] = true
		}
	}
	for _, name := range strings.Split(*tolerate, ",") {
		if _, ok := kernelsim.Number(name); name != "" && !ok {
			return usageError(stderr, "diff-run", "--tolerate: unknown syscall %q", name)
		}
	}
	switch *trap {
	case "", "seccomp", "sud":
	default:
		return usageError(stderr, "diff-run", "--trap must be seccomp or sud, got %q", *trap)
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vsysbed-diffrun-")
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed: %v\n", err)
			return exitstatus.Failed
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return exitstatus.Failed
	}
	stdin, err := diffrun.ReadStdin(os.Stdin)
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: diff-run: reading stdin: %v\n", err)
		return exitstatus.Failed
	}
	o := diffrun.Options{Vsysbed: self, Argv: fs.Args(), Platforms: list, Trap: *trap, Stdin: stdin, ReportDir: dir}
	if !*quiet {
		o.Progress = os.Stdout
	}
	outs, err := diffrun.Run(o)
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: diff-run: %v\n", err)
		if errors.Is(err, diffrun.ErrNotFound) {
			return exitstatus.NotFound
		}
		return exitstatus.Failed
	}
	rules := diffrun.Rules{Ignore: ignore, Tolerate: map[string]bool{}}
	for _, name := range strings.Split(*tolerate, ",") {
		if name != "" {
			rules.Tolerate[name] = true
		}
	}
	d, explained := diffrun.CompareWith(outs, rules)
	if !*quiet {
		for _, e := range explained {
			fmt.Fprintf(os.Stdout, "diff-run: not a divergence: %s\n", e)
		}
	}
	if d != nil {
		fmt.Fprintf(os.Stdout, "diff-run: DIVERGENCE: %s\n", d)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(os.Stdout, "diff-run: no divergence across %s\n", strings.Join(list, ", "))
	}
	return 0
}
