package coverage

import (
	"encoding/json"
	"fmt"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Event kinds, the "ev" field of an event line.
const (
	EvExec  = "exec"
	EvMap   = "map"
	EvUnmap = "unmap"
	EvExit  = "exit"
	EvError = "error"
	EvFork  = "fork"
	// EvReaped: a guest parent's wait collected a child (Pid is the
	// parent, Child the child): the child's exit when it logged none.
	EvReaped = "reaped"
	// EvPhase: a start-up phase point (Phase, at T on CLOCK_MONOTONIC, in
	// ns; rundir.Phase* name them), for the timing line of `run -v`.
	EvPhase = "phase"
	// EvInject: a call an --inject rule changed (What is the rule), at
	// Site, entered by Kind; EvMissing: a call outside the run's
	// --personality (What names it), failed with ENOSYS.
	EvInject  = "inject"
	EvMissing = "missing"
	// EvRewrite: kernelsim's answer for a trapped site (--rewrite=lazy):
	// Rewrite is RewritePatched or why not, at Address (the syscall) for
	// Nr, after Traps traps the asking thread's block had counted there.
	EvRewrite = "rewrite"
)

// RewritePatched is an EvRewrite's Rewrite for a site rewritten.
const RewritePatched = "patched"

// Hex is a 64-bit address or offset, written as a "0x..." JSON string:
// JSON numbers are doubles to most readers and lose bits above 2^53.
type Hex uint64

// MarshalJSON writes the value as "0x<lowercase hex>".
func (h Hex) MarshalJSON() ([]byte, error) {
	return []byte(`"0x` + strconv.FormatUint(uint64(h), 16) + `"`), nil
}

// UnmarshalJSON accepts "0x..." (or decimal) strings and plain numbers.
func (h *Hex) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("bad hex value %s: %w", b, err)
	}
	*h = Hex(v)
	return nil
}

func (h Hex) String() string { return "0x" + strconv.FormatUint(uint64(h), 16) }

// Event is one line of the event log, the union of all event kinds; fields
// a kind does not use are zero.
type Event struct {
	Ev  string `json:"ev"`
	Pid int    `json:"pid,omitempty"`

	// exec
	Path   string   `json:"path,omitempty"` // also map
	Argv   []string `json:"argv,omitempty"`
	Interp string   `json:"interp,omitempty"`

	// map, unmap
	Start  Hex    `json:"start,omitempty"`
	End    Hex    `json:"end,omitempty"`
	Offset Hex    `json:"offset,omitempty"`
	Prot   string `json:"prot,omitempty"`

	// exit
	Code   int    `json:"code,omitempty"`
	Signal string `json:"signal,omitempty"`

	// phase (T also on exit: when the guest ended)
	Phase string `json:"phase,omitempty"`
	T     int64  `json:"t,omitempty"`
	Note  string `json:"note,omitempty"`

	// error
	Msg string `json:"msg,omitempty"`

	// fork: the new process (Pid) and the guest process that forked it
	Parent int `json:"parent,omitempty"`

	// reaped: the child a wait collected
	Child int `json:"child,omitempty"`

	// rewrite (Start... are not used: Address is the site)
	Address Hex    `json:"address,omitempty"`
	Nr      int    `json:"nr,omitempty"`
	Traps   uint64 `json:"traps,omitempty"`
	Rewrite string `json:"rewrite,omitempty"`
	// inject, missing: the call (Nr, where it entered: Site, Kind) and
	// the rule or personality (What)
	Site Hex    `json:"site,omitempty"`
	Kind string `json:"kind,omitempty"`
	What string `json:"what,omitempty"`
}

// SignalName is "SIGSEGV" for SIGSEGV, "" for 0 and "SIG<n>" for numbers
// without a name (real-time signals).
func SignalName(sig syscall.Signal) string {
	if sig == 0 {
		return ""
	}
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return "SIG" + strconv.Itoa(int(sig))
}
