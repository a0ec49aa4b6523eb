package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/version"
	"github.com/vsysbed/vsysbed/kernelsim"
)

const reportUsage = `usage:
  vsysbed report show [--format text|json|html] [-o FILE] REPORT.json
  vsysbed report merge -o OUT.json A.json B.json ...
  vsysbed report diff BASE.json NEW.json
  vsysbed report check [--min-bypass PCT] [--no-new-traps BASE.json] [--max-trap-sites N]
                       [--format text|json|junit] [--personality NAME|FILE] REPORT.json
  vsysbed report seccomp [--format oci|yaml] [-o FILE] REPORT.json

show     prints a report (text by default)
merge    sums reports by syscall and by call site (object+offset, so runs
         under ASLR merge); -o - writes to stdout
diff     lists what newly traps, what stopped trapping, and how each
         syscall's bypass share changed; exits 0 whatever changed
check    gates for CI: exits 1 and lists the offending sites when a gate fails
seccomp  writes the syscalls the guest used as a seccomp allowlist: an OCI
         runtime profile (oci) or a go-seccomp-bpf policy (yaml)

Exit status: 0 success, 1 a check gate failed or output could not be
written, 2 bad usage or an unreadable report.
`

// reportStdout is where vsysbed's own output goes (report subcommands,
// help, the version); tests replace it.
var reportStdout io.Writer = os.Stdout

func cmdReport(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	sub := map[string]func([]string, io.Writer, io.Writer) int{
		"show":    reportShow,
		"merge":   reportMerge,
		"diff":    reportDiff,
		"check":   reportCheck,
		"seccomp": reportSeccomp,
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(reportStdout, reportUsage)
		return 0
	}
	f, ok := sub[args[0]]
	if !ok {
		return usageError(stderr, "report", "unknown command %q", args[0])
	}
	return f(args[1:], reportStdout, stderr)
}

// reportFlags is a subcommand's flag set with its usage line.
func reportFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	return newFlagSet("report "+name, func(w io.Writer, fs *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed report %s %s\n", name, synopsis)
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(w, "\nflags:\n")
			fs.PrintDefaults()
		}
	})
}

// parseArgs parses flags wherever they stand among the file arguments
// (`check R.json --min-bypass 90` reads as well as the flags-first
// order); everything after "--" is a file. It returns the files, or
// the flag package's error (nil error and help=true for -h).
func parseArgs(fs *flag.FlagSet, args []string) (files []string, help bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, true, nil
			}
			return nil, false, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, false, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(files, rest...), false, nil
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

// parseCommand runs parseArgs and checks the number of files; code is the
// exit status to return at once when ok is false.
func parseCommand(fs *flag.FlagSet, args []string, minFiles, maxFiles int, stderr io.Writer) (files []string, code int, ok bool) {
	files, help, err := parseArgs(fs, args)
	switch {
	case help:
		printHelp(fs)
		return nil, 0, false
	case err != nil:
		return nil, usageError(stderr, fs.Name(), "%v", err), false
	case len(files) < minFiles || (maxFiles >= 0 && len(files) > maxFiles):
		want := strconv.Itoa(minFiles)
		switch {
		case maxFiles < 0:
			want = "at least " + want
		case maxFiles != minFiles:
			want += " to " + strconv.Itoa(maxFiles)
		}
		return nil, usageError(stderr, fs.Name(), "want %s report file(s), got %d", want, len(files)), false
	}
	return files, 0, true
}

// loadReports loads every file, naming the first that cannot be read.
func loadReports(cmd string, paths []string, stderr io.Writer) ([]*coverage.Report, bool) {
	var out []*coverage.Report
	for _, p := range paths {
		r, err := coverage.Load(p)
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed %s: %v\n", cmd, err)
			return nil, false
		}
		out = append(out, r)
	}
	return out, true
}

// writeOutput writes what write produces to path, or to stdout when path
// is "" or "-". The output is built in memory first so a failed command
// leaves no half-written file behind.
func writeOutput(cmd, path string, stdout, stderr io.Writer, write func(io.Writer) error) int {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		fmt.Fprintf(stderr, "vsysbed %s: %v\n", cmd, err)
		return 1
	}
	var err error
	if path == "" || path == "-" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func reportShow(args []string, stdout, stderr io.Writer) int {
	fs := reportFlags("show", "[--format text|json|html] [-o FILE] REPORT.json", stderr)
	format := fs.String("format", "text", "output `format`: text, json or html")
	out := fs.String("o", "", "write to `FILE` instead of stdout")
	files, code, ok := parseCommand(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	var write func(*coverage.Report, io.Writer) error
	switch *format {
	case "text":
		write = (*coverage.Report).WriteText
	case "json":
		write = (*coverage.Report).WriteJSON
	case "html":
		write = func(r *coverage.Report, w io.Writer) error { return r.WriteHTMLWith(w, htmlOptions()) }
	default:
		return usageError(stderr, "report show", "--format must be text, json or html, got %q", *format)
	}
	rs, ok := loadReports("report show", files, stderr)
	if !ok {
		return 2
	}
	return writeOutput("report show", *out, stdout, stderr, func(w io.Writer) error { return write(rs[0], w) })
}

func reportMerge(args []string, stdout, stderr io.Writer) int {
	fs := reportFlags("merge", "-o OUT.json A.json B.json ...", stderr)
	out := fs.String("o", "", "write the merged report to `FILE` (required; - for stdout)")
	files, code, ok := parseCommand(fs, args, 1, -1, stderr)
	if !ok {
		return code
	}
	if *out == "" {
		return usageError(stderr, "report merge", "-o FILE is required (-o - for stdout)")
	}
	rs, ok := loadReports("report merge", files, stderr)
	if !ok {
		return 2
	}
	m, err := coverage.Merge(rs...)
	if err != nil {
		fmt.Fprintf(stderr, "vsysbed report merge: %v\n", err)
		return 2
	}
	m.Version = version.String() // the merge is this build's report
	return writeOutput("report merge", *out, stdout, stderr, m.WriteJSON)
}

func reportDiff(args []string, stdout, stderr io.Writer) int {
	fs := reportFlags("diff", "BASE.json NEW.json", stderr)
	files, code, ok := parseCommand(fs, args, 2, 2, stderr)
	if !ok {
		return code
	}
	rs, ok := loadReports("report diff", files, stderr)
	if !ok {
		return 2
	}
	return writeOutput("report diff", "", stdout, stderr, coverage.Compare(rs[0], rs[1]).WriteText)
}

func reportCheck(args []string, stdout, stderr io.Writer) int {
	fs := reportFlags("check", "[--min-bypass PCT] [--no-new-traps BASE.json] [--max-trap-sites N] [--format text|json|junit] [--personality NAME|FILE] REPORT.json", stderr)
	minBypass := fs.Float64("min-bypass", 0, "fail when less than `PCT` percent of the calls entering the kernel\nwent through __kernel_vsyscall: bypass/(bypass+trap), over all syscalls")
	basePath := fs.String("no-new-traps", "", "fail when the report traps at a call site (object+offset, syscall)\nthat the report `BASE.json` does not")
	maxSites := fs.Int("max-trap-sites", 0, "fail when there are more than `N` distinct trap sites")
	format := fs.String("format", "text", "output `format`: text, json (vsysbed.check/v1) or junit (JUnit XML, a testcase per gate);\nthe exit status is the same for each")
	personality := fs.String("personality", "", "fail when the guest used a syscall the personality `NAME` (unikraft, or a FILE of\nnames) does not implement, or a call of the run was missing in its own --personality")
	files, code, ok := parseCommand(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	var write func(*coverage.CheckResult, io.Writer) error
	switch *format {
	case "text":
		write = (*coverage.CheckResult).WriteText
		if colourful(stdout) {
			write = func(c *coverage.CheckResult, w io.Writer) error {
				var b bytes.Buffer
				if err := c.WriteText(&b); err != nil {
					return err
				}
				_, err := io.WriteString(w, colourCheck(b.String()))
				return err
			}
		}
	case "json":
		write = (*coverage.CheckResult).WriteJSON
	case "junit":
		write = (*coverage.CheckResult).WriteJUnit
	default:
		return usageError(stderr, "report check", "--format must be text, json or junit, got %q", *format)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var g coverage.Gates
	if set["min-bypass"] {
		if *minBypass < 0 || *minBypass > 100 {
			return usageError(stderr, "report check", "--min-bypass must be a percentage from 0 to 100, got %g", *minBypass)
		}
		g.MinBypass = minBypass
	}
	if set["max-trap-sites"] {
		if *maxSites < 0 {
			return usageError(stderr, "report check", "--max-trap-sites must not be negative, got %d", *maxSites)
		}
		g.MaxTrapSites = maxSites
	}
	if set["personality"] {
		p, err := kernelsim.LoadPersonality(*personality)
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed report check: %v\n", err)
			return 2
		}
		g.Personality = &coverage.PersonalityGate{Name: "linux"}
		if p != nil {
			g.Personality = &coverage.PersonalityGate{Name: p.Name, Syscalls: p.Syscalls}
		}
	}
	paths := files
	if set["no-new-traps"] {
		paths = append(paths, *basePath)
	}
	rs, ok := loadReports("report check", paths, stderr)
	if !ok {
		return 2
	}
	if set["no-new-traps"] {
		g.NoNewTrapsSince = rs[1]
	}
	res := coverage.Check(rs[0], g)
	if code := writeOutput("report check", "", stdout, stderr, func(w io.Writer) error { return write(res, w) }); code != 0 {
		return code
	}
	if !res.OK() {
		return 1
	}
	return 0
}

func reportSeccomp(args []string, stdout, stderr io.Writer) int {
	fs := reportFlags("seccomp", "[--format oci|yaml] [-o FILE] REPORT.json", stderr)
	format := fs.String("format", "oci", "`format`: oci (OCI runtime-spec seccomp profile, JSON) or yaml\n(github.com/elastic/go-seccomp-bpf policy)")
	out := fs.String("o", "", "write to `FILE` instead of stdout")
	files, code, ok := parseCommand(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	var write func(io.Writer, *coverage.Report) (coverage.Allowlist, error)
	switch *format {
	case "oci":
		write = coverage.WriteSeccompOCI
	case "yaml":
		write = coverage.WriteSeccompYAML
	default:
		return usageError(stderr, "report seccomp", "--format must be oci or yaml, got %q", *format)
	}
	rs, ok := loadReports("report seccomp", files, stderr)
	if !ok {
		return 2
	}
	var al coverage.Allowlist
	code = writeOutput("report seccomp", *out, stdout, stderr, func(w io.Writer) error {
		var err error
		al, err = write(w, rs[0])
		return err
	})
	if len(al.Unnamed) > 0 {
		fmt.Fprintf(stderr, "vsysbed report seccomp: warning: syscall number(s) %v have no x86-64 name "+
			"and are not in the allowlist\n", al.Unnamed)
	}
	return code
}

// htmlOptions let the HTML page read the trap sites' source files and
// kernelsim's reasons for the calls it refuses.
func htmlOptions() coverage.HTMLOptions {
	table := kernelsim.Table()
	return coverage.HTMLOptions{
		ReadSource: os.ReadFile,
		Refusal: func(nr int) (string, string, bool) {
			if nr < 0 || nr >= len(table) || table[nr].Route != kernelsim.Refused {
				return "", "", false
			}
			return unix.ErrnoName(table[nr].Errno), table[nr].Note, true
		},
	}
}
