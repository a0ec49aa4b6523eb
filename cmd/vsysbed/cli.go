package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Command-line conventions (README, "Usage"), the same for every
// subcommand: --help prints the usage on stdout and exits 0; a bad flag or
// argument is one line on stderr that says what is wrong and where the
// help is, exit 2 (Go's flag package would print its error and then the
// whole usage).

// newFlagSet is a subcommand's flag set. usage writes the subcommand's
// help to w; it is printed for --help only.
func newFlagSet(cmd string, usage func(w io.Writer, fs *flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { usage(fs.Output(), fs) }
	return fs
}

// parseFlags parses args with a newFlagSet set. ok is false when the
// command is over: code is then 0 after --help (printed on stdout), 2
// after a bad flag (one line on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		printHelp(fs)
		return 0, false
	}
	return usageError(stderr, fs.Name(), "%v", err), false
}

// printHelp prints fs's usage on stdout.
func printHelp(fs *flag.FlagSet) {
	fs.SetOutput(reportStdout)
	fs.Usage()
	fs.SetOutput(io.Discard)
}

// usageError prints the one line of a command-line error and returns 2.
func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	fmt.Fprintf(stderr, "vsysbed %s: %s (see 'vsysbed %s --help')\n", cmd, msg, cmd)
	return 2
}

// colourful tells whether w is a terminal that wants colour: a TTY, with
// no NO_COLOR (https://no-color.org: set to anything but "") and TERM not
// "dumb". Files, pipes and tests get plain text.
func colourful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminal tells whether w is a terminal that can redraw a line (a TTY,
// TERM not "dumb"): explore's progress bar.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// ANSI SGR sequences of the few colours vsysbed prints.
const (
	sgrRed   = "\x1b[1;31m"
	sgrGreen = "\x1b[32m"
	sgrBold  = "\x1b[1m"
	sgrReset = "\x1b[0m"
)

// colourCheck colours `report check`'s text: the verdict green or red,
// each failed gate's name bold.
func colourCheck(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "ok:"):
			lines[i] = sgrGreen + "ok" + sgrReset + l[2:]
		case strings.HasPrefix(l, "FAIL:"):
			lines[i] = sgrRed + "FAIL" + sgrReset + l[4:]
		case l != "" && l[0] != ' ' && l[0] != '\n':
			if gate, rest, ok := strings.Cut(l, ":"); ok && !strings.Contains(gate, " ") {
				lines[i] = sgrBold + gate + sgrReset + ":" + rest
			}
		}
	}
	return strings.Join(lines, "")
}

// flagSet reports whether the command line set the flag name (rather than
// leaving its default).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
