package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// report mirrors the vsysbed.report/v1 JSON document.
type report struct {
	Schema  string     `json:"schema"`
	Command []string   `json:"command"`
	Exit    reportExit `json:"exit"`
	// Host is how the supervisor saw the host process end.
	Host             reportExit      `json:"host"`
	Complete         bool            `json:"complete"`
	IncompleteReason string          `json:"incomplete_reason"`
	TrapMode         string          `json:"trap_mode"`
	Totals           counts          `json:"totals"`
	Syscalls         []syscallCounts `json:"syscalls"`
	Sites            []site          `json:"sites"`
	Errors           []any           `json:"errors"`
}

// reportExit is the report's exit status of the guest or the host process.
type reportExit struct {
	Code   int    `json:"code"`
	Signal string `json:"signal"`
}

type counts struct {
	Bypass int64 `json:"bypass"`
	Trap   int64 `json:"trap"`
	VDSO   int64 `json:"vdso"`
	Int80  int64 `json:"int80"`
	// Patched: raw syscalls through sites --rewrite=lazy (the default)
	// rewrote after a trap there.
	Patched int64 `json:"patched"`
}

type syscallCounts struct {
	Nr   int    `json:"nr"`
	Name string `json:"name"`
	counts
}

type site struct {
	Address string `json:"address"`
	Object  string `json:"object"`
	Offset  string `json:"offset"`
	Symbol  string `json:"symbol"`
	Syscall string `json:"syscall"`
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
}

const reportSchema = "vsysbed.report/v1"

func loadReport(path string) report {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred(), "vsysbed wrote no report at %s", path)
	var r report
	Expect(json.Unmarshal(data, &r)).To(Succeed(), "report %s is not valid JSON:\n%s", path, clip(string(data)))
	return r
}

// checkReport applies the invariants every report must satisfy, whatever
// the guest: the schema, counts that add up, sites that say where they
// are, and the exit the guest really had.
func checkReport(r report, argv []string, status int) {
	GinkgoHelper()
	Expect(r.Schema).To(Equal(reportSchema))
	Expect(r.Complete).To(BeTrue(), "report not complete; errors: %v", r.Errors)
	Expect(r.Command).To(HaveLen(len(argv)), "command %q for argv %q", r.Command, argv)
	Expect(r.Command[1:]).To(Equal(argv[1:]), "command arguments")

	var sum counts
	for _, s := range r.Syscalls {
		sum.Bypass += s.Bypass
		sum.Trap += s.Trap
		sum.VDSO += s.VDSO
		sum.Int80 += s.Int80
		sum.Patched += s.Patched
	}
	Expect(sum).To(Equal(r.Totals), "totals must equal the sum over syscalls")
	Expect(r.Totals.Bypass+r.Totals.Trap).To(BeNumerically(">", 0),
		"every program makes at least one syscall (exit_group)")

	var bySite counts
	// By address alone: a site that takes its number from a register
	// (the Go runtime's Syscall6) is rewritten at one number's trap and
	// makes the others' calls through the stub.
	trapped := map[string]bool{}
	for _, s := range r.Sites {
		if s.Kind == "trap" {
			trapped[s.Address] = true
		}
	}
	for _, s := range r.Sites {
		Expect(s.Object).NotTo(BeEmpty(), "site without object: %+v", s)
		Expect(isHex(s.Offset)).To(BeTrue(), "site offset must be 0x-hex: %+v", s)
		Expect(isHex(s.Address)).To(BeTrue(), "site address must be 0x-hex: %+v", s)
		Expect(s.Count).To(BeNumerically(">", 0), "site with no calls: %+v", s)
		switch s.Kind {
		case "bypass":
			bySite.Bypass += s.Count
		case "trap":
			bySite.Trap += s.Count
		case "int80":
			bySite.Int80 += s.Count
		case "patched":
			bySite.Patched += s.Count
			// A site is rewritten after a trap there, in this tree.
			Expect(trapped).To(HaveKey(s.Address), "patched site that never trapped: %+v", s)
		default:
			Fail(fmt.Sprintf("site kind %q is neither bypass, trap, int80 nor patched: %+v", s.Kind, s))
		}
	}
	Expect(bySite.Bypass).To(Equal(r.Totals.Bypass), "bypass site counts vs totals")
	Expect(bySite.Trap).To(Equal(r.Totals.Trap), "trap site counts vs totals")
	Expect(bySite.Int80).To(Equal(r.Totals.Int80), "int80 site counts vs totals")
	Expect(bySite.Patched).To(Equal(r.Totals.Patched), "patched site counts vs totals")

	if status > 128 {
		Expect(r.Exit.Signal).To(Equal(signalName(status-128)), "exit signal in report")
	} else {
		Expect(r.Exit.Signal).To(BeEmpty(), "exit signal in report")
		Expect(r.Exit.Code).To(Equal(status), "exit code in report")
	}
}

func isHex(s string) bool {
	if !strings.HasPrefix(s, "0x") || len(s) < 3 {
		return false
	}
	_, err := strconv.ParseUint(s[2:], 16, 64)
	return err == nil
}

// signalName spells signals the way the report does ("SIGSEGV").
func signalName(n int) string {
	names := map[int]string{2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}
	if s, ok := names[n]; ok {
		return s
	}
	return fmt.Sprintf("signal %d", n)
}

// sitesAt returns the sites of kind for syscall name whose object is the
// file at path (compared as files, so relative paths and links match).
func sitesAt(r report, kind, name, path string) []site {
	want, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	var out []site
	for _, s := range r.Sites {
		if s.Kind != kind || s.Syscall != name {
			continue
		}
		if st, err := os.Stat(s.Object); err == nil && os.SameFile(st, want) {
			out = append(out, s)
		} else if err != nil && filepath.Base(s.Object) == filepath.Base(path) {
			out = append(out, s)
		}
	}
	return out
}

func syscallByName(r report, name string) (syscallCounts, bool) {
	for _, s := range r.Syscalls {
		if s.Name == name {
			return s, true
		}
	}
	return syscallCounts{}, false
}
