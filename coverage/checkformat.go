package coverage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
)

// CheckSchema names the JSON form of a check result (`vsysbed report
// check --format json`, docs/report.md).
const CheckSchema = "vsysbed.check/v1"

// checkJSON is the JSON form of a CheckResult.
type checkJSON struct {
	Schema        string        `json:"schema"`
	OK            bool          `json:"ok"`
	Command       []string      `json:"command"`
	BypassPercent float64       `json:"bypass_percent"`
	Bypass        uint64        `json:"bypass"`
	Entered       uint64        `json:"entered"`
	TrapSites     int           `json:"trap_sites"`
	NewTrapSites  *int          `json:"new_trap_sites,omitempty"`
	Gates         checkGates    `json:"gates"`
	Failures      []checkFailed `json:"failures"`
}

// checkGates are the gates that were set; absent ones were off.
type checkGates struct {
	MinBypass    *float64 `json:"min_bypass,omitempty"`
	NoNewTraps   bool     `json:"no_new_traps,omitempty"`
	MaxTrapSites *int     `json:"max_trap_sites,omitempty"`
	// Personality: the personality gate's name (report check --personality).
	Personality string `json:"personality,omitempty"`
}

type checkFailed struct {
	Gate   string `json:"gate"`
	Reason string `json:"reason"`
	Sites  []Site `json:"sites"`
}

// WriteJSON writes the result as one JSON document (CheckSchema): the
// headline numbers, the gates that were set, and each failed gate with
// every offending site in the report's site form.
func (c *CheckResult) WriteJSON(w io.Writer) error {
	doc := checkJSON{
		Schema: CheckSchema, OK: c.OK(), Command: c.Command,
		BypassPercent: c.BypassPercent, Bypass: c.Bypass, Entered: c.Entered,
		TrapSites: c.TrapSites, Failures: []checkFailed{},
		Gates: checkGates{MinBypass: c.Gates.MinBypass, NoNewTraps: c.Gates.NoNewTrapsSince != nil, MaxTrapSites: c.Gates.MaxTrapSites},
	}
	if c.Gates.Personality != nil {
		doc.Gates.Personality = c.Gates.Personality.Name
	}
	if doc.Command == nil {
		doc.Command = []string{}
	}
	if c.Gates.NoNewTrapsSince != nil {
		n := c.NewTrapSites
		doc.NewTrapSites = &n
	}
	for _, f := range c.Failures {
		sites := f.Sites
		if sites == nil {
			sites = []Site{}
		}
		doc.Failures = append(doc.Failures, checkFailed{Gate: f.Gate, Reason: f.Reason, Sites: sites})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// JUnit XML, as CI systems read it (one testsuite, one testcase a gate).
type junitSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []junitSet `xml:"testsuite"`
}

type junitSet struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the result as JUnit XML: one testcase per gate that
// was set (a "report" testcase when none was), a failed gate's reason as
// the failure message and its offending sites as the failure text.
func (c *CheckResult) WriteJUnit(w io.Writer) error {
	set := junitSet{Name: "vsysbed report check", Properties: []junitProperty{
		{"command", strings.Join(c.Command, " ")},
		{"bypass_percent", formatPercent(c.BypassPercent)},
	}}
	failed := map[string]GateFailure{}
	for _, f := range c.Failures {
		failed[f.Gate] = f
	}
	var gates []string
	if c.Gates.MinBypass != nil {
		gates = append(gates, GateMinBypass)
	}
	if c.Gates.NoNewTrapsSince != nil {
		gates = append(gates, GateNoNewTraps)
	}
	if c.Gates.MaxTrapSites != nil {
		gates = append(gates, GateMaxTrapSites)
	}
	if len(gates) == 0 {
		gates = []string{"report"}
	}
	var summary bytes.Buffer
	if err := c.WriteText(&summary); err != nil {
		return err
	}
	for _, g := range gates {
		tc := junitCase{Name: g, ClassName: "vsysbed.check"}
		if f, ok := failed[g]; ok {
			var sites bytes.Buffer
			bw := bufio.NewWriter(&sites)
			writeSiteList(lineWriter(bw), "offending sites", f.Sites, CheckSitesShown)
			bw.Flush()
			tc.Failure = &junitFailure{Message: f.Reason, Type: g, Text: sites.String()}
			set.Failures++
		} else {
			tc.SystemOut = summary.String()
		}
		set.Cases = append(set.Cases, tc)
	}
	set.Tests = len(set.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSet{set}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
