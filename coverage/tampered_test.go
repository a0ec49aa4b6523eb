package coverage

import (
	"bytes"
	"strings"
	"testing"
)

// tamperedRun is a run whose chdir (nr 80) was injected twice of three
// calls at one site and whose rseq (334) was missing in its personality.
func tamperedRun(t *testing.T) *Report {
	t.Helper()
	const base = 0x7f0000000000
	sd := Shard{Pid: 7, TrapMode: "seccomp", Exit: &ExitStatus{Code: 0},
		Syscalls: []SyscallRow{{Nr: 80, Trap: 3, Errors: 2}, {Nr: 334, Trap: 1, Errors: 1}, {Nr: 1, Trap: 4}},
		Sites: []Site{{Address: base + 0x10, Nr: 80, Kind: KindTrap, Count: 3},
			{Address: base + 0x20, Nr: 334, Kind: KindTrap, Count: 1}, {Address: base + 0x30, Nr: 1, Kind: KindTrap, Count: 4}}}
	events := []Event{
		{Ev: EvMap, Pid: 7, Start: base, End: base + 0x1000, Path: libc},
		{Ev: EvInject, Pid: 7, Nr: 80, Site: base + 0x10, Kind: KindTrap, What: "chdir:error=ENOENT:when=2+"},
		{Ev: EvInject, Pid: 7, Nr: 80, Site: base + 0x10, Kind: KindTrap, What: "chdir:error=ENOENT:when=2+"},
		{Ev: EvMissing, Pid: 7, Nr: 334, Site: base + 0x20, Kind: KindTrap, What: "unikraft"},
		{Ev: EvExit, Pid: 7},
	}
	return Build(Input{Command: []string{"prog"}, Shards: []Shard{sd}, Events: events, HostPID: 7,
		Inject: []string{"chdir:error=ENOENT:when=2+"}, Personality: "unikraft",
		SyscallName: func(nr int) string { return map[int]string{1: "write", 80: "chdir", 334: "rseq"}[nr] }, NoSymbols: true})
}

func TestBuildCountsTamperedCalls(t *testing.T) {
	r := tamperedRun(t)
	got := map[string][2]uint64{}
	for _, row := range r.Syscalls {
		got[row.Name] = [2]uint64{row.Injected, row.Missing}
	}
	if got["chdir"] != [2]uint64{2, 0} || got["rseq"] != [2]uint64{0, 1} || got["write"] != [2]uint64{} {
		t.Errorf("rows (injected, missing): %v", got)
	}
	for _, s := range r.Sites {
		want := map[string][2]uint64{"chdir": {2, 0}, "rseq": {0, 1}, "write": {}}[s.Syscall]
		if [2]uint64{s.Injected, s.Missing} != want || s.Object != libc {
			t.Errorf("site %+v: want (injected, missing) %v", s, want)
		}
	}
	if r.Personality != "unikraft" || len(r.Inject) != 1 {
		t.Errorf("personality %q, inject %v", r.Personality, r.Inject)
	}
	expectValid(t, loadSchema(t), "tampered report", []byte(jsonOf(t, r)))

	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"injected (--inject chdir:error=ENOENT:when=2+): 2 calls at 1 sites",
		"  chdir  libc.so.6+0x10  2/3",
		"missing in unikraft (failed with ENOSYS): rseq",
		"  rseq  libc.so.6+0x20  1/1",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}

	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<h2 id="tampered">`, "<td>missing in unikraft</td><td class=\"num\">1</td>", "<td>injected</td><td class=\"num\">2</td><td class=\"num\">3</td><td class=\"mono\">chdir</td>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}

	m, err := Merge(r, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range m.Syscalls {
		if row.Name == "chdir" && row.Injected != 4 || row.Name == "rseq" && row.Missing != 2 {
			t.Errorf("merged row: %+v", row)
		}
	}
	for _, s := range m.Sites {
		if s.Syscall == "chdir" && s.Injected != 4 || s.Syscall == "rseq" && s.Missing != 2 {
			t.Errorf("merged site %+v", s)
		}
	}
}

func TestCheckPersonality(t *testing.T) {
	r := tamperedRun(t)
	// The run's own missing call fails even a personality with everything.
	res := Check(r, Gates{Personality: &PersonalityGate{Name: "linux"}})
	if res.OK() || !strings.Contains(res.Failures[0].Reason, "1 syscall(s) missing in linux: rseq") {
		t.Fatalf("linux: %+v", res.Failures)
	}
	res = Check(r, Gates{Personality: &PersonalityGate{Name: "tiny", Syscalls: []string{"rseq", "chdir"}}})
	if res.OK() || res.Failures[0].Reason != "2 syscall(s) missing in tiny: rseq, write" || len(res.Failures[0].Sites) != 2 {
		t.Fatalf("tiny: %+v", res.Failures)
	}
	r.Sites = r.Sites[:0]
	for i := range r.Syscalls {
		r.Syscalls[i].Missing = 0
	}
	r.Syscalls = r.Syscalls[:1]
	res = Check(r, Gates{Personality: &PersonalityGate{Name: "tiny", Syscalls: []string{"chdir", "rseq", "write"}}})
	if !res.OK() {
		t.Fatalf("everything implemented: %+v", res.Failures)
	}
	var b bytes.Buffer
	res.WriteText(&b)
	if !strings.Contains(b.String(), "nothing missing in tiny") {
		t.Errorf("ok line: %s", b.String())
	}
}
