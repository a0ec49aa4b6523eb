package fdpass

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(p[0]), "a"), os.NewFile(uintptr(p[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// More fds than one batch holds arrive in order, each at floor or above,
// each the same open file as the one sent.
func TestFDsCrossInBatchesAboveTheFloor(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	const n = batch + 50
	sent := make([]int, n)
	for i := range sent {
		f := r
		if i%2 == 1 {
			f = w
		}
		sent[i] = int(f.Fd())
	}
	done := make(chan error, 1)
	go func() { done <- SendFDs(int(a.Fd()), sent) }()
	const floor = 700
	got, err := ReceiveFDs(b, n, floor)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("received %d fds, want %d", len(got), n)
	}
	for i, fd := range got {
		if fd < floor {
			t.Fatalf("fd %d at %d, below the floor %d", i, fd, floor)
		}
		var want, have unix.Stat_t
		unix.Fstat(sent[i], &want)
		unix.Fstat(fd, &have)
		if want.Ino != have.Ino {
			t.Fatalf("fd %d is another file", i)
		}
		unix.Close(fd)
	}
}

func TestSendAllAndReader(t *testing.T) {
	a, b := pair(t)
	msg := make([]byte, 1<<20) // more than one socket buffer
	for i := range msg {
		msg[i] = byte(i)
	}
	done := make(chan error, 1)
	go func() { done <- SendAll(a, msg) }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(Reader(b.Fd()), got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != msg[i] {
			t.Fatalf("byte %d differs", i)
		}
	}
	a.Close()
	if _, err := Reader(b.Fd()).Read(got[:1]); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	// A dead peer is an error, not SIGPIPE (which would end the test).
	if err := SendAllFD(int(b.Fd()), []byte("x")); err == nil {
		t.Fatal("send to a closed peer succeeded")
	}
}
