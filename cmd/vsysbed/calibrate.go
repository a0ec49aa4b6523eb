package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls"
	"github.com/vsysbed/vsysbed/tracer"
)

// Calibrated paths beyond those a report's saving reads (coverage.Path*).
const (
	pathPtrace      = "ptrace stop"
	pathWRFSBASE    = "FS switch, wrfsbase"
	pathArchPrctl   = "FS switch, arch_prctl"
	pathCgoCall     = "cgo call (Go to C)"
	pathCgoCallback = "cgo callback (C to Go)"
	pathTiming      = "timing a call (--timing=on less off)"
)

// calibrateRun is one run of the bench guest: natively (no flags) or
// under vsysbed run with flags; its "name ns" lines and its report.
type calibrateRun struct {
	metrics map[string]float64
	report  *coverage.Report
}

// cmdCalibrate measures what each mechanism costs on this machine, with
// the bench guest `make bench` runs (getpid a call, each path in a run of
// its own), prints one table and caches it for reports (tracer.
// StoreCalibration): a report then records the host's figures.
func cmdCalibrate(args []string, stderr io.Writer) int {
	fs := newFlagSet("calibrate", func(w io.Writer, fs *flag.FlagSet) {
		fmt.Fprintf(w, "usage: vsysbed calibrate [--bench FILE] [--iterations N] [--no-cache] [--timing-overhead]\n\n"+
			"Measures what each way into vsysbed costs on this machine (native syscall, bypass,\n"+
			"trap with seccomp and SUD, patched site, ptrace stop, FS switch, cgo) and prints one\n"+
			"table; reports of later runs record it (timing.costs).\n\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	})
	self, _ := os.Executable()
	bench := fs.String("bench", defaultBench(self), "the bench guest (`make guests` builds build/guests/bench)")
	iterations := fs.Int("iterations", 100000, "calls a path (a tenth of it on the ptrace platform)")
	noCache := fs.Bool("no-cache", false, "print the table only: do not cache it for reports")
	overheadOnly := fs.Bool("timing-overhead", false, "print only what timing adds to a call (make bench), measured in this process")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "calibrate", "takes no arguments, got %q", fs.Args())
	}
	if *iterations <= 0 {
		return usageError(stderr, "calibrate", "--iterations must be positive, got %d", *iterations)
	}
	if *overheadOnly {
		hz, _ := tracer.TSCHz()
		cycles, err := tls.CalibrateTimingOverhead(*iterations)
		if err != nil || hz == 0 {
			fmt.Fprintf(stderr, "vsysbed: calibrate: %v (TSC %d Hz)\n", err, hz)
			return 125
		}
		fmt.Printf("timing overhead per call (isolated: an entry counted and timed less counted): %.1f cycles, %.1f ns\n",
			cycles, cycles*1e9/float64(hz))
		return 0
	}
	if _, err := os.Stat(*bench); err != nil {
		return usageError(stderr, "calibrate", "needs the bench guest: %v (make guests, or --bench FILE)", err)
	}
	n := strconv.Itoa(*iterations)
	runs := map[string]*calibrateRun{}
	for _, c := range []struct {
		name  string
		flags []string
		n     string
	}{
		{"native", nil, n},
		{"seccomp", []string{"--trap", "seccomp", "--rewrite=off"}, n},
		{"sud", []string{"--trap", "sud", "--rewrite=off"}, n},
		{"kernel", []string{"--route", "getpid=kernel", "--rewrite=off"}, n},
		{"lazy", []string{"--rewrite=lazy"}, n},
		{"ptrace", []string{"--platform=ptrace"}, strconv.Itoa(max(*iterations/10, 1))},
	} {
		r, err := runBench(self, *bench, c.flags, c.n)
		if err != nil {
			fmt.Fprintf(stderr, "vsysbed: calibrate: the %s run: %v\n", c.name, err)
			if c.name == "native" || c.name == "seccomp" {
				return 125
			}
			continue
		}
		runs[c.name] = r
	}
	costs := calibrationTable(runs, *iterations)
	hz, source := tracer.TSCHz()
	writeCalibration(os.Stdout, costs, hz, source)
	if !*noCache {
		if err := tracer.StoreCalibration(costs, time.Now().UTC().Format(time.RFC3339)); err != nil {
			fmt.Fprintf(stderr, "vsysbed: calibrate: not cached: %v\n", err)
		} else {
			fmt.Println("cached for this machine and vsysbed binary: later reports record it (timing.costs)")
		}
	}
	return 0
}

// defaultBench is the bench guest beside a build tree's vsysbed
// (build/vsysbed, build/guests/bench).
func defaultBench(self string) string {
	if b := os.Getenv("VSYSBED_BENCH"); b != "" {
		return b
	}
	return filepath.Join(filepath.Dir(self), "guests", "bench")
}

// runBench runs the bench guest natively (flags nil) or under `vsysbed run
// flags`, and reads its output and report.
func runBench(self, bench string, flags []string, n string) (*calibrateRun, error) {
	var cmd *exec.Cmd
	var report string
	if flags == nil {
		cmd = exec.Command(bench, n)
	} else {
		dir, err := os.MkdirTemp("", "vsysbed-calibrate-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		report = filepath.Join(dir, "report.json")
		argv := append([]string{"run", "--report", report}, flags...)
		cmd = exec.Command(self, append(argv, "--", bench, n)...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	r := &calibrateRun{metrics: map[string]float64{}}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				r.metrics[f[0]] = v
			}
		}
	}
	if report != "" {
		if rep, err := coverage.Load(report); err == nil {
			r.report = rep
		}
	}
	return r, nil
}

// calibrationTable is the table's rows, in the order printed: each
// path's ns a call, from the bench runs and from this process (FS
// switches, cgo).
func calibrationTable(runs map[string]*calibrateRun, iterations int) []coverage.PathCost {
	var out []coverage.PathCost
	add := func(path, run, metric string) float64 {
		r := runs[run]
		if r == nil {
			return 0
		}
		v, ok := r.metrics[metric]
		if !ok {
			return 0
		}
		out = append(out, coverage.PathCost{Path: path, Ns: v})
		return v
	}
	// delivery: the part of a trap before its handler, which a report's
	// trap times leave out (the whole trap less the span the run timed).
	delivery := func(path, run string, trap float64) {
		r := runs[run]
		if r == nil || r.report == nil || trap == 0 {
			return
		}
		for _, row := range r.report.Syscalls {
			if row.Name == "getpid" && row.Trap > 0 && row.MeanNs.Trap > 0 && trap > float64(row.MeanNs.Trap) {
				out = append(out, coverage.PathCost{Path: path, Ns: trap - float64(row.MeanNs.Trap)})
			}
		}
	}
	add(coverage.PathNative, "native", "getpid_raw")
	add(coverage.PathBypassFast, "seccomp", "getpid_vsyscall")
	add(coverage.PathBypassGo, "kernel", "getpid_vsyscall")
	delivery(coverage.PathDelivery, "seccomp", add(coverage.PathTrap, "seccomp", "getpid_raw"))
	delivery(coverage.PathDeliverySUD, "sud", add(coverage.PathTrapSUD, "sud", "getpid_raw"))
	add(coverage.PathPatched, "lazy", "getpid_wrapper")
	add(pathPtrace, "ptrace", "getpid_raw")
	hz, _ := tracer.TSCHz()
	ns := func(cycles uint64, n int) float64 {
		if hz == 0 {
			return 0
		}
		return float64(cycles) * 1e9 / float64(hz) / float64(n)
	}
	if c, ok := tls.CalibrateWRFSBASE(iterations); ok {
		out = append(out, coverage.PathCost{Path: pathWRFSBASE, Ns: ns(c, iterations)})
	}
	out = append(out, coverage.PathCost{Path: pathArchPrctl, Ns: ns(tls.CalibrateArchPrctl(iterations), iterations)})
	out = append(out, coverage.PathCost{Path: pathCgoCall, Ns: ns(tls.CalibrateCgoCall(iterations), iterations)})
	out = append(out, coverage.PathCost{Path: pathCgoCallback, Ns: ns(tls.CalibrateCallback(iterations), iterations)})
	if c, err := tls.CalibrateTimingOverhead(iterations); err == nil && hz > 0 {
		out = append(out, coverage.PathCost{Path: pathTiming, Ns: max(c, 0) * 1e9 / float64(hz)})
	}
	return out
}

// writeCalibration prints the table: each path's ns a call and its ratio
// to the native syscall.
func writeCalibration(w io.Writer, costs []coverage.PathCost, hz uint64, source string) {
	native := 0.0
	for _, c := range costs {
		if c.Path == coverage.PathNative {
			native = c.Ns
		}
	}
	fmt.Fprintf(w, "%-36s %12s %10s\n", "path (getpid where a call)", "ns/call", "ratio")
	for _, c := range costs {
		ratio := "-"
		if native > 0 {
			ratio = strconv.FormatFloat(c.Ns/native, 'f', 2, 64) + "x"
		}
		fmt.Fprintf(w, "%-36s %12.1f %10s\n", c.Path, c.Ns, ratio)
	}
	fmt.Fprintf(w, "(TSC %.3f GHz, %s; ratios against the native syscall)\n", float64(hz)/1e9, source)
}
