package coverage

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/vsysbed/vsysbed/internal/jsonschema"
)

// schemaPath is the JSON Schema every report must satisfy.
const schemaPath = "../docs/report.schema.json"

// jsonSchema is the report schema's validator (internal/jsonschema).
type jsonSchema struct{ *jsonschema.Schema }

func loadSchema(t *testing.T) jsonSchema {
	t.Helper()
	s, err := jsonschema.Load(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	return jsonSchema{s}
}

func (s jsonSchema) validate(doc []byte) []string { return s.Validate(doc) }

func decodeJSON(b []byte, v any) error { return jsonschema.Decode(b, v) }

// expectValid fails t when the report's JSON form breaks the schema.
func expectValid(t *testing.T, s jsonSchema, name string, doc []byte) {
	t.Helper()
	if errs := s.validate(doc); len(errs) > 0 {
		t.Errorf("%s does not satisfy %s:\n  %s", name, schemaPath, strings.Join(errs, "\n  "))
	}
}

func TestSchemaAcceptsBuiltReports(t *testing.T) {
	s := loadSchema(t)
	reports := map[string]*Report{}

	reports["two-thread run"] = twoThreadRun(HostStatus{})
	reports["host killed"] = Build(Input{Shards: []Shard{{Syscalls: []SyscallRow{{Nr: 1, Trap: 1}}}},
		Command: []string{"prog", "-v"}, Host: HostStatus{Signal: syscall.SIGKILL}, TrapMode: "seccomp"})

	fault := aslrRun(t, []string{"crash"}, 0x400000, 0, call{libx, 0x10, 1, KindTrap, 1})
	fault.Exit = ExitStatus{Signal: "SIGSEGV", FaultAddr: 0, FaultRIP: 0x401136}
	reports["fault"] = fault

	reports["empty input"] = Build(Input{})

	// The ptrace platform's trap mode, and the version a run records.
	pt := Build(Input{Shards: []Shard{{Syscalls: []SyscallRow{{Nr: 1, Trap: 1}}}},
		Command: []string{"prog"}, TrapMode: "ptrace"})
	pt.Version = "v0.0.0-20261202000000-0123456789ab+dirty"
	reports["ptrace platform"] = pt

	hostile := aslrRun(t, []string{"hostile"}, 0x400000, 0,
		call{libx, 0x10, 0xffffffff, KindTrap, 2}, call{libx, 0x20, 20, KindInt80, 1})
	reports["ENOSYS numbers and int80"] = hostile

	// With symbolisation, on the host's libc: build-id, function and
	// (when it has debug info) file and line.
	if st, err := os.Stat(libc); err == nil && st.Mode().IsRegular() {
		r := Build(Input{
			Command: []string{"sym"},
			Shards:  []Shard{{Sites: []Site{{Address: libcBase + 0x28000, Nr: 1, Kind: KindTrap, Count: 1}}}},
			Events:  []Event{{Ev: EvMap, Start: libcBase, End: libcBase + 0x200000, Path: libc}},
		})
		if err != nil {
			t.Fatal(err)
		}
		reports["symbolised"] = r
	}

	a := aslrRun(t, []string{"a"}, 0x10000000, 1, call{libx, 0x100, 1, KindTrap, 3})
	b := aslrRun(t, []string{"b"}, 0x20000000, 0, call{libx, 0x100, 1, KindTrap, 1})
	b.TrapMode = "sud"
	m, err := Merge(a, b, reports["two-thread run"])
	if err != nil {
		t.Fatal(err)
	}
	reports["merged"] = m
	if mm, err := Merge(m, reports["host killed"]); err == nil {
		reports["merged twice"] = mm
	} else {
		t.Fatal(err)
	}

	for name, r := range reports {
		expectValid(t, s, name, []byte(jsonOf(t, r)))
	}
}

// TestSchemaRejectsBrokenReports makes sure the validator and the schema
// are strict: each mutation of a valid report must fail validation.
func TestSchemaRejectsBrokenReports(t *testing.T) {
	s := loadSchema(t)
	good := []byte(jsonOf(t, twoThreadRun(HostStatus{})))
	expectValid(t, s, "fixture", good)

	for _, c := range []struct {
		name   string
		mutate func(doc map[string]any)
		want   string // in the violation message
	}{
		{"missing top-level field", func(d map[string]any) { delete(d, "totals") }, `"totals" is missing`},
		{"missing runs", func(d map[string]any) { delete(d, "runs") }, `"runs" is missing`},
		{"wrong type", func(d map[string]any) { d["threads"] = "2" }, `$.threads: "2" is not of type integer`},
		{"fraction for a count", func(d map[string]any) { d["sites_dropped"] = json.Number("1.5") }, "not of type integer"},
		{"negative count", func(d map[string]any) { d["totals"].(map[string]any)["trap"] = json.Number("-1") }, "minimum"},
		{"null list", func(d map[string]any) { d["errors"] = nil }, "$.errors: null is not of type array"},
		{"other schema", func(d map[string]any) { d["schema"] = "vsysbed.report/v2" }, "is not one of"},
		{"unknown field", func(d map[string]any) { d["extra"] = true }, `property "extra" is not allowed`},
		{"site without count", func(d map[string]any) { delete(site0(d), "count") }, `$.sites[0]: required property "count"`},
		{"decimal address", func(d map[string]any) { site0(d)["address"] = "4660" }, "does not match"},
		{"uppercase hex", func(d map[string]any) { site0(d)["offset"] = "0x1ABC" }, "does not match"},
		{"number address", func(d map[string]any) { site0(d)["address"] = json.Number("4660") }, "not of type string"},
		{"unknown kind", func(d map[string]any) { site0(d)["kind"] = "kind7" }, "is not one of"},
		{"exit without signal", func(d map[string]any) { delete(d["exit"].(map[string]any), "signal") }, `$.exit: required property "signal"`},
		{"bad signal", func(d map[string]any) { d["host"].(map[string]any)["signal"] = "segv" }, "does not match"},
		{"run with string complete", func(d map[string]any) {
			d["runs"].([]any)[0].(map[string]any)["complete"] = "yes"
		}, "$.runs[0].complete"},
		{"syscall row without total", func(d map[string]any) {
			delete(d["syscalls"].([]any)[0].(map[string]any), "total")
		}, `$.syscalls[0]: required property "total"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var doc map[string]any
			if err := decodeJSON(good, &doc); err != nil {
				t.Fatal(err)
			}
			c.mutate(doc)
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			errs := s.validate(b)
			if len(errs) == 0 {
				t.Fatalf("broken report accepted")
			}
			if joined := strings.Join(errs, "\n"); !strings.Contains(joined, c.want) {
				t.Errorf("violations do not mention %q:\n%s", c.want, joined)
			}
		})
	}
}

func site0(d map[string]any) map[string]any { return d["sites"].([]any)[0].(map[string]any) }

// TestSchemaMatchesStructs catches a field added to a report struct
// without the schema (or the reverse): every JSON name a struct writes is
// a property of the matching schema object, and every property is written.
func TestSchemaMatchesStructs(t *testing.T) {
	s := loadSchema(t)
	def := func(name string) map[string]any {
		d, err := s.Resolve("#/$defs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		typ    reflect.Type
		schema map[string]any
	}{
		{reflect.TypeOf(Report{}), s.Root()},
		{reflect.TypeOf(ExitStatus{}), def("exitStatus")},
		{reflect.TypeOf(Totals{}), def("totals")},
		{reflect.TypeOf(SyscallRow{}), def("syscallRow")},
		{reflect.TypeOf(Site{}), def("site")},
		{reflect.TypeOf(Exec{}), def("exec")},
		{reflect.TypeOf(Run{}), def("run")},
	} {
		props := c.schema["properties"].(map[string]any)
		required := map[string]bool{}
		for _, r := range c.schema["required"].([]any) {
			required[r.(string)] = true
		}
		fields := map[string]bool{}
		for i := range c.typ.NumField() {
			f := c.typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			fields[name] = true
			if _, ok := props[name]; !ok {
				t.Errorf("%s.%s (json %q) is not in %s", c.typ.Name(), f.Name, name, schemaPath)
			}
			if omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero"); omit == required[name] {
				t.Errorf("%s.%s: omitempty %v but required %v in the schema", c.typ.Name(), f.Name, omit, required[name])
			}
		}
		for name := range props {
			if !fields[name] {
				t.Errorf("schema property %q is not a field of %s", name, c.typ.Name())
			}
		}
	}
}

// vsysbedBinary is the binary `make build` writes, or $VSYSBED_BIN.
func vsysbedBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("VSYSBED_BIN")
	if bin == "" {
		bin = "../build/vsysbed"
	}
	if st, err := os.Stat(bin); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Skipf("no vsysbed binary at %s (run `make build`, or set VSYSBED_BIN)", bin)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestSchemaAcceptsRealReports(t *testing.T) {
	bin := vsysbedBinary(t)
	s := loadSchema(t)
	guests := [][]string{{"/bin/true"}, {"/bin/ls", "/"}}
	for _, g := range []string{"vsyscall_probe-glibc", "vsyscall_probe-musl", "crash"} {
		p := filepath.Join(filepath.Dir(bin), "guests", g)
		if _, err := os.Stat(p); err == nil {
			guests = append(guests, []string{p})
		}
	}
	var reports []*Report
	for _, argv := range guests {
		out := filepath.Join(t.TempDir(), "R.json")
		cmd := exec.Command(bin, append([]string{"run", "--report", out, "--"}, argv...)...)
		if combined, err := cmd.CombinedOutput(); err != nil {
			if _, isExit := err.(*exec.ExitError); !isExit || !strings.HasSuffix(argv[0], "crash") {
				t.Fatalf("%v: %v\n%s", argv, err, combined)
			}
		}
		doc, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		expectValid(t, s, fmt.Sprintf("report of %v (if fields are missing, rebuild %s)", argv, bin), doc)
		r, err := Load(out)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r)
	}
	m, err := Merge(reports...)
	if err != nil {
		t.Fatal(err)
	}
	expectValid(t, s, "merge of the real reports", []byte(jsonOf(t, m)))
}
