// Package procmaps reads a process's /proc/PID/maps, for the supervisor
// and the ptrace platform, which place the call sites of a process that
// is not their own (its executable file mappings become the event log's
// map events).
package procmaps

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vsysbed/vsysbed/coverage"
)

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End, Offset uint64
	Exec               bool
	Path               string
}

// Read parses /proc/PID/maps.
func Read(pid int) ([]Mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(bufio.NewScanner(f))
}

// Parse parses the lines of a maps file.
func Parse(sc *bufio.Scanner) ([]Mapping, error) {
	var out []Mapping
	for line := 1; sc.Scan(); line++ {
		// start-end perms offset dev inode [path]; the path may hold spaces.
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 5 {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return nil, fmt.Errorf("maps line %d: too few fields: %q", line, sc.Text())
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || start >= end || len(fields[1]) != 4 {
			return nil, fmt.Errorf("maps line %d: malformed: %q", line, sc.Text())
		}
		m := Mapping{Start: start, End: end, Offset: off, Exec: fields[1][2] == 'x'}
		if len(fields) == 6 {
			m.Path = strings.TrimLeft(fields[5], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Events turns a process's executable mappings into the map events
// coverage resolves sites with.
func Events(maps []Mapping) []coverage.Event {
	var evs []coverage.Event
	for _, m := range maps {
		if m.Exec && m.Path != "" {
			evs = append(evs, coverage.Event{Ev: coverage.EvMap, Start: coverage.Hex(m.Start),
				End: coverage.Hex(m.End), Offset: coverage.Hex(m.Offset), Path: m.Path})
		}
	}
	return evs
}
