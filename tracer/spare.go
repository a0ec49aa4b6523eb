package tracer

import (
	"bytes"
	"os"
	"strconv"
)

// idleSpare: p is a spare host process (platform/inprocess/pool.go) that
// no fork was handed to yet — a re-exec of vsysbed with --spare, still in
// the process group of its own it starts in. It is no process of the
// guest's: a signal forwarded to the tree or --wait=main's list of what
// still runs leaves it out (it dies with its parent anyway).
func idleSpare(p int) bool {
	f, ok := statFields(p)
	if !ok || len(f) < 3 || f[2] != strconv.Itoa(p) {
		return false
	}
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
	return err == nil && bytes.Contains(cmd, []byte("\x00--spare\x00"))
}
