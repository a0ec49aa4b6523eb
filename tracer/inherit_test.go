package tracer

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHostFiles(t *testing.T) {
	const null, gate = 77, 78
	files, dropped := hostFiles([]int{0, 2, 3, 9, 999, 1000, 1500}, null, 1000, gate)
	if len(files) != 1004 {
		t.Fatalf("%d files, want 1004 (up to the gate at 1003)", len(files))
	}
	want := map[int]uintptr{
		0: null, 1: null, 2: null, // the host's own stdio while Go starts
		3: 3, 9: 9, 999: 999, // at their numbers
		1000: 0, 1002: 2, // the caller's 0 and 2; its 1 was closed
		1003: gate,
	}
	for i, f := range files {
		w, ok := want[i]
		if !ok {
			w = closedFD
		}
		if f != w {
			t.Errorf("files[%d] = %d, want %d", i, int(f), int(w))
		}
	}
	if !reflect.DeepEqual(dropped, []int{1000, 1500}) {
		t.Errorf("dropped %v, want the fds in the host's range [1000 1500]", dropped)
	}

	noGate, _ := hostFiles(nil, null, 1000, closedFD)
	if len(noGate) != 1003 || noGate[1000] != closedFD || noGate[1003-1] != closedFD {
		t.Errorf("without a gate or stdio: %d files, stdio slots %d %d", len(noGate), int(noGate[1000]), int(noGate[1002]))
	}
}

func TestSameNumbers(t *testing.T) {
	if got := sameNumbers(nil); got != nil {
		t.Errorf("no fds: %v, want nil (0-2 closed too)", got)
	}
	got := sameNumbers([]int{1, 4})
	want := []uintptr{closedFD, 1, closedFD, closedFD, 4}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sameNumbers([1 4]) = %v, want %v", got, want)
	}
}

// The fds an execve keeps are the non-close-on-exec ones; what Go opens
// is close-on-exec.
func TestOpenInheritedFDs(t *testing.T) {
	r, w, err := os.Pipe() // close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	kept, err := unix.Dup(int(r.Fd())) // dup clears close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(kept)
	fds := openInheritedFDs()
	if !slices.Contains(fds, kept) {
		t.Errorf("%v lacks the inheritable fd %d", fds, kept)
	}
	if slices.Contains(fds, int(r.Fd())) || slices.Contains(fds, int(w.Fd())) {
		t.Errorf("%v has a close-on-exec fd (%d, %d)", fds, r.Fd(), w.Fd())
	}
	if !slices.IsSorted(fds) {
		t.Errorf("%v is not sorted", fds)
	}
}
