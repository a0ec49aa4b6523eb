package tracing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeMem is guest memory: the pages the bytes given at each address
// touch (zeros elsewhere in them), as guest memory is mapped by the page.
type fakeMem map[uint64][]byte

func (m fakeMem) pages() map[uint64][]byte {
	pages := map[uint64][]byte{}
	for base, data := range m {
		for i, c := range data {
			a := base + uint64(i)
			p := pages[a&^4095]
			if p == nil {
				p = make([]byte, 4096)
				pages[a&^4095] = p
			}
			p[a&4095] = c
		}
	}
	return pages
}

func (m fakeMem) ReadMem(addr uint64, b []byte) error {
	pages := m.pages()
	for i := range b {
		p := pages[(addr+uint64(i))&^4095]
		if p == nil {
			return errors.New("EFAULT")
		}
		b[i] = p[(addr+uint64(i))&4095]
	}
	return nil
}

func names(nr int) string {
	n := map[int]string{0: "read", 1: "write", 2: "open", 3: "close", 9: "mmap", 13: "rt_sigaction",
		56: "clone", 59: "execve", 61: "wait4", 62: "kill", 231: "exit_group", 257: "openat", 42: "connect", 20: "writev", 262: "newfstatat", 14: "rt_sigprocmask", 72: "fcntl", 39: "getpid", 202: "futex", 435: "clone3", 500: "reserved_500"}
	if s, ok := n[nr]; ok {
		return s
	}
	return "nr_" + strconv.Itoa(nr)
}

func number(name string) (int, bool) {
	for nr := 0; nr < SetSize; nr++ {
		if names(nr) == name {
			return nr, true
		}
	}
	return 0, false
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func le64s(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// newTestTracer traces everything into a file of the test's.
func newTestTracer(t *testing.T, c Config) (*Tracer, string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	c.Output = out
	if c.StrLen == 0 {
		c.StrLen = 32
	}
	if c.Format == "" {
		c.Format = "text"
	}
	for nr := 0; nr < SetSize; nr++ {
		c.Set = append(c.Set, nr)
	}
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	tr, err := Load(dir, 3, names)
	if err != nil || tr == nil {
		t.Fatalf("Load: %v %v", tr, err)
	}
	return tr, out
}

func lastLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return lines[len(lines)-1]
}

// Each case is one call as strace prints it (strace 6.x, x86-64), the
// kind appended.
func TestLines(t *testing.T) {
	const (
		pathAt = 0x1000
		bufAt  = 0x2000
		stAt   = 0x3000
		argvAt = 0x4000
		sockAt = 0x5000
		iovAt  = 0x6000
		setAt  = 0x7000
		saAt   = 0x8000
		wsAt   = 0x9000
		ptidAt = 0xa000
		cl3At  = 0xb000
	)
	stat := make([]byte, 144)
	binary.LittleEndian.PutUint32(stat[24:], 0o100644)
	binary.LittleEndian.PutUint64(stat[48:], 1234)
	sun := append([]byte{1, 0}, cstr("/run/sock")...)
	sin := []byte{2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	sin6 := make([]byte, 28)
	sin6[0], sin6[3], sin6[23] = 10, 53, 1
	ws := []byte{0, 0x2a, 0, 0}
	mem := fakeMem{
		pathAt: cstr("/etc/passwd"), bufAt: []byte("hello\n\x00\x1b[1mworld and a long tail past thirty-two bytes"),
		stAt: stat, argvAt: le64s(pathAt, bufAt+100, 0), bufAt + 100: cstr("-l"),
		sockAt: sun, sockAt + 0x100: sin, sockAt + 0x200: sin6,
		iovAt: le64s(bufAt, 6, bufAt+6, 3), setAt: le64s(1<<(int(unix.SIGINT)-1) | 1<<(int(unix.SIGCHLD)-1)),
		saAt: le64s(1, 0x4000000|0x10000000, 0x7f00, 1<<(int(unix.SIGTERM)-1)), wsAt: ws,
		ptidAt: {0x92, 0x10, 0, 0}, cl3At: le64s(unix.CLONE_VM|unix.CLONE_PARENT_SETTID, 0, 0, ptidAt, 0, 0, 0, 0),
	}
	cases := []struct {
		nr   int
		a    [6]uint64
		ret  int64
		want string
	}{
		{257, [6]uint64{uint64(0xffffff9c), pathAt, unix.O_RDONLY | unix.O_CLOEXEC}, 3,
			`openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3`},
		{257, [6]uint64{uint64(0xffffff9c), pathAt, unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, 0o644}, -int64(unix.EACCES),
			`openat(AT_FDCWD, "/etc/passwd", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 EACCES (Permission denied)`},
		{2, [6]uint64{pathAt, 0}, -int64(unix.ENOENT), `open("/etc/passwd", O_RDONLY) = -1 ENOENT (No such file or directory)`},
		{0, [6]uint64{3, bufAt, 100}, 6, `read(3, "hello\n", 100) = 6`},
		{0, [6]uint64{3, bufAt, 100}, -int64(unix.EBADF), `read(3, 0x2000, 100) = -1 EBADF (Bad file descriptor)`},
		{1, [6]uint64{1, bufAt, 80}, 80, `write(1, "hello\n\0\33[1mworld and a long tail"..., 80) = 80`},
		{262, [6]uint64{3, pathAt + 11, stAt, unix.AT_EMPTY_PATH}, 0,
			`newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=1234, ...}, AT_EMPTY_PATH) = 0`},
		{9, [6]uint64{0, 8192, 3, 0x22, ^uint64(0), 0}, 0x7f0000001000,
			`mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000`},
		{59, [6]uint64{pathAt, argvAt, argvAt + 16}, 0, `execve("/etc/passwd", ["/etc/passwd", "-l"], 0x4010 /* 0 vars */) = 0`},
		{42, [6]uint64{3, sockAt, uint64(len(sun))}, 0, `connect(3, {sa_family=AF_UNIX, sun_path="/run/sock"}, 12) = 0`},
		{42, [6]uint64{3, sockAt + 0x100, 16}, -int64(unix.ECONNREFUSED),
			`connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)`},
		{42, [6]uint64{3, sockAt + 0x200, 28}, 0,
			`connect(3, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0`},
		{20, [6]uint64{1, iovAt, 2}, 9, `writev(1, [{iov_base="hello\n", iov_len=6}, {iov_base="\0\33[", iov_len=3}], 2) = 9`},
		{14, [6]uint64{0, setAt, 0, 8}, 0, `rt_sigprocmask(SIG_BLOCK, [INT CHLD], NULL, 8) = 0`},
		{13, [6]uint64{uint64(unix.SIGTERM), saAt, 0, 8}, 0,
			`rt_sigaction(SIGTERM, {sa_handler=SIG_IGN, sa_mask=[TERM], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7f00}, NULL, 8) = 0`},
		{56, [6]uint64{unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | uint64(unix.SIGCHLD), 0, 0, 0x7f10, 0}, 4242,
			`clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f10) = 4242`},
		{56, [6]uint64{unix.CLONE_VM | unix.CLONE_PARENT_SETTID, 0x7e00, ptidAt, 0, 0}, 4242,
			`clone(child_stack=0x7e00, flags=CLONE_VM|CLONE_PARENT_SETTID, parent_tid=[4242]) = 4242`},
		{435, [6]uint64{cl3At, 88}, 4242,
			`clone3({flags=CLONE_VM|CLONE_PARENT_SETTID, parent_tid=0xa000, exit_signal=0, stack=NULL, stack_size=0} => {parent_tid=[4242]}, 88) = 4242`},
		{61, [6]uint64{^uint64(0), wsAt, 0, 0}, 4242, `wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 42}], 0, NULL) = 4242`},
		{62, [6]uint64{4242, uint64(unix.SIGKILL)}, 0, `kill(4242, SIGKILL) = 0`},
		{72, [6]uint64{3, unix.F_GETFD}, 1, `fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)`},
		{72, [6]uint64{3, unix.F_SETFL, unix.O_RDWR | unix.O_NONBLOCK}, 0, `fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0`},
		{39, [6]uint64{}, 77, `getpid() = 77`},
		{202, [6]uint64{0x7f00, 128 | 1, 0x7fffffff, 0, 0x7f08, ^uint64(0)}, 1, `futex(0x7f00, FUTEX_WAKE_PRIVATE, 2147483647) = 1`},
		{202, [6]uint64{0x7f00, 128 | 256 | 9, 0, 0, 0, 0xffffffff}, 0,
			`futex(0x7f00, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY) = 0`},
		{0, [6]uint64{3, bufAt, 10}, -512, `read(3, 0x2000, 10) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)`},
		{300, [6]uint64{1, 2, 3, 4, 5, 6}, 0, `nr_300(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = 0`},
	}
	tr, out := newTestTracer(t, Config{})
	for _, c := range cases {
		call := tr.Enter(10, 11, c.nr, c.a, "bypass", 0x1234, mem)
		call.Returned = true
		tr.Exit(call, c.ret, mem)
		if got, want := lastLine(t, out), "[pid 11] "+c.want+" [bypass]"; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
}

func TestExitGroupIsWrittenAtEntry(t *testing.T) {
	tr, out := newTestTracer(t, Config{Durations: true})
	tr.Enter(10, 10, 231, [6]uint64{3}, "trap", 0, fakeMem{})
	if got, want := lastLine(t, out), "[pid 10] exit_group(3) = ? [trap]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestJSONLAndSummary(t *testing.T) {
	tr, out := newTestTracer(t, Config{Format: "jsonl"})
	for i, ret := range []int64{3, -int64(unix.ENOENT), 4} {
		c := tr.Enter(10, 10+i, 257, [6]uint64{uint64(0xffffff9c), 0}, []string{"bypass", "trap", "patched"}[i], 0x40, fakeMem{})
		c.Returned = true
		tr.Exit(c, ret, fakeMem{})
	}
	recs, err := ReadRecords(out)
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if r := recs[1]; r.Errno != "ENOENT" || *r.Result != -int64(unix.ENOENT) || r.Kind != "trap" || r.Tid != 11 || r.Args[1] != "NULL" {
		t.Errorf("record %+v", r)
	}
	rows := Summarize(recs, map[string]uint64{"clock_gettime": 5})
	var sb strings.Builder
	if err := WriteSummary(&sb, rows); err != nil {
		t.Fatal(err)
	}
	s := sb.String()
	for _, want := range []string{"% time     seconds  usecs/call     calls    errors    bypass      trap   patched      vdso syscall",
		"         3         1         1         1         1         0 openat",
		"         5                   0         0         0         5 clock_gettime",
		"         8         1         1         1         1         5 total"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestParseExpr(t *testing.T) {
	on := func(s Set) []string {
		var out []string
		for nr, b := range s {
			if b {
				out = append(out, names(nr))
			}
		}
		return out
	}
	cases := []struct {
		expr, want string
	}{
		{"trace=open,close", "open close"},
		{"open", "open"},
		{"trace=%process", "clone execve wait4 kill exit_group clone3"},
		{"trace=%network", "connect"},
		{"trace=%net", "connect"},
		{"trace=%signal", "rt_sigaction rt_sigprocmask kill"},
		{"trace=/^rt_", "rt_sigaction rt_sigprocmask"},
	}
	for _, c := range cases {
		s, err := ParseExpr(c.expr, nil, names, number)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := strings.Join(on(s), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.expr, got, c.want)
		}
	}
	s, err := ParseExpr("trace=!%file,%desc", nil, names, number)
	if err != nil || s[257] || s[0] || !s[39] {
		t.Errorf("!%%file,%%desc: openat %v read %v getpid %v (%v)", s[257], s[0], s[39], err)
	}
	s, _ = ParseExpr("trace=open", nil, names, number)
	s, _ = ParseExpr("trace=close", s, names, number)
	if got := strings.Join(on(s), " "); got != "open close" {
		t.Errorf("two -e add up: %q", got)
	}
	for _, bad := range []string{"trace=opn", "trace=%nosuch", "signal=SIGINT", "trace=open,", "trace=/("} {
		if _, err := ParseExpr(bad, nil, names, number); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestQuote(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"a\"b\\c", -1, `"a\"b\\c"`},
		{"\x00\x01" + "7", -1, `"\0\0017"`},
		{"\xff\t", -1, `"\377\t"`},
		{"abcdef", 3, `"abc"...`},
	}
	for _, c := range cases {
		if got := quote([]byte(c.in), c.max, false); got != c.want {
			t.Errorf("quote(%q, %d) = %s, want %s", c.in, c.max, got, c.want)
		}
	}
}

func TestFlagsAndStatus(t *testing.T) {
	cases := map[string]string{
		openFlagsText(unix.O_RDWR | unix.O_APPEND | 0x8000):   "O_RDWR|O_APPEND|O_LARGEFILE",
		openFlagsText(unix.O_PATH | unix.O_CLOEXEC):           "O_CLOEXEC|O_PATH",
		flags(0, protFlags):                                   "PROT_NONE",
		mapFlagsText(0x802):                                   "MAP_PRIVATE|MAP_DENYWRITE",
		cloneFlagsText(unix.CLONE_VM | unix.CLONE_VFORK | 17): "CLONE_VM|CLONE_VFORK|SIGCHLD",
		sigsetText(^uint64(0) &^ (1 << 8)):                    "~[KILL]",
		sigsetText(0):                                         "[]",
		wstatus(9):                                            "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}]",
		wstatus(0x8b):                                         "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}]",
		wstatus(0x137f):                                       "[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]",
		signalName(34):                                        "SIGRT_2",
		fileMode(0o20620):                                     "S_IFCHR|0620",
		makedev(0x8801):                                       "makedev(0x88, 0x1)",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestEndWritesCallsInProgress(t *testing.T) {
	tr, out := newTestTracer(t, Config{})
	tr.Enter(10, 10, 62, [6]uint64{10, uint64(unix.SIGKILL)}, "trap", 0, fakeMem{})
	tr.End(10, 0, int(unix.SIGKILL))
	b, _ := os.ReadFile(out)
	want := "[pid 10] kill(10, SIGKILL) = ? [trap]\n[pid 10] +++ killed by SIGKILL +++\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

// The relay delivers every line whole, also those still queued at Close.
func TestRelay(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return sb.Write(b)
	})
	sock := filepath.Join(dir, SocketFile)
	relay, err := Listen(sock, w)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Socket: sock, Format: "text", StrLen: 32, Set: []int{39}}
	if err := WriteConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	var trs []*Tracer
	for i := 0; i < 3; i++ { // three processes' tracers
		tr, err := Load(dir, 3, names)
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	const calls = 500
	for n := 0; n < calls; n++ {
		for i, tr := range trs {
			call := tr.Enter(100+i, 100+i, 39, [6]uint64{}, "bypass", 0, fakeMem{})
			call.Returned = true
			tr.Exit(call, int64(n), fakeMem{})
		}
	}
	relay.Close()
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	if len(lines) != 3*calls {
		t.Fatalf("%d lines, want %d", len(lines), 3*calls)
	}
	next := map[string]int{}
	for _, l := range lines {
		var pid string
		var n int
		if _, err := fmt.Sscanf(l, "[pid %s getpid() = %d [bypass]", &pid, &n); err != nil || n != next[pid] {
			t.Fatalf("line %q: %v (want result %d)", l, err, next[pid])
		}
		next[pid]++
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
