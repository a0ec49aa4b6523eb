package tracer

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/internal/probecache"
	"github.com/vsysbed/vsysbed/tls"
)

// Values of Options.Timing (--timing).
const (
	TimingOn  = "on"
	TimingOff = "off"
)

// Cache names (internal/probecache values).
const (
	tscCacheName       = "tsc"
	calibrateCacheName = "calibrate"
)

// tscMeasure is how long the TSC is measured against CLOCK_MONOTONIC
// when cpuid does not state its rate: ~1e-5 of error (tls.MeasureTSCHz),
// once per boot (cached).
const tscMeasure = 5 * time.Millisecond

// HostTiming is what a report's times are converted with and read against
// on this machine: the TSC's rate (cpuid's, else measured once per boot
// and cached) and the per-path costs `vsysbed calibrate` cached for this
// vsysbed binary, if it ran. nil when the TSC's rate is unknown.
var HostTiming = sync.OnceValue(func() *coverage.Timing {
	hz, source := TSCHz()
	if hz == 0 {
		return nil
	}
	t := &coverage.Timing{TSCHz: hz, TSCSource: source}
	if costs, from, ok := LoadCalibration(); ok {
		t.Costs, t.CostsFrom = costs, from
	}
	return t
})

// TSCHz is the TSC's frequency and where it came from (tls.TSCFrom*).
func TSCHz() (uint64, string) {
	if hz := tls.CPUIDTSCHz(); hz > 0 {
		return hz, tls.TSCFromCPUID
	}
	dir, key := probecache.Dir(), probecache.MachineKey()
	if lines, ok := probecache.LoadValue(dir, tscCacheName, key); ok && len(lines) == 1 {
		if hz, err := strconv.ParseUint(lines[0], 10, 64); err == nil && hz > 0 {
			return hz, tls.TSCFromMeasured
		}
	}
	hz := tls.MeasureTSCHz(tscMeasure)
	if hz > 0 && dir != "" {
		probecache.StoreValue(dir, tscCacheName, key, []string{strconv.FormatUint(hz, 10)})
	}
	return hz, tls.TSCFromMeasured
}

// calibrationKey is what calibrate's figures depend on: this boot of the
// machine and this vsysbed binary.
func calibrationKey() string {
	key := probecache.MachineKey()
	if self, err := os.Executable(); err == nil {
		if id, size, err := probecache.ExeID(self); err == nil {
			key += "exe " + id + " " + strconv.FormatInt(size, 10) + "\n"
		}
	}
	return key
}

// StoreCalibration caches calibrate's table for this machine and binary;
// from says when it was measured.
func StoreCalibration(costs []coverage.PathCost, from string) error {
	lines := []string{"from " + from}
	for _, c := range costs {
		lines = append(lines, strconv.FormatFloat(c.Ns, 'f', 1, 64)+" "+c.Path)
	}
	return probecache.StoreValue(probecache.Dir(), calibrateCacheName, calibrationKey(), lines)
}

// LoadCalibration is the table StoreCalibration cached, if any.
func LoadCalibration() (costs []coverage.PathCost, from string, ok bool) {
	lines, ok := probecache.LoadValue(probecache.Dir(), calibrateCacheName, calibrationKey())
	if !ok || len(lines) == 0 || !strings.HasPrefix(lines[0], "from ") {
		return nil, "", false
	}
	from = strings.TrimPrefix(lines[0], "from ")
	for _, l := range lines[1:] {
		ns, path, found := strings.Cut(l, " ")
		v, err := strconv.ParseFloat(ns, 64)
		if !found || err != nil {
			return nil, "", false
		}
		costs = append(costs, coverage.PathCost{Path: path, Ns: v})
	}
	return costs, from, true
}
