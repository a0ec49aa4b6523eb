// Command genplot writes docs/bench-apps.svg from docs/bench-apps.tsv; it
// is run by `go generate ./internal/benchplot`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/vsysbed/vsysbed/internal/benchplot"
)

func main() {
	in := flag.String("i", "docs/bench-apps.tsv", "the rows of make bench-apps (TSV)")
	out := flag.String("o", "", "output SVG file (default: stdout)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genplot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := benchplot.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var b bytes.Buffer
	if err := benchplot.Render(&b, d); err != nil {
		return err
	}
	if out == "" {
		_, err := os.Stdout.Write(b.Bytes())
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}
