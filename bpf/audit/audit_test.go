package audit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/vsysbed/vsysbed/bpf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

func TestEncodeGuestCode(t *testing.T) {
	tests := []struct {
		name        string
		in          GuestCode
		want        []bpf.Range
		wantOutside uint64
	}{
		{"none", GuestCode{}, nil, 0},
		{"one", GuestCodeIn(rng(0x1000, 0x2000)), []bpf.Range{rng(0x1000, 0x2000)}, 0},
		{"sorted and merged", GuestCodeIn(rng(0x5000, 0x6000), rng(0x1000, 0x2000), rng(0x2000, 0x3000), rng(0x5800, 0x5900)),
			[]bpf.Range{rng(0x1000, 0x3000), rng(0x5000, 0x6000)}, 0},
		{"outside host code", GuestCodeOutside(rng(0x1000, 0x2000)), []bpf.Range{rng(0x1000, 0x2000)}, 1},
		{"everything", GuestCodeOutside(), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := encodeGuestCode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Ranges[:v.N]; !slicesEqual(got, tt.want) {
				t.Errorf("ranges = %x, want %x", got, tt.want)
			}
			if v.Outside != tt.wantOutside {
				t.Errorf("Outside = %d, want %d", v.Outside, tt.wantOutside)
			}
			for _, r := range v.Ranges[v.N:] {
				if r != (bpf.Range{}) {
					t.Fatalf("slot past N not zero: %x", r)
				}
			}
		})
	}
}

func slicesEqual(a, b []bpf.Range) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEncodeGuestCodeRejects(t *testing.T) {
	if _, err := encodeGuestCode(GuestCodeIn(rng(0x2000, 0x1000))); !errors.Is(err, bpf.ErrInvalidRange) {
		t.Errorf("inverted range: err = %v, want bpf.ErrInvalidRange", err)
	}
	if _, err := encodeGuestCode(GuestCodeOutside(rng(0x1000, 0x1000))); !errors.Is(err, bpf.ErrInvalidRange) {
		t.Errorf("empty range: err = %v, want bpf.ErrInvalidRange", err)
	}
	var many []bpf.Range
	for i := range uint64(MaxAuditRanges + 1) {
		many = append(many, rng(i*0x2000, i*0x2000+0x1000))
	}
	if _, err := encodeGuestCode(GuestCodeIn(many[:MaxAuditRanges]...)); err != nil {
		t.Errorf("%d ranges: %v", MaxAuditRanges, err)
	}
	if _, err := encodeGuestCode(GuestCodeIn(many...)); !errors.Is(err, ErrTooManyRanges) {
		t.Errorf("%d ranges: err = %v, want ErrTooManyRanges", len(many), err)
	}
}

// The value layout is what the program reads at fixed offsets.
func TestRangesValueLayout(t *testing.T) {
	v := rangesValue{N: 2, Outside: 1}
	v.Ranges[1] = bpf.Range{Start: 0x1122, End: 0x3344}
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != offRanges+16*MaxAuditRanges {
		t.Fatalf("size %d", len(b))
	}
	for _, f := range []struct {
		name string
		off  int
		want uint64
	}{
		{"N", offRangesN, 2},
		{"Outside", offRangesOutside, 1},
		{"range 1 start", offRanges + 16, 0x1122},
		{"range 1 end", offRanges + 24, 0x3344},
	} {
		if got := binary.LittleEndian.Uint64(b[f.off:]); got != f.want {
			t.Errorf("%s at %d = %#x, want %#x", f.name, f.off, got, f.want)
		}
	}
}

// The program assembles (every label resolves) and stays far below the
// verifier's limits without a kernel.
func TestAuditProgramAssembles(t *testing.T) {
	insns := auditProgram(3, 4, 5, 6)
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	if n := buf.Len() / asm.InstructionSize; n > 4096 {
		t.Errorf("%d instructions: more than an unprivileged program may have", n)
	}
}

func TestNotSupportedClassifies(t *testing.T) {
	for _, err := range []error{unix.EPERM, unix.EACCES, unix.ENOSYS, unix.EINVAL} {
		if got := notSupported("x", err); !errors.Is(got, ErrAuditNotSupported) || !errors.Is(got, err) {
			t.Errorf("%v: %v, want ErrAuditNotSupported wrapping it", err, got)
		}
	}
	if got := notSupported("x", unix.ENOMEM); errors.Is(got, ErrAuditNotSupported) {
		t.Errorf("ENOMEM classified as not supported: %v", got)
	}
}

// auditChildSource is the fixture: it prints the address of its one
// syscall instruction, then runs commands from stdin until EOF, answering
// each with "ok <last result>".
const auditChildSource = `
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

extern const char audit_site[];

__attribute__((noinline)) static long raw_syscall0(long nr)
{
	long ret;
	__asm__ volatile(".globl audit_site\naudit_site:\n\tsyscall"
			 : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

/* Fails getppid with EPERM before it runs: the "trap" of this fixture. */
static int deny_getppid(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p);
}

int main(void)
{
	char line[64];
	long n, r = 0;
	printf("site %p\n", (void *)audit_site);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "getpid %ld", &n) == 1) {
			for (long i = 0; i < n; i++)
				r = raw_syscall0(SYS_getpid);
		} else if (sscanf(line, "getppid %ld", &n) == 1) {
			for (long i = 0; i < n; i++)
				r = raw_syscall0(SYS_getppid);
		} else if (strcmp(line, "seccomp\n") == 0) {
			r = deny_getppid();
		} else {
			fprintf(stderr, "bad command: %s", line);
			return 2;
		}
		printf("ok %ld\n", r);
		fflush(stdout);
	}
	return 0;
}
`

type auditChild struct {
	cmd    *exec.Cmd
	exited bool
	pid    uint32
	site   uint64
	stdin  io.WriteCloser
	out    *bufio.Reader
}

// buildAuditChild compiles the fixture; it skips without gcc.
func buildAuditChild(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("the audit fixture needs gcc: not on PATH")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "audit_child.c")
	bin := filepath.Join(dir, "audit_child")
	if err := os.WriteFile(src, []byte(auditChildSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O1", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

func startAuditChild(t *testing.T, bin string) *auditChild {
	t.Helper()
	c := &auditChild{cmd: exec.Command(bin)}
	c.cmd.Stderr = os.Stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.exit(t) })
	c.pid = uint32(c.cmd.Process.Pid)
	c.out = bufio.NewReader(stdout)
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("audit child: %v", err)
	}
	hex, ok := strings.CutPrefix(strings.TrimSpace(line), "site 0x")
	if !ok {
		t.Fatalf("audit child said %q", line)
	}
	if c.site, err = strconv.ParseUint(hex, 16, 64); err != nil {
		t.Fatalf("audit child said %q: %v", line, err)
	}
	return c
}

// exit closes the child's stdin and waits for it to exit.
func (c *auditChild) exit(t *testing.T) {
	t.Helper()
	if c.exited {
		return
	}
	c.exited = true
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("audit child: %v", err)
	}
}

// do runs one command and returns the child's last syscall result.
func (c *auditChild) do(t *testing.T, format string, args ...any) int64 {
	t.Helper()
	if _, err := fmt.Fprintf(c.stdin, format+"\n", args...); err != nil {
		t.Fatal(err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("audit child: %v", err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "ok ")
	if !ok {
		t.Fatalf("audit child said %q", line)
	}
	r, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("audit child said %q", line)
	}
	return r
}

// startAudit skips, with the kernel's reason, where the audit cannot run.
func startAudit(t *testing.T, spec AuditSpec) *Audit {
	t.Helper()
	a, err := StartAudit(spec)
	if errors.Is(err, ErrAuditNotSupported) {
		t.Skipf("eBPF audit not supported here (euid %d): %v", os.Geteuid(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

func counts(t *testing.T, a *Audit) AuditCounts {
	t.Helper()
	c, err := a.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.IPUnreadable != 0 {
		t.Errorf("%d syscalls with an unreadable ip", c.IPUnreadable)
	}
	return c
}

func siteCount(c AuditCounts, addr uint64, nr int64) uint64 {
	for _, s := range c.Sites {
		if s.Addr == addr && s.Nr == nr {
			return s.Count
		}
	}
	return 0
}

// delta is what changed for nr between two snapshots.
func delta(before, after AuditCounts, nr uint32) SyscallCounts {
	b, a := before.Syscalls[nr], after.Syscalls[nr]
	return SyscallCounts{Guest: a.Guest - b.Guest, Host: a.Host - b.Host}
}

func TestAuditCountsGuestSyscallsOfItsProcessOnly(t *testing.T) {
	bin := buildAuditChild(t)
	child := startAuditChild(t, bin)
	other := startAuditChild(t, bin)
	a := startAudit(t, AuditSpec{TGID: child.pid, Guest: GuestCodeIn(rng(child.site, child.site+2))})

	before := counts(t, a)
	child.do(t, "getpid 1000")
	other.do(t, "getpid 700") // not audited
	for range 500 {
		syscall.Getpid() // nor is the test itself
	}
	after := counts(t, a)

	if d := delta(before, after, unix.SYS_GETPID); d != (SyscallCounts{Guest: 1000}) {
		t.Errorf("getpid delta = %+v, want exactly 1000 from guest code", d)
	}
	if got := siteCount(after, child.site, unix.SYS_GETPID) - siteCount(before, child.site, unix.SYS_GETPID); got != 1000 {
		t.Errorf("site %#x getpid count grew by %d, want 1000 (sites: %+v)", child.site, got, after.Sites)
	}
	for _, s := range after.Sites {
		if s.Addr != child.site {
			t.Errorf("site %+v outside the guest range [%#x, %#x)", s, child.site, child.site+2)
		}
	}
	// The child's stdio (read, write) runs in libc: host code here.
	if d := delta(before, after, unix.SYS_WRITE); d.Host == 0 || d.Guest != 0 {
		t.Errorf("write delta = %+v, want host only", d)
	}
	if after.Escapes() < 1000 {
		t.Errorf("Escapes() = %d, want >= 1000", after.Escapes())
	}
	if after.SitesDropped != 0 {
		t.Errorf("SitesDropped = %d", after.SitesDropped)
	}
}

// Track adds a second process (a forked host process) to the same
// counters, with its own classification.
func TestAuditTracksSeveralProcesses(t *testing.T) {
	bin := buildAuditChild(t)
	first, second := startAuditChild(t, bin), startAuditChild(t, bin)
	a := startAudit(t, AuditSpec{TGID: first.pid, Guest: GuestCodeIn(rng(first.site, first.site+2))})
	if err := a.Track(second.pid, GuestCode{}); err != nil {
		t.Fatal(err)
	}
	before := counts(t, a)
	first.do(t, "getpid 30")
	second.do(t, "getpid 40")
	if d := delta(before, counts(t, a), unix.SYS_GETPID); d != (SyscallCounts{Guest: 30, Host: 40}) {
		t.Errorf("getpid delta = %+v, want 30 guest (first) and 40 host (second)", d)
	}
	if err := a.Untrack(first.pid); err != nil {
		t.Fatal(err)
	}
	before = counts(t, a)
	first.do(t, "getpid 30")
	second.do(t, "getpid 40")
	if d := delta(before, counts(t, a), unix.SYS_GETPID); d != (SyscallCounts{Host: 40}) {
		t.Errorf("after Untrack(first): getpid delta = %+v, want 40 host", d)
	}
}

// The kernel's ip is the address after the instruction; the audit
// classifies the instruction itself.
func TestAuditSetGuestCodeReclassifies(t *testing.T) {
	child := startAuditChild(t, buildAuditChild(t))
	a := startAudit(t, AuditSpec{TGID: child.pid})
	site := func(start, end int64) bpf.Range { return rng(child.site+uint64(start), child.site+uint64(end)) }
	steps := []struct {
		name string
		code GuestCode
		want SyscallCounts
	}{
		{"no guest code", GuestCode{}, SyscallCounts{Host: 100}},
		{"range starts after the instruction", GuestCodeIn(site(2, 0x100)), SyscallCounts{Host: 100}},
		{"range ends inside the instruction", GuestCodeIn(site(-0x100, 1)), SyscallCounts{Guest: 100}},
		{"range ends at the instruction", GuestCodeIn(site(-0x100, 0)), SyscallCounts{Host: 100}},
		{"second of several ranges", GuestCodeIn(rng(0x1000, 0x2000), site(0, 2), rng(^uint64(0)-1, ^uint64(0))), SyscallCounts{Guest: 100}},
		{"outside host ranges", GuestCodeOutside(rng(0x1000, 0x2000), site(2, 0x100)), SyscallCounts{Guest: 100}},
		{"inside host ranges", GuestCodeOutside(rng(0x1000, 0x2000), site(-0x100, 1)), SyscallCounts{Host: 100}},
		{"everything", GuestCodeOutside(), SyscallCounts{Guest: 100}},
	}
	for _, s := range steps {
		if err := a.SetGuestCode(s.code); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		before := counts(t, a)
		child.do(t, "getpid 100")
		if d := delta(before, counts(t, a), unix.SYS_GETPID); d != s.want {
			t.Errorf("%s: getpid delta = %+v, want %+v", s.name, d, s.want)
		}
	}
	if err := a.Untrack(child.pid); err != nil {
		t.Fatal(err)
	}
	before := counts(t, a)
	child.do(t, "getpid 100")
	if d := delta(before, counts(t, a), unix.SYS_GETPID); d != (SyscallCounts{}) {
		t.Errorf("after Untrack: getpid delta = %+v, want none", d)
	}
}

// With every address guest code (the native platform) the audit is a
// profile: every syscall of the process, per call site.
func TestAuditAllAddresses(t *testing.T) {
	child := startAuditChild(t, buildAuditChild(t))
	a := startAudit(t, AuditSpec{TGID: child.pid, Guest: GuestCodeOutside()})
	child.do(t, "getpid 10")
	// Only a process that makes no more syscalls gives a snapshot in
	// which the per-syscall and per-site counts agree.
	child.exit(t)
	c := counts(t, a)
	var sum, sites uint64
	for nr, s := range c.Syscalls {
		if s.Host != 0 {
			t.Errorf("syscall %d: %d host calls with every address guest", nr, s.Host)
		}
		sum += s.Guest
	}
	for _, s := range c.Sites {
		sites += s.Count
	}
	if sum != sites {
		t.Errorf("per-syscall total %d != per-site total %d", sum, sites)
	}
	if got := siteCount(c, child.site, unix.SYS_GETPID); got != 10 {
		t.Errorf("getpid at %#x: %d, want 10", child.site, got)
	}
	// The child's fgets and printf show up as their own sites.
	var read, write bool
	for _, s := range c.Sites {
		read = read || s.Nr == unix.SYS_READ
		write = write || s.Nr == unix.SYS_WRITE
	}
	if !read || !write {
		t.Errorf("no read or write site in %+v", c.Sites)
	}
}

// A syscall that seccomp stops never reaches sys_enter: that is what makes
// a zero escape count mean "the filter caught everything", and a weakened
// filter shows up as escapes.
func TestAuditDoesNotCountSyscallsSeccompStopped(t *testing.T) {
	child := startAuditChild(t, buildAuditChild(t))
	a := startAudit(t, AuditSpec{TGID: child.pid, Guest: GuestCodeIn(rng(child.site, child.site+2))})

	before := counts(t, a)
	child.do(t, "getppid 50") // no filter yet: each one escapes
	mid := counts(t, a)
	if d := delta(before, mid, unix.SYS_GETPPID); d != (SyscallCounts{Guest: 50}) {
		t.Errorf("unfiltered getppid delta = %+v, want 50 escapes", d)
	}
	if r := child.do(t, "seccomp"); r != 0 {
		t.Fatalf("child could not install its filter: %d", r)
	}
	if r := child.do(t, "getppid 50"); r != -int64(unix.EPERM) {
		t.Fatalf("filtered getppid returned %d, want -EPERM", r)
	}
	if d := delta(mid, counts(t, a), unix.SYS_GETPPID); d != (SyscallCounts{}) {
		t.Errorf("filtered getppid delta = %+v, want none", d)
	}
}

func TestAuditRejectsBadInput(t *testing.T) {
	if _, err := StartAudit(AuditSpec{}); err == nil {
		t.Error("TGID 0 accepted")
	}
	if _, err := StartAudit(AuditSpec{TGID: 1, Guest: GuestCodeIn(rng(2, 1))}); !errors.Is(err, bpf.ErrInvalidRange) {
		t.Errorf("inverted range: err = %v, want bpf.ErrInvalidRange", err)
	}
	a := startAudit(t, AuditSpec{TGID: uint32(os.Getpid())})
	if err := a.SetGuestCode(GuestCodeIn(rng(5, 5))); !errors.Is(err, bpf.ErrInvalidRange) {
		t.Errorf("SetGuestCode: err = %v, want bpf.ErrInvalidRange", err)
	}
	if err := a.Untrack(0x7fffffff); err != nil {
		t.Errorf("Untrack of an untracked pid: %v", err)
	}
}

func rng(start, end uint64) bpf.Range { return bpf.Range{Start: start, End: end} }

// The vsysbed binary is also the host process, which must open no fd at
// start-up: cilium/ebpf's rlimit package does in its init.
func TestNoFdOpeningInitInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vsysbed/vsysbed/cmd/vsysbed").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	if strings.Contains(string(out), "github.com/cilium/ebpf/rlimit") {
		t.Error("the vsysbed binary links github.com/cilium/ebpf/rlimit, whose init opens fds in the host process")
	}
}
