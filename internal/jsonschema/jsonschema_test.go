package jsonschema

import (
	"strings"
	"testing"
)

func TestRefusesKeywordsOutsideTheSubset(t *testing.T) {
	if _, err := Parse([]byte(`{"type": "object", "maxProperties": 3}`)); err == nil || !strings.Contains(err.Error(), "maxProperties") {
		t.Errorf("a keyword the validator would skip was accepted: %v", err)
	}
	if _, err := Parse([]byte(`{"$ref": "other.json#/x"}`)); err == nil {
		t.Error("a non-local $ref was accepted")
	}
}

func TestValidate(t *testing.T) {
	s, err := Parse([]byte(`{"type": "object", "required": ["n"], "additionalProperties": false,
		"properties": {"n": {"type": "integer", "minimum": 0}, "k": {"enum": ["a", "b"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]string{
		`{"n": 18446744073709551615}`: "",
		`{"n": -1}`:                   "minimum",
		`{"n": 1.5}`:                  "integer",
		`{}`:                          `"n" is missing`,
		`{"n": 1, "k": "c"}`:          "is not one of",
		`{"n": 1, "x": 1}`:            `"x" is not allowed`,
		`{"n": 1} {}`:                 "trailing data",
	} {
		got := strings.Join(s.Validate([]byte(doc)), "\n")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("Validate(%s) = %q, want %q", doc, got, want)
		}
	}
}
