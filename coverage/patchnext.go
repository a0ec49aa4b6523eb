package coverage

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// PatchGroup is one line of "what to patch next": the trapped calls one
// piece of code made, with what they cost and what bypassing them would
// save.
type PatchGroup struct {
	Object string `json:"object"`
	// Code names the piece of code: a function, a source line many
	// functions share (a wrapper template such as glibc's
	// syscall-template.S), "simple wrappers" or "start-up".
	Code string `json:"code"`
	// Kind is what Code is: PatchFunction, PatchTemplate, PatchStub,
	// PatchWrappers, PatchStartup or PatchUnknown.
	Kind      string   `json:"kind"`
	Functions []string `json:"functions"`
	Syscalls  []string `json:"syscalls"`
	Sites     int      `json:"sites"`
	Calls     uint64   `json:"calls"`
	// TimeNs is the time the group's calls took; SavingNs what they would
	// have taken less through __kernel_vsyscall (SavingPerCall). Absent
	// without times (--timing=off).
	TimeNs   uint64 `json:"time_ns,omitempty"`
	SavingNs uint64 `json:"saving_ns,omitempty"`
}

// PatchGroup kinds.
const (
	// PatchFunction: the trapped sites of one function.
	PatchFunction = "function"
	// PatchTemplate: the wrappers one template generates, fixed once in
	// the template: several functions of one assembly file (glibc's
	// syscall-template.S for its syscalls.list), or at one source line (a
	// macro or inline function).
	PatchTemplate = "template"
	// PatchStub: one function of an assembly file (clone.S, syscall.S).
	PatchStub = "stub"
	// PatchWrappers: functions that are `mov $nr,%eax; syscall` at their
	// start (the site 5 bytes into the function), the shape of generated
	// wrappers, when no line table names their template.
	PatchWrappers = "wrappers"
	// PatchStartup: the dynamic loader's or a libc's start-up code, which
	// runs before the libc has found __kernel_vsyscall in the auxv.
	PatchStartup = "startup"
	// PatchUnknown: sites in no known function.
	PatchUnknown = "unknown"
)

// startupFunctions are the start-up code of glibc and musl that makes
// syscalls before the vDSO is known (static binaries; ld.so's own code is
// start-up whatever the function).
var startupFunctions = map[string]bool{
	"_start": true, "_dl_start": true, "_dl_sysdep_start": true, "_dl_start_final": true,
	"__libc_start_main": true, "__libc_setup_tls": true, "__libc_init_secure": true,
	"_dl_relocate_static_pie": true, "_dl_non_dynamic_init": true, "__tunables_init": true,
	"_dl_discover_osversion": true, "_dl_early_allocate": true, "__libc_init_first": true,
	"_dl_aux_init": true, "__init_libc": true, "__init_tls": true, "__init_tp": true,
	"__dls2": true, "__dls2b": true, "__dls3": true, "__libc_start_init": true,
	"static_init_tls": true, "__set_thread_area": true, "__init_ssp": true,
}

// isLoader tells whether object is a dynamic loader (ld-linux-x86-64.so.2,
// ld-musl-x86_64.so.1).
func isLoader(object string) bool {
	b := filepath.Base(object)
	return strings.HasPrefix(b, "ld-linux") || strings.HasPrefix(b, "ld-musl") || strings.HasPrefix(b, "ld.so")
}

// SavingPerCall is what one trapped call of nr would save through
// __kernel_vsyscall, in ns: this run's trap mean less its bypass mean for
// that syscall when it has both; else the host's calibrated trap less
// bypass fast path (vsysbed calibrate); else the run's trap mean less its
// bypass mean over every syscall. A run's trap times start in the SIGSYS
// handler: the calibrated signal delivery, when the report has it, is
// added to the first and the last. Never negative; 0 without times.
func (r *Report) SavingPerCall(nr int) uint64 {
	trapPath, deliveryPath := PathTrap, PathDelivery
	if r.TrapMode == "sud" {
		trapPath, deliveryPath = PathTrapSUD, PathDeliverySUD
	}
	delivery, _ := r.Timing.Cost(deliveryPath)
	for _, row := range r.Syscalls {
		if row.Nr == nr && row.Int80 == 0 && row.Trap > 0 && row.Bypass > 0 &&
			row.TimeNs.Trap > 0 && row.TimeNs.Bypass > 0 {
			return sub(row.MeanNs.Trap+uint64(delivery), row.MeanNs.Bypass)
		}
	}
	if t, ok := r.Timing.Cost(trapPath); ok {
		if b, ok := r.Timing.Cost(PathBypassFast); ok && t > b {
			return uint64(t - b)
		}
	}
	if m := r.Totals.MeanNs; r.Totals.TimeNs.Trap > 0 && r.Totals.TimeNs.Bypass > 0 {
		return sub(m.Trap+uint64(delivery), m.Bypass)
	}
	return 0
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// PatchNextOf groups r's trapped sites by the code that made them, the
// largest saving first, then the most calls; nil when nothing trapped.
// Per object: its start-up code (the dynamic loader, a libc's start-up
// functions) is one group, each assembly file one (a template of many
// wrappers or a stub), a source line several functions share one (a
// macro's), its simple wrappers without line tables one, and each other
// function one.
func PatchNextOf(r *Report) []PatchGroup {
	type key struct{ object, code, kind string }
	// Source lines shared by several functions: a template's.
	lineFuncs := map[[3]string]map[string]bool{}
	for _, s := range r.Sites {
		if s.Kind == KindTrap && s.File != "" && s.Function != "" {
			k := [3]string{s.Object, s.File, strconv.Itoa(s.Line)}
			if lineFuncs[k] == nil {
				lineFuncs[k] = map[string]bool{}
			}
			lineFuncs[k][s.Function] = true
		}
	}
	groups := map[key]*PatchGroup{}
	funcs := map[key]map[string]bool{}
	calls := map[key]map[string]bool{}
	var order []key
	saving := map[int]uint64{}
	for _, s := range r.Sites {
		if s.Kind != KindTrap {
			continue
		}
		var k key
		switch {
		case isLoader(s.Object) || startupFunctions[s.Function]:
			k = key{s.Object, "start-up", PatchStartup}
		case strings.HasSuffix(s.File, ".S"):
			k = key{s.Object, filepath.Base(s.File), PatchStub} // PatchTemplate with several functions
		case s.File != "" && len(lineFuncs[[3]string{s.Object, s.File, strconv.Itoa(s.Line)}]) > 1:
			k = key{s.Object, filepath.Base(s.File) + ":" + strconv.Itoa(s.Line), PatchTemplate}
		case s.Function != "" && s.Symbol == s.Function+"+0x5":
			k = key{s.Object, "simple wrappers (mov $nr,%eax; syscall)", PatchWrappers}
		case s.Function != "":
			k = key{s.Object, s.Function, PatchFunction}
		default:
			k = key{s.Object, "?", PatchUnknown}
		}
		g := groups[k]
		if g == nil {
			g = &PatchGroup{Object: k.object, Code: k.code, Kind: k.kind}
			groups[k] = g
			funcs[k], calls[k] = map[string]bool{}, map[string]bool{}
			order = append(order, k)
		}
		if s.Function != "" {
			funcs[k][s.Function] = true
		}
		calls[k][s.Syscall] = true
		g.Sites++
		g.Calls += s.Count
		g.TimeNs += s.TimeNs
		per, ok := saving[s.Nr]
		if !ok {
			per = r.SavingPerCall(s.Nr)
			saving[s.Nr] = per
		}
		g.SavingNs += per * s.Count
	}
	if len(order) == 0 {
		return nil
	}
	out := make([]PatchGroup, 0, len(order))
	for _, k := range order {
		g := groups[k]
		g.Functions, g.Syscalls = sortedKeys(funcs[k]), sortedKeys(calls[k])
		if g.Kind == PatchStub && len(g.Functions) > 1 {
			g.Kind = PatchTemplate
		}
		out = append(out, *g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		switch {
		case a.SavingNs != b.SavingNs:
			return a.SavingNs > b.SavingNs
		case a.Calls != b.Calls:
			return a.Calls > b.Calls
		case a.Object != b.Object:
			return a.Object < b.Object
		}
		return a.Code < b.Code
	})
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
