// Package jsonschema validates JSON documents against the subset of JSON
// Schema (draft 2020-12) that the report's schema, docs/report.schema.json,
// uses. The coverage tests and the e2e suite (which validates every report
// it makes vsysbed write) share it; it is not part of vsysbed itself.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// Schema validates JSON documents against the subset of JSON Schema that
// docs/report.schema.json uses: type, required, properties,
// additionalProperties, items, enum, pattern, minimum and local $refs
// ("#/$defs/NAME"). Any other keyword is an error when the schema is
// loaded, so the schema cannot grow a constraint this validator would
// silently skip.
type Schema struct {
	root map[string]any
}

// annotations are keywords that carry no constraint.
var annotations = map[string]bool{"$schema": true, "$id": true, "$defs": true, "title": true, "description": true}

var constraints = map[string]bool{
	"type": true, "required": true, "properties": true, "additionalProperties": true,
	"items": true, "enum": true, "pattern": true, "minimum": true, "$ref": true,
}

// Load reads the schema at path and checks it uses the subset only.
func Load(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse is Load of a schema already read.
func Parse(b []byte) (*Schema, error) {
	var root map[string]any
	if err := Decode(b, &root); err != nil {
		return nil, err
	}
	s := &Schema{root: root}
	if err := s.checkKeywords(root, "#"); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the schema document, decoded (numbers as json.Number).
func (s *Schema) Root() map[string]any { return s.root }

// Decode decodes one JSON value, keeping numbers as json.Number (counts
// are uint64: every digit is kept) and refusing trailing data.
func Decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // counts are uint64: keep every digit
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// checkKeywords walks the schema and refuses keywords outside the subset.
func (s *Schema) checkKeywords(node map[string]any, at string) error {
	for k, v := range node {
		switch {
		case annotations[k] && k != "$defs":
		case k == "$defs":
			for name, sub := range v.(map[string]any) {
				if err := s.checkKeywords(sub.(map[string]any), at+"/$defs/"+name); err != nil {
					return err
				}
			}
		case !constraints[k]:
			return fmt.Errorf("%s: keyword %q is not supported by the validator", at, k)
		case k == "properties":
			for name, sub := range v.(map[string]any) {
				if err := s.checkKeywords(sub.(map[string]any), at+"/properties/"+name); err != nil {
					return err
				}
			}
		case k == "items" || (k == "additionalProperties" && reflect.TypeOf(v).Kind() == reflect.Map):
			if err := s.checkKeywords(v.(map[string]any), at+"/"+k); err != nil {
				return err
			}
		case k == "pattern":
			if _, err := regexp.Compile(v.(string)); err != nil {
				return fmt.Errorf("%s: %v", at, err)
			}
		case k == "$ref":
			if _, err := s.Resolve(v.(string)); err != nil {
				return fmt.Errorf("%s: %v", at, err)
			}
		}
	}
	return nil
}

// Resolve finds a local reference, "#/$defs/NAME".
func (s *Schema) Resolve(ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only #/$defs/NAME is supported", ref)
	}
	defs, _ := s.root["$defs"].(map[string]any)
	def, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return def, nil
}

// Validate returns every violation of the schema in doc, one per line,
// each with the JSON path where it was found; none means valid.
func (s *Schema) Validate(doc []byte) []string {
	var v any
	if err := Decode(doc, &v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var errs []string
	s.check(s.root, v, "$", &errs)
	sort.Strings(errs)
	return errs
}

func (s *Schema) check(node map[string]any, v any, at string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := node["$ref"].(string); ok {
		def, err := s.Resolve(ref)
		if err != nil {
			fail("%v", err)
			return
		}
		s.check(def, v, at, errs)
	}
	if typ, ok := node["type"]; ok {
		var types []string
		switch typ := typ.(type) {
		case string:
			types = []string{typ}
		case []any:
			for _, t := range typ {
				types = append(types, t.(string))
			}
		}
		match := false
		for _, t := range types {
			match = match || hasType(v, t)
		}
		if !match {
			fail("%s is not of type %s", describe(v), strings.Join(types, " or "))
			return // the other keywords would only repeat it
		}
	}
	if enum, ok := node["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || reflect.DeepEqual(e, v)
		}
		if !found {
			fail("%s is not one of %v", describe(v), enum)
		}
	}
	if pat, ok := node["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(pat).MatchString(str) {
			fail("%q does not match %s", str, pat)
		}
	}
	if min, ok := node["minimum"].(json.Number); ok {
		if n, isNum := v.(json.Number); isNum {
			a, _ := new(big.Float).SetString(string(n))
			b, _ := new(big.Float).SetString(string(min))
			if a == nil || b == nil || a.Cmp(b) < 0 {
				fail("%s is less than the minimum %s", n, min)
			}
		}
	}
	obj, isObj := v.(map[string]any)
	if req, ok := node["required"].([]any); ok && isObj {
		for _, name := range req {
			if _, present := obj[name.(string)]; !present {
				fail("required property %q is missing", name)
			}
		}
	}
	if isObj {
		props, _ := node["properties"].(map[string]any)
		for name, val := range obj {
			if sub, ok := props[name].(map[string]any); ok {
				s.check(sub, val, at+"."+name, errs)
				continue
			}
			switch add := node["additionalProperties"].(type) {
			case bool:
				if !add {
					fail("property %q is not allowed", name)
				}
			case map[string]any:
				s.check(add, val, at+"."+name, errs)
			}
		}
	}
	if items, ok := node["items"].(map[string]any); ok {
		if arr, isArr := v.([]any); isArr {
			for i, e := range arr {
				s.check(items, e, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
}

func hasType(v any, t string) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		if t == "number" {
			return true
		}
		if t == "integer" {
			f, ok := new(big.Float).SetString(string(v))
			return ok && f.IsInt()
		}
	}
	return false
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}
