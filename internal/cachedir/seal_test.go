package cachedir

import (
	"strings"
	"testing"
)

func TestSealUnseal(t *testing.T) {
	data := Seal([]byte("fmt 1\nkey\nline a\n"))
	rest, err := Unseal(data, "fmt 1\nkey\n")
	if err != nil || string(rest) != "line a\n" {
		t.Fatalf("Unseal = %q, %v", rest, err)
	}
	for name, c := range map[string]struct {
		data []byte
		head string
		want string
	}{
		"another key": {data, "fmt 1\nother\n", "another format or key"},
		"flipped":     {[]byte(strings.Replace(string(data), "line a", "line b", 1)), "fmt 1\nkey\n", "bad checksum"},
		"torn":        {data[:len(data)-3], "fmt 1\nkey\n", "no checksum"},
		"none":        {[]byte("fmt 1\nkey\n"), "fmt 1\nkey\n", "no checksum"},
	} {
		if _, err := Unseal(c.data, c.head); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
