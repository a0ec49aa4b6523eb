// Command gendocs writes docs/syscalls.md from kernelsim.Table(); it is run
// by `go generate ./kernelsim`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vsysbed/vsysbed/kernelsim"
)

func main() {
	out := flag.String("o", "", "output markdown file (default: stdout)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	var b bytes.Buffer
	if err := kernelsim.WriteDocs(&b); err != nil {
		return err
	}
	if out == "" {
		_, err := os.Stdout.Write(b.Bytes())
		return err
	}
	// Write-then-rename so an interrupted run never leaves a truncated
	// file that the staleness test would then report confusingly.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".syscalls-*.md")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
