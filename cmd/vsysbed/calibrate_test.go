package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vsysbed/vsysbed/coverage"
)

// TestCalibrationTable: the bench runs' figures land in their rows, the
// signal delivery is the whole trap less the span the run's report timed,
// and a run that failed leaves its rows out.
func TestCalibrationTable(t *testing.T) {
	report := &coverage.Report{Syscalls: []coverage.SyscallRow{
		{Name: "getpid", Trap: 10, MeanNs: coverage.KindTimes{Trap: 1200}},
	}}
	runs := map[string]*calibrateRun{
		"native":  {metrics: map[string]float64{"getpid_raw": 100}},
		"seccomp": {metrics: map[string]float64{"getpid_raw": 3000, "getpid_vsyscall": 150}, report: report},
		"kernel":  {metrics: map[string]float64{"getpid_vsyscall": 900}},
		"lazy":    {metrics: map[string]float64{"getpid_wrapper": 250}},
		// no sud run (it failed), a ptrace run without the metric
		"ptrace": {metrics: map[string]float64{}},
	}
	got := map[string]float64{}
	var order []string
	for _, c := range calibrationTable(runs, 10) {
		got[c.Path] = c.Ns
		order = append(order, c.Path)
	}
	want := map[string]float64{
		coverage.PathNative: 100, coverage.PathBypassFast: 150, coverage.PathBypassGo: 900,
		coverage.PathTrap: 3000, coverage.PathDelivery: 1800, coverage.PathPatched: 250,
	}
	for path, ns := range want {
		if got[path] != ns {
			t.Errorf("%s = %v, want %v", path, got[path], ns)
		}
	}
	for _, path := range []string{coverage.PathTrapSUD, coverage.PathDeliverySUD, pathPtrace} {
		if _, ok := got[path]; ok {
			t.Errorf("%s present without its run", path)
		}
	}
	for _, path := range []string{pathArchPrctl, pathCgoCall, pathCgoCallback, pathTiming} {
		if _, ok := got[path]; !ok {
			t.Errorf("%s missing: %v", path, order)
		}
	}
	var b bytes.Buffer
	writeCalibration(&b, calibrationTable(runs, 10), 2e9, "cpuid")
	var row string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, coverage.PathTrap+" ") {
			row = strings.Join(strings.Fields(l), " ")
		}
	}
	if row != "trap, seccomp 3000.0 30.00x" || !strings.Contains(b.String(), "(TSC 2.000 GHz, cpuid;") {
		t.Errorf("table:\n%s", b.String())
	}
}
