package kernelsim

import (
	"strings"
	"testing"
)

func TestParseProcSelf(t *testing.T) {
	for path, want := range map[string]*procTarget{
		"/proc/self/status":                                   {"status", 0},
		"/proc/thread-self/stat":                              {"stat", 77},
		"/proc/" + itoa(pid) + "/comm":                        {"comm", 0},
		"/proc/self/task/12/status":                           {"status", 12},
		"/proc/" + itoa(pid) + "/task/" + itoa(pid) + "/stat": {"stat", pid},
		"/proc/" + itoa(pid+1) + "/status":                    nil,
		"/proc/self/task/x/status":                            nil,
		"/proc/self/task/12":                                  nil,
		"/proc/self/fd/3":                                     nil,
	} {
		got, ok := parseProcSelf(path, 77)
		if want == nil {
			if ok {
				t.Errorf("parseProcSelf(%q) = %+v, want none", path, got)
			}
			continue
		}
		if !ok || got != *want {
			t.Errorf("parseProcSelf(%q) = %+v %v, want %+v", path, got, ok, *want)
		}
	}
}

func TestGuestStatus(t *testing.T) {
	host := "Name:\tvsysbed\nThreads:\t9\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n" +
		"SigBlk:\tfffffffe3bfa3a00\nSigIgn:\t0000000000000000\nSigCgt:\tfffffffe7ffbfeff\n" +
		"NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\nVoluntary_ctxt_switches:\t5\n"
	v := sigView{threads: 3, pending: 1 << 10, blocked: 1 << 11, ignored: 1 << 12, caught: 1<<9 | 1<<32}
	got := string(guestStatus([]byte(host), v, Confinement{Seccomp: "0", SeccompFilters: "0", NoNewPrivs: "0"}))
	want := "Name:\tvsysbed\nThreads:\t3\nSigPnd:\t0000000000000400\nShdPnd:\t0000000000000000\n" +
		"SigBlk:\t0000000000000800\nSigIgn:\t0000000000001000\nSigCgt:\t0000000100000200\n" +
		"NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\nVoluntary_ctxt_switches:\t5\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGuestStat(t *testing.T) {
	// A command name with spaces and a ')' of its own.
	fields := make([]string, 50)
	for i := range fields {
		fields[i] = itoa(i + 3)
	}
	host := "42 (a b) c) " + strings.Join(fields, " ") + "\n"
	v := sigView{threads: 2, pending: 1, shared: 2, blocked: 1 << 40, ignored: 4, caught: 1<<9 | 1<<32}
	got := strings.Fields(string(guestStat([]byte(host), v))[len("42 (a b) c) "):])
	at := func(n int) string { return got[n-3] }
	if at(20) != "2" || at(31) != "3" || at(32) != "0" || at(33) != "4" || at(34) != "512" || at(35) != "35" || at(19) != "19" {
		t.Errorf("fields: %v", got)
	}
}

func TestTracedView(t *testing.T) {
	conf := Confinement{Seccomp: "0", SeccompFilters: "0", NoNewPrivs: "0"}
	status := "Name:\tx\nState:\tt (tracing stop)\nTracerPid:\t4275\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
	got := string(TracedView("status", []byte(status), conf, false, false))
	want := "Name:\tx\nState:\tR (running)\nTracerPid:\t0\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
	if got != want {
		t.Errorf("status:\n%s\nwant:\n%s", got, want)
	}
	if got := string(TracedView("status", []byte(status), conf, true, true)); !strings.Contains(got, "State:\tT (stopped)\n") || !strings.Contains(got, "NoNewPrivs:\t1\n") {
		t.Errorf("stopped, no_new_privs set:\n%s", got)
	}
	stat := "12 (a b) c) t 1 12 12 0 -1\n"
	if got := string(TracedView("stat", []byte(stat), conf, false, false)); got != "12 (a b) c) R 1 12 12 0 -1\n" {
		t.Errorf("stat: %q", got)
	}
	if got := string(TracedView("stat", []byte("12 (x) S 1 2\n"), conf, false, false)); got != "12 (x) S 1 2\n" {
		t.Errorf("stat asleep: %q", got)
	}
}
