package coverage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// auditFixture is an in-process audit with one escape, a pass-through
// syscall that reconciles (write) and one that does not (getpid).
func auditFixture() (AuditInput, []SyscallRow) {
	in := AuditInput{
		Platform: AuditInProcess,
		Syscalls: map[uint32]AuditCount{
			1:            {Guest: 0, Host: 9},  // write
			39:           {Guest: 2, Host: 1},  // getpid
			60:           {Guest: 0, Host: 0},  // never ran: no row
			auditNrOther: {Guest: 0, Host: 4},  // x32 or -1
			231:          {Guest: 0, Host: 12}, // exit_group
		},
		Sites: []AuditRawSite{
			{Addr: 0x401010, Nr: 39, Count: 1},
			{Addr: 0x401020, Nr: 39, Count: 1},
			{Addr: 0x7000, Nr: -1, Count: 3},
		},
		SitesDropped: 5,
		Processes:    2,
		Events: []Event{
			{Ev: EvMap, Start: 0x400000, End: 0x402000, Offset: 0x1000, Path: "/bin/guest"},
		},
		PassThrough: func(nr int) bool { return nr == 1 || nr == 39 },
		SyscallName: func(nr int) string { return map[int]string{1: "write", 39: "getpid", 231: "exit_group"}[nr] },
		NoSymbols:   true,
	}
	rows := []SyscallRow{
		{Nr: 1, Name: "write", Bypass: 5, Trap: 4, Total: 9},
		{Nr: 39, Name: "getpid", Bypass: 1, Trap: 2, Total: 3},
		{Nr: 231, Name: "exit_group", Trap: 1, Total: 1}, // not pass-through: never a mismatch
	}
	return in, rows
}

func TestBuildAudit(t *testing.T) {
	in, rows := auditFixture()
	a := BuildAudit(in, rows)
	if a.Escapes != 2 {
		t.Errorf("escapes %d, want 2", a.Escapes)
	}
	var names []string
	for _, s := range a.Syscalls {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, ","), "write,getpid,exit_group,other"; got != want {
		t.Errorf("syscalls %s, want %s (ascending nr, no zero rows)", got, want)
	}
	want := []AuditMismatch{{Nr: 39, Name: "getpid", Host: 1, Expected: 3}}
	if a.Reconciled || !reflect.DeepEqual(a.Mismatches, want) {
		t.Errorf("reconciled %v, mismatches %+v; want false, %+v", a.Reconciled, a.Mismatches, want)
	}
	if len(a.Sites) != 3 {
		t.Fatalf("%d sites, want 3", len(a.Sites))
	}
	first := a.Sites[0]
	if first.Syscall != "cancelled" || first.Count != 3 || first.Object != UnknownObject {
		t.Errorf("most frequent site %+v, want the cancelled one in no mapping", first)
	}
	placed := a.Sites[1]
	if placed.Object != "/bin/guest" || placed.Offset != 0x2010 || placed.Syscall != "getpid" {
		t.Errorf("site %+v, want /bin/guest+0x2010 (file offset 0x1000 + 0x1010) getpid", placed)
	}
	if a.SitesDropped != 5 || a.Processes != 2 || a.Platform != AuditInProcess {
		t.Errorf("pass-through fields lost: %+v", a)
	}
}

func TestBuildAuditNativeHasNothingToReconcile(t *testing.T) {
	in, _ := auditFixture()
	in.Platform, in.PassThrough = AuditNative, nil
	a := BuildAudit(in, nil)
	if !a.Reconciled || len(a.Mismatches) != 0 {
		t.Errorf("native audit: reconciled %v, mismatches %v", a.Reconciled, a.Mismatches)
	}
}

func TestAuditSectionText(t *testing.T) {
	in, rows := auditFixture()
	r := &Report{Command: []string{"guest"}, Complete: true, Syscalls: rows, Audit: BuildAudit(in, rows)}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"eBPF audit (inprocess, 2 process(es)): 2 escape(s)",
		"getpid: host executed 1, the report counts 3 guest calls",
		"escaped sites (3)",
		"/bin/guest",
		"5 site(s) dropped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// Native: the audit replaces the (empty) vsysbed tables.
	in.Platform, in.PassThrough = AuditNative, nil
	r = &Report{Command: []string{"guest"}, Complete: true, Audit: BuildAudit(in, nil)}
	b.Reset()
	r.WriteText(&b)
	if text := b.String(); strings.Contains(text, "%bypass") || !strings.Contains(text, "syscall sites (3)") {
		t.Errorf("native text:\n%s", text)
	}
}

func TestSchemaAcceptsAuditSections(t *testing.T) {
	s := loadSchema(t)
	in, rows := auditFixture()
	r := Build(Input{Command: []string{"audited"}})
	r.Audit = BuildAudit(in, rows)
	expectValid(t, s, "in-process audit", []byte(jsonOf(t, r)))
	in.Platform, in.PassThrough = AuditNative, nil
	r.Audit = BuildAudit(in, nil)
	expectValid(t, s, "native audit", []byte(jsonOf(t, r)))

	// And the schema is strict about the section.
	var doc map[string]any
	if err := decodeJSON([]byte(jsonOf(t, r)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["audit"].(map[string]any)["platform"] = "ptrace?"
	delete(doc["audit"].(map[string]any), "escapes")
	b, _ := json.Marshal(doc)
	errs := strings.Join(s.validate(b), "\n")
	for _, want := range []string{"$.audit.platform", `$.audit: required property "escapes"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("violations do not mention %q:\n%s", want, errs)
		}
	}
}

// TestAuditSchemaMatchesStructs is TestSchemaMatchesStructs for the audit
// section's types.
func TestAuditSchemaMatchesStructs(t *testing.T) {
	s := loadSchema(t)
	for name, typ := range map[string]reflect.Type{
		"auditSection":  reflect.TypeOf(AuditSection{}),
		"auditSyscall":  reflect.TypeOf(AuditSyscall{}),
		"auditSite":     reflect.TypeOf(AuditSite{}),
		"auditMismatch": reflect.TypeOf(AuditMismatch{}),
	} {
		def, err := s.Resolve("#/$defs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		props := def["properties"].(map[string]any)
		required := map[string]bool{}
		for _, r := range def["required"].([]any) {
			required[r.(string)] = true
		}
		fields := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[tag] = true
			if _, ok := props[tag]; !ok {
				t.Errorf("%s.%s (json %q) is not in the schema's %s", typ.Name(), f.Name, tag, name)
			}
			if omit := strings.Contains(opts, "omitempty"); omit == required[tag] {
				t.Errorf("%s.%s: omitempty %v but required %v", typ.Name(), f.Name, omit, required[tag])
			}
		}
		for p := range props {
			if !fields[p] {
				t.Errorf("schema property %s.%s is not a field of %s", name, p, typ.Name())
			}
		}
	}
}
