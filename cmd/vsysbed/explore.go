package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vsysbed/vsysbed/explore"
	"github.com/vsysbed/vsysbed/kernelsim"
)

// cmdExplore is `vsysbed explore`: which syscalls PROGRAM needs (package
// explore; docs/explore.md).
func cmdExplore(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o explore.Options
	fs.StringVar(&o.Test, "test", "", "a shell `CMD` whose exit 0 says the program works (it gets the run's stdout file as $1);\n"+
		"default: the exit status and stdout equal to the first run's")
	fs.StringVar(&o.Ready, "ready", "", "server mode: a shell `CMD` polled until it exits 0 before --test runs; the server is\nkilled after the test")
	fs.IntVar(&o.Port, "port", 0, "server mode: wait until localhost:`PORT` accepts a connection before --test runs")
	fs.IntVar(&o.Runs, "runs", 1, "`N` runs per experiment; it works only if all do")
	fs.IntVar(&o.Jobs, "jobs", 1, "`J` experiments at once (a server on a fixed port wants 1)")
	fs.IntVar(&o.Jobs, "j", 1, "short for --jobs")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "time bound per run (program and test): a run that takes longer does not work")
	trap := fs.String("trap", "seccomp", "--trap of every run: `seccomp` or sud")
	jsonPath := fs.String("json", "", "write the result as JSON to `FILE`")
	csvPath := fs.String("csv", "", "write Loupe's CSV layout (dyn.csv: # syscall, used, works faked, works stubbed,\nworks both) to `FILE`")
	htmlPath := fs.String("html", "", "write a page with the plots (required syscalls vs each personality's) to `FILE`")
	var personas []string
	fs.Func("personality", "compare with the personality `NAME|FILE` in the page (repeatable; default linux and unikraft)", func(v string) error {
		if _, err := kernelsim.LoadPersonality(v); err != nil {
			return err
		}
		personas = append(personas, v)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vsysbed explore [flags] [--] PROGRAM [ARGS...]\n\n"+
			"Runs PROGRAM once to learn which syscalls it uses, then once with each of them\n"+
			"stubbed (ENOSYS) and once faked (0), and prints which it needs (Loupe's method).\n"+
			"One progress line per experiment goes to stderr (on a terminal, one bar redrawn).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "vsysbed: explore: no PROGRAM given")
		fs.Usage()
		return 2
	}
	if *trap != "seccomp" && *trap != "sud" {
		fmt.Fprintf(stderr, "vsysbed: --trap must be seccomp or sud, got %q\n", *trap)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return 125
	}
	o.Vsysbed, o.Argv, o.RunFlags, o.Progress = self, fs.Args(), []string{"--trap", *trap}, stderr
	o.ProgressBar = terminal(stderr)
	res, err := explore.Explore(o)
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed: %v\n", err)
		return 1
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return 1
	}
	if len(personas) == 0 {
		personas = []string{"linux", "unikraft"}
	}
	var ps []explore.Personality
	for _, name := range personas {
		p, _ := kernelsim.LoadPersonality(name)
		ep := explore.Personality{Name: "linux", Has: func(string) bool { return true }}
		if p != nil {
			has := map[string]bool{}
			for _, n := range p.Syscalls {
				has[n] = true
			}
			ep = explore.Personality{Name: p.Name, Has: func(n string) bool { return has[n] }}
		}
		ps = append(ps, ep)
	}
	for _, p := range ps {
		missing := "none"
		if m := res.MissingIn(p); len(m) > 0 {
			missing = strings.Join(m, " ")
		}
		fmt.Fprintf(os.Stdout, "required and missing in %s: %s\n", p.Name, missing)
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{*jsonPath, res.WriteJSON},
		{*csvPath, func(w io.Writer) error { return res.WriteCSV(w, kernelsim.MaxNr) }},
		{*htmlPath, func(w io.Writer) error { return res.WriteHTML(w, ps) }},
	} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err == nil {
			err = out.write(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed: %v\n", err)
			return 1
		}
	}
	return 0
}
