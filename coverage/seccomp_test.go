package coverage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompRun used write (bypass and trap), clock_gettime only in the vDSO,
// newfstatat under a name the report's table did not know, and a number
// that has no x86-64 name at all.
func seccompRun(t *testing.T) *Report {
	t.Helper()
	return aslrRun(t, []string{"prog"}, 0x400000, 0,
		call{libx, 0x10, 1, KindBypass, 2},
		call{libx, 0x20, 1, KindTrap, 1},
		call{libx, 0x30, 228, KindVDSO, 8},
		call{libx, 0x40, 262, KindTrap, 1},
		call{libx, 0x50, 231, KindBypass, 1},
		call{libx, 0x60, 511, KindTrap, 1})
}

func TestSeccompAllowlist(t *testing.T) {
	r := seccompRun(t)
	if got := r.Syscalls[3].Name; got != "syscall_262" {
		t.Fatalf("fixture: nr 262 named %q by the report, want it unknown to the test table", got)
	}
	al := SeccompAllowlist(r)
	want := []string{"clock_gettime", "execve", "exit_group", "newfstatat", "write"}
	if !reflect.DeepEqual(al.Names, want) {
		t.Errorf("names = %q, want %q", al.Names, want)
	}
	if !reflect.DeepEqual(al.Unnamed, []int{511}) {
		t.Errorf("unnamed = %v, want [%d]", al.Unnamed, 511)
	}
}

// runFilter runs the assembled policy on the BPF VM for syscall nr of
// the x86-64 ABI and returns the seccomp action.
func runFilter(t *testing.T, vm *bpf.VM, nr uint32) uint32 {
	t.Helper()
	// struct seccomp_data. x/net/bpf's VM loads words in network byte
	// order, where the kernel loads them in host order: write them big
	// endian so the VM reads the values the kernel would.
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], unix.AUDIT_ARCH_X86_64)
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

func TestSeccompPolicyFilters(t *testing.T) {
	p, al := SeccompPolicy(seccompRun(t))
	if p.DefaultAction != seccomp.ActionErrno || len(p.Syscalls) != 1 || p.Syscalls[0].Action != seccomp.ActionAllow ||
		!reflect.DeepEqual(p.Syscalls[0].Names, al.Names) {
		t.Fatalf("policy = %+v", p)
	}
	insts, err := p.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	allow, eperm := uint32(unix.SECCOMP_RET_ALLOW), uint32(unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	for nr, want := range map[uint32]uint32{
		unix.SYS_WRITE: allow, unix.SYS_EXECVE: allow, unix.SYS_NEWFSTATAT: allow,
		unix.SYS_CLOCK_GETTIME: allow, unix.SYS_EXIT_GROUP: allow,
		unix.SYS_READ: eperm, unix.SYS_OPENAT: eperm, unix.SYS_PTRACE: eperm,
	} {
		if got := runFilter(t, vm, nr); got != want {
			t.Errorf("syscall %d: action %#x, want %#x", nr, got, want)
		}
	}
}

func TestWriteSeccompOCI(t *testing.T) {
	var b bytes.Buffer
	if _, err := WriteSeccompOCI(&b, seccompRun(t)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	want := map[string]any{
		"defaultAction": "SCMP_ACT_ERRNO",
		"architectures": []any{"SCMP_ARCH_X86_64"},
		"syscalls": []any{map[string]any{
			"names":  []any{"clock_gettime", "execve", "exit_group", "newfstatat", "write"},
			"action": "SCMP_ACT_ALLOW",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profile:\n%s", b.String())
	}
}

func TestWriteSeccompYAML(t *testing.T) {
	var b bytes.Buffer
	if _, err := WriteSeccompYAML(&b, seccompRun(t)); err != nil {
		t.Fatal(err)
	}
	want := `seccomp:
  default_action: errno
  syscalls:
  - action: allow
    names:
    - clock_gettime
    - execve
    - exit_group
    - newfstatat
    - write
`
	text := b.String()
	body := text[strings.Index(text, "seccomp:"):]
	if body != want {
		t.Errorf("yaml body:\n%s\nwant:\n%s", body, want)
	}
	for _, l := range strings.Split(strings.TrimSuffix(text[:len(text)-len(body)], "\n"), "\n") {
		if !strings.HasPrefix(l, "# ") {
			t.Errorf("header line %q is not a comment", l)
		}
	}
	// The values are the library's own names for its actions.
	var a seccomp.Action
	if err := a.Unpack("errno"); err != nil || a != seccomp.ActionErrno {
		t.Errorf("go-seccomp-bpf reads errno as %v, %v", a, err)
	}
}
