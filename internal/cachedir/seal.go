package cachedir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// The cache files share one layout: a head (the format and the key the
// answers depend on), the body, and a last line "sum SHA256" over
// everything before it, so that a torn or edited file reads as a miss.

// Seal appends the checksum line to body, which ends in a newline.
func Seal(body []byte) []byte {
	return append(body, "sum "+Sum(body)+"\n"...)
}

// Sum is the checksum Seal writes for body.
func Sum(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Unseal checks data's checksum line and that its body starts with head,
// and returns the body after head.
func Unseal(data []byte, head string) ([]byte, error) {
	i := bytes.LastIndex(data, []byte("sum "))
	if i < 0 || !bytes.HasSuffix(data, []byte("\n")) {
		return nil, errors.New("no checksum")
	}
	body := data[:i]
	if strings.TrimSpace(string(data[i+len("sum "):])) != Sum(body) {
		return nil, errors.New("bad checksum")
	}
	if !bytes.HasPrefix(body, []byte(head)) {
		return nil, errors.New("another format or key")
	}
	return body[len(head):], nil
}
