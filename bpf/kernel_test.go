package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A seccomp filter cannot be removed, so kernel tests run in a re-executed
// copy of the test binary; childEnv selects what the child does.
const childEnv = "VSYSBED_BPF_TEST_CHILD"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "filter":
		os.Exit(childFilter())
	case "trap":
		os.Exit(childTrap())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, mode)
		os.Exit(2)
	}
}

func runChild(t *testing.T, mode string) (stdout, stderr string, err error) {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	if !bytes.Contains(status, []byte("\nSeccomp:")) {
		t.Skip("kernel without seccomp (no Seccomp: line in /proc/self/status)")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestKernelAcceptsTrapFilter(t *testing.T) {
	stdout, stderr, err := runChild(t, "filter")
	if err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"filter: installed", "threads: all filtered", "work: ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("child output lacks %q:\n%s", want, stdout)
		}
	}
	t.Run("SUD", func(t *testing.T) {
		if _, reason, ok := strings.Cut(stdout, "sud: unsupported: "); ok {
			t.Skipf("syscall user dispatch: %s", strings.TrimSpace(reason))
		}
		if !strings.Contains(stdout, "sud: ok") {
			t.Fatalf("child output lacks sud result:\n%s", stdout)
		}
	})
}

// TestKernelTrapsForeignCode proves the filter is not just accepted but
// effective: a syscall from a page mapped after the snapshot gets SIGSYS.
func TestKernelTrapsForeignCode(t *testing.T) {
	stdout, stderr, err := runChild(t, "trap")
	if !strings.Contains(stdout, "trap: calling foreign code") {
		t.Fatalf("child did not reach the foreign call: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if strings.Contains(stdout, "trap: returned") {
		t.Fatalf("syscall from foreign code was not trapped:\n%s", stdout)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("child: %v, want a non-zero exit", err)
	}
	// The Go runtime has no SIGSYS handler of its own: it reports the
	// signal and exits 2.
	// sigcode 1 is SYS_SECCOMP: the signal came from our filter, not from
	// Syscall User Dispatch (2) or a kill(2).
	if !strings.Contains(stderr, "SIGSYS") || !strings.Contains(stderr, "sigcode=1") {
		t.Fatalf("child exit %v without a seccomp SIGSYS report:\n%s", err, stderr)
	}
}

func installHostFilter() error {
	ranges, err := HostCodeRanges()
	if err != nil {
		return err
	}
	prog, err := TrapFilter(ranges)
	if err != nil {
		return err
	}
	sf, err := Assemble(prog)
	if err != nil {
		return err
	}
	return InstallTrapFilter(sf)
}

// sudSelector lives in a package variable: the kernel reads it on every
// syscall while dispatch is on, and goroutine stacks move.
var sudSelector = SelectorAllow

func childFilter() int {
	if err := installHostFilter(); err != nil {
		fmt.Println("install:", err)
		return 1
	}
	fmt.Println("filter: installed")

	if err := allThreadsFiltered(); err != nil {
		fmt.Println("threads:", err)
		return 1
	}
	fmt.Println("threads: all filtered")

	if err := normalGoWork(); err != nil {
		fmt.Println("work:", err)
		return 1
	}
	// New threads started after the install inherit the filter.
	if err := allThreadsFiltered(); err != nil {
		fmt.Println("threads after work:", err)
		return 1
	}
	fmt.Println("work: ok")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch err := EnableSUD(0, 0, &sudSelector); {
	case errors.Is(err, ErrSUDNotSupported):
		fmt.Println("sud: unsupported:", err)
		return 0
	case err != nil:
		fmt.Println("sud: enable:", err)
		return 1
	}
	pid := os.Getpid() // a syscall with dispatch on and the selector at allow
	if err := DisableSUD(); err != nil {
		fmt.Println("sud: disable:", err)
		return 1
	}
	if pid != syscall.Getpid() {
		fmt.Println("sud: getpid disagrees")
		return 1
	}
	fmt.Println("sud: ok")
	return 0
}

// allThreadsFiltered checks /proc for seccomp mode 2 on every thread, which
// is what SECCOMP_FILTER_FLAG_TSYNC promises.
func allThreadsFiltered() error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("listing threads: %v (%d found)", err, len(tasks))
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited meanwhile
		}
		if !bytes.Contains(b, []byte("\nSeccomp:\t2\n")) {
			return fmt.Errorf("%s: not in seccomp filter mode", f)
		}
	}
	return nil
}

func normalGoWork() error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked goroutines that exit take their thread with them, so
			// the runtime keeps cloning fresh threads under the filter.
			runtime.LockOSThread()
			buf := make([]byte, 1<<20)
			for j := range buf {
				buf[j] = byte(i + j)
			}
			path := filepath.Join(os.TempDir(), fmt.Sprintf("vsysbed-bpf-%d-%d", os.Getpid(), i))
			if err := os.WriteFile(path, buf[:4096], 0o600); err != nil {
				errs <- err
				return
			}
			back, err := os.ReadFile(path)
			os.Remove(path)
			if err != nil || !bytes.Equal(back, buf[:4096]) {
				errs <- fmt.Errorf("file round trip: %v", err)
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	close(errs)
	return <-errs
}

func childTrap() int {
	if err := installHostFilter(); err != nil {
		fmt.Println("install:", err)
		return 1
	}
	// mov eax, 39 (getpid); syscall; ret — mapped after the snapshot, so
	// outside every allowed range.
	code := []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xc3}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println("mmap:", err)
		return 1
	}
	copy(mem, code)
	// A Go func value points at a word holding the code address.
	entry := uintptr(unsafe.Pointer(&mem[0]))
	fv := &entry
	fn := *(*func())(unsafe.Pointer(&fv))
	fmt.Println("trap: calling foreign code")
	os.Stdout.Sync()
	fn()
	fmt.Println("trap: returned")
	return 0
}
