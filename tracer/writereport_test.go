package tracer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/version"
)

// TestWriteReportGoesWhereAsked: the output conventions of `vsysbed run`
// (docs/report.md, "Where the report goes").
func TestWriteReportGoesWhereAsked(t *testing.T) {
	rep := &coverage.Report{Schema: coverage.Schema, Command: []string{"prog"}, Complete: true, TrapMode: "seccomp"}
	const isJSON, isText, none = "json", "text", ""
	kind := func(b []byte) string {
		switch {
		case len(b) == 0:
			return none
		case bytes.HasPrefix(b, []byte("{")):
			return isJSON
		}
		return isText
	}
	for _, c := range []struct {
		name                 string
		o                    Options
		stdout, stderr, file string
	}{
		{"default: text on stderr", Options{}, none, isText, none},
		{"--format json: JSON on stderr", Options{Format: "json"}, none, isJSON, none},
		{"--report -: JSON on stdout", Options{Report: "-"}, isJSON, none, none},
		{"--report - --format text", Options{Report: "-", Format: "text"}, isText, none, none},
		{"--report F: F only", Options{Report: "F"}, none, none, isJSON},
		{"--format text --report F: F only", Options{Report: "F", Format: "text"}, none, none, isText},
		{"-q: nothing", Options{Quiet: true}, none, none, none},
		{"-q --report F: F", Options{Quiet: true, Report: "F"}, none, none, isJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "F")
			if c.o.Report == "F" {
				c.o.Report = path
			}
			var stdout, stderr bytes.Buffer
			if err := writeReport(rep, c.o, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			file, _ := os.ReadFile(path)
			if got := kind(stdout.Bytes()); got != c.stdout {
				t.Errorf("stdout has %q, want %q:\n%s", got, c.stdout, stdout.String())
			}
			if got := kind(stderr.Bytes()); got != c.stderr {
				t.Errorf("stderr has %q, want %q:\n%s", got, c.stderr, stderr.String())
			}
			if got := kind(file); got != c.file {
				t.Errorf("the file has %q, want %q", got, c.file)
			}
			if c.file == isJSON && !bytes.Contains(file, []byte(`"vsysbed_version": "`+version.String()+`"`)) {
				t.Errorf("the report does not name vsysbed's version %s:\n%s", version.String(), file)
			}
		})
	}
}

func TestWriteReportUnwritable(t *testing.T) {
	rep := &coverage.Report{Schema: coverage.Schema}
	path := filepath.Join(t.TempDir(), "no-such-dir", "r.json")
	err := writeReport(rep, Options{Report: path}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no-such-dir") || strings.Contains(err.Error(), "\n") {
		t.Errorf("writing to %s: %v, want one line naming the path", path, err)
	}
}
