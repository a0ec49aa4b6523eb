package bpf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// HostCodeRanges lists every executable mapping of the current process: the
// host binary, libc and ld.so when cgo is linked, [vdso] and [vsyscall].
// It is a snapshot: code mapped executable afterwards is not in it, so a
// filter built from it traps that code's syscalls too. [vsyscall] is kept
// because the kernel runs seccomp for emulated vsyscalls with the
// vsyscall page as the instruction pointer.
func HostCodeRanges() ([]Range, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("bpf: host code ranges: %w", err)
	}
	defer f.Close()
	return parseExecutableMappings(f)
}

// parseExecutableMappings reads /proc/<pid>/maps lines
// ("start-end perms offset dev inode [path]") and keeps those with x.
func parseExecutableMappings(r io.Reader) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 5 {
			return nil, fmt.Errorf("bpf: maps line %d: too few fields: %q", line, sc.Text())
		}
		bounds, perms := fields[0], fields[1]
		if len(perms) != 4 {
			return nil, fmt.Errorf("bpf: maps line %d: bad permissions %q", line, perms)
		}
		if perms[2] != 'x' {
			continue
		}
		lo, hi, ok := strings.Cut(bounds, "-")
		if !ok {
			return nil, fmt.Errorf("bpf: maps line %d: bad address range %q", line, bounds)
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || start >= end {
			return nil, fmt.Errorf("bpf: maps line %d: bad address range %q", line, bounds)
		}
		out = append(out, Range{Start: start, End: end})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bpf: reading maps: %w", err)
	}
	return out, nil
}
