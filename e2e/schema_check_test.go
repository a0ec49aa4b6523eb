package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/internal/jsonschema"
)

// Every report the suite makes vsysbed write is validated against the
// project's schema, docs/report.schema.json: after each spec, every JSON
// report below the suite's TMPDIR (where GinkgoT().TempDir(), bed's
// temporary reports and the run directories all are) that appeared or
// changed since it was last looked at. The spec's temporary directories
// are removed only after its AfterEach nodes, so its reports are there.
var (
	reportValidator *jsonschema.Schema
	suiteTmp        string
	validated       = map[string]time.Time{}
)

// setUpReportValidation loads the schema (BeforeSuite).
func setUpReportValidation(root, tmp string) {
	s, err := jsonschema.Load(filepath.Join(root, "docs", "report.schema.json"))
	Expect(err).NotTo(HaveOccurred())
	reportValidator, suiteTmp = s, tmp
}

var _ = AfterEach(func() {
	if reportValidator == nil {
		return
	}
	var bad []string
	filepath.WalkDir(suiteTmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		info, err := d.Info()
		if err != nil || validated[path].Equal(info.ModTime()) {
			return nil
		}
		validated[path] = info.ModTime()
		doc, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(doc[:min(len(doc), 64)], []byte(`"schema": "`+reportSchema+`"`)) {
			return nil // not a report (or gone already)
		}
		if errs := reportValidator.Validate(doc); len(errs) > 0 {
			bad = append(bad, path+":\n  "+strings.Join(errs[:min(len(errs), 20)], "\n  "))
		}
		return nil
	})
	Expect(bad).To(BeEmpty(), "reports that break docs/report.schema.json")
})
