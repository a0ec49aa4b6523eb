package tracing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The JSON Lines records must satisfy docs/trace.schema.json. The
// validator knows the keywords that schema uses (type, required,
// properties, additionalProperties, items, enum, pattern, minimum) and
// refuses any other, so the schema cannot grow a constraint left unchecked.
func validate(schema map[string]any, v any, at string) error {
	for k := range schema {
		switch k {
		case "$schema", "$id", "title", "description", "type", "required", "properties",
			"additionalProperties", "items", "enum", "pattern", "minimum":
		default:
			return fmt.Errorf("%s: keyword %q not supported by this validator", at, k)
		}
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !hasType(v, types) {
			return fmt.Errorf("%s: %v is not %v", at, v, types)
		}
	}
	if e, ok := schema["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || x == v
		}
		if !found {
			return fmt.Errorf("%s: %v not in %v", at, v, e)
		}
	}
	if p, ok := schema["pattern"].(string); ok {
		if s, _ := v.(string); !regexp.MustCompile(p).MatchString(s) {
			return fmt.Errorf("%s: %q does not match %s", at, s, p)
		}
	}
	if m, ok := schema["minimum"].(json.Number); ok {
		n, _ := v.(json.Number)
		if a, b := n.String(), m.String(); strings.HasPrefix(a, "-") && !strings.HasPrefix(b, "-") {
			return fmt.Errorf("%s: %s below %s", at, a, b)
		}
	}
	obj, isObj := v.(map[string]any)
	if req, ok := schema["required"].([]any); ok && isObj {
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: %q missing", at, r)
			}
		}
	}
	if props, ok := schema["properties"].(map[string]any); ok && isObj {
		for k, x := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: %q not allowed", at, k)
				}
				continue
			}
			if err := validate(sub, x, at+"."+k); err != nil {
				return err
			}
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		if arr, ok := v.([]any); ok {
			for i, x := range arr {
				if err := validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, types []string) bool {
	for _, t := range types {
		switch x := v.(type) {
		case nil:
			if t == "null" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case json.Number:
			if t == "number" || t == "integer" && !strings.ContainsAny(x.String(), ".eE") {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case map[string]any:
			if t == "object" {
				return true
			}
		}
	}
	return false
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func TestRecordsMatchTheSchema(t *testing.T) {
	raw, err := os.ReadFile("../docs/trace.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := decodeNumbers(raw, &schema); err != nil {
		t.Fatal(err)
	}
	tr, out := newTestTracer(t, Config{Format: "jsonl", Stack: true})
	calls := []struct {
		nr  int
		ret int64
	}{{39, 7}, {0, -int64(unix.EBADF)}, {9, 0x7f0000000000}, {300, 0}}
	for _, c := range calls {
		call := tr.Enter(10, 11, c.nr, [6]uint64{1, 2, 3}, "trap", 0x401000, fakeMem{})
		call.Returned = true
		tr.Exit(call, c.ret, fakeMem{})
	}
	tr.Enter(10, 10, 231, [6]uint64{0}, "bypass", 0x401000, fakeMem{})
	tr.Enter(10, 10, 62, [6]uint64{10, 9}, "bypass", 0x401000, fakeMem{})
	tr.End(10, 0, 9)
	tr.End(12, 3, 0)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 8 {
		t.Fatalf("%d records:\n%s", len(lines), b)
	}
	seen := map[string]bool{}
	for i, l := range lines {
		var v map[string]any
		if err := decodeNumbers([]byte(l), &v); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if err := validate(schema, v, fmt.Sprintf("record %d", i)); err != nil {
			t.Errorf("%v\n%s", err, l)
		}
		for k := range v {
			seen[k] = true
		}
	}
	// The validator does reject what the schema forbids.
	for _, bad := range []string{`{"pid": "1"}`, `{"pid": -1}`, `{"kind": "fast"}`, `{"bogus": 1}`, `{"errno": "enoent"}`} {
		var v map[string]any
		decodeNumbers([]byte(strings.TrimSuffix(lines[0], "}")+","+strings.TrimPrefix(bad, "{")), &v)
		if err := validate(schema, v, "bad"); err == nil {
			t.Errorf("%s passes", bad)
		}
	}
	// Every field the schema documents is exercised here.
	var missing []string
	for k := range schema["properties"].(map[string]any) {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no record has %v", missing)
	}
}
