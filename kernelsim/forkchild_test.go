package kernelsim

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// installFDs closes every fd below the host range that is not the
// guest's, whatever the gaps between the guest's numbers: run in a child
// of the test binary, whose own stdio it closes.
func TestInstallFDsClosesTheRest(t *testing.T) {
	if os.Getenv("KERNELSIM_INSTALLFDS") == "1" {
		installFDsChild()
		// Now: the test binary's own ends (its -cover counters written
		// at exit into a directory fd installFDs closed) are not ours.
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallFDsClosesTheRest$")
	cmd.Env = append(os.Environ(), "KERNELSIM_INSTALLFDS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := ""
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "fds: "); ok {
			got = s
		}
	}
	// The guest's 0, 2, 7 and 40, the host's 300 and up untouched; 1,
	// 3-6, 8-39 and 41-299 closed.
	if want := "0 2 7 40 300 301"; got != want {
		t.Errorf("open fds below 302 after installFDs: %q, want %q\n%s", got, want, out)
	}
}

func installFDsChild() {
	const base = 300
	report, _ := unix.FcntlInt(1, unix.F_DUPFD, 301) // stdout, kept above base
	unix.Dup3(2, 300, 0)                             // a host fd: kept
	for _, fd := range []int{3, 5, 6, 8, 39, 41, 299} {
		unix.Dup3(0, fd, 0) // not the guest's: closed
	}
	// As received: above the host range (receiveFork).
	st := &ForkState{FDs: []ForkFD{{Num: 0}, {Num: 2}, {Num: 7}, {Num: 40}}}
	var fds []int
	for range st.FDs {
		fd, _ := unix.FcntlInt(0, unix.F_DUPFD, 330)
		fds = append(fds, fd)
	}
	installFDs(st, fds, base)
	var open []string
	for fd := 0; fd < 302; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			open = append(open, strconv.Itoa(fd))
		}
	}
	unix.Write(report, []byte("fds: "+strings.Join(open, " ")+"\n"))
}

// A file mapped twice (a library's segments) is opened and passed once:
// both regions name the same passed fd.
func TestSnapshotOpensAFileOnce(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "lib")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	var at [2]uintptr
	for i := range at {
		b, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE) // never merged: the same offset twice
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(b)
		at[i] = uintptr(unsafe.Pointer(&b[0]))
	}
	p := &Process{HostFDBase: 1000}
	for _, a := range at {
		p.vmas.add(uint64(a), uint64(a)+4096)
	}
	st := &ForkState{}
	files, err := p.snapshot(st)
	for _, fd := range files {
		defer unix.Close(fd)
	}
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, r := range st.Regions {
		if r.Start == uint64(at[0]) || r.Start == uint64(at[1]) {
			fds = append(fds, r.FD)
		}
	}
	if len(fds) != 2 || fds[0] < 0 || fds[0] != fds[1] || st.NumFiles != 1 {
		t.Errorf("regions' fds %v, %d mapping files passed; want one fd for both", fds, st.NumFiles)
	}
}
