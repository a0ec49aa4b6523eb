// Command gostatic is a static Go guest (CGO_ENABLED=0) for vsysbed's
// threads-and-signals suite: the Go runtime creates threads with clone,
// installs handlers for every signal on sigaltstacks, preempts goroutines
// with SIGURG, and edits the signal context to inject calls — everything
// a guest kernel must get exactly right.
//
// Each check prints one deterministic line; a wrong result prints a
// message on stderr and exits 1. "OK gostatic" ends a good run. A
// watchdog goroutine fails a run that hangs, and a POSIX timer's SIGTERM
// kills one that hangs with the world stopped (a GC waiting for a
// goroutine it cannot preempt runs no goroutine at all).
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gostatic: "+format+"\n", args...)
	os.Exit(1)
}

// goroutines fans out n goroutines over channels and a WaitGroup.
func goroutines(n int) {
	results := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := 0
			for j := 0; j <= i; j++ {
				s += j
			}
			results <- s
		}(i)
	}
	wg.Wait()
	close(results)
	total := 0
	for r := range results {
		total += r
	}
	// sum over i of i(i+1)/2 = n(n+1)(n+2)/6 - computed for i in [0, n).
	want := (n - 1) * n * (n + 1) / 6
	if total != want {
		fail("goroutines: total %d, want %d", total, want)
	}
	fmt.Printf("gostatic: %d goroutines ok\n", n)
}

// timers runs many concurrent timers and a ticker; all must fire.
func timers() {
	const n = 100
	var fired atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		time.AfterFunc(time.Duration(i%10)*time.Millisecond, func() {
			fired.Add(1)
			wg.Done()
		})
	}
	wg.Wait()
	t := time.NewTicker(2 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-t.C
	}
	t.Stop()
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		fail("timers: slept %v, want >= 20ms", d)
	}
	if fired.Load() != n {
		fail("timers: %d fired, want %d", fired.Load(), n)
	}
	fmt.Println("gostatic: timers ok")
}

// gcPressure allocates from several goroutines so the GC runs many
// cycles concurrently with mutators (stop-the-world uses preemption).
func gcPressure() {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	var keep [8][]byte
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				b := make([]byte, 16<<10)
				b[0] = byte(i)
				keep[w] = b
			}
		}(w)
	}
	wg.Wait()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.NumGC-before.NumGC < 2 {
		fail("gc: only %d collections", after.NumGC-before.NumGC)
	}
	fmt.Println("gostatic: gc pressure ok")
}

// spin loops without a function call, so only an asynchronous preemption
// (SIGURG) can stop it for the GC.
//
//go:noinline
func spin(started *atomic.Int32, stop *atomic.Bool, counter *uint64) {
	started.Add(1)
	for !stop.Load() {
		*counter++
	}
}

// preemption runs runtime.GC while 4 goroutines spin: the GC's
// stop-the-world needs the runtime to preempt them with signals. There
// are more spinners than CPUs here (GOMAXPROCS is the CPU count, 2 on the
// test machines), so that all of them, and main again, get to run at all,
// the scheduler must already preempt running spinners.
func preemption() {
	var stop atomic.Bool
	var started atomic.Int32
	counters := make([]uint64, 4)
	var wg sync.WaitGroup
	for i := range counters {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			spin(&started, &stop, &counters[i])
		}(i)
	}
	for started.Load() < int32(len(counters)) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		runtime.GC()
		runtime.GC()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fail("preemption: runtime.GC did not finish while goroutines spun")
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	fmt.Println("gostatic: async preemption ok")
}

// tcpEcho sends 1 MiB through an echo server on 127.0.0.1 and compares
// checksums.
func tcpEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fail("dial: %v", err)
	}
	defer c.Close()
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	sent := sha256.Sum256(payload)
	go func() {
		if _, err := c.Write(payload); err != nil {
			fail("write: %v", err)
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		fail("read: %v", err)
	}
	if n != int64(len(payload)) {
		fail("echo: got %d bytes back, want %d", n, len(payload))
	}
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if got != sent {
		fail("echo: checksum %x, want %x", got, sent)
	}
	fmt.Printf("gostatic: tcp echo %d bytes ok\n", n)
}

// notify receives a SIGUSR1 the process sends itself.
func notify() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		fail("kill: %v", err)
	}
	select {
	case s := <-ch:
		if s != syscall.SIGUSR1 {
			fail("notify: got %v", s)
		}
	case <-time.After(10 * time.Second):
		fail("notify: SIGUSR1 never arrived")
	}
	signal.Stop(ch)
	fmt.Println("gostatic: signal.Notify SIGUSR1 ok")
}

// killTimer arms a CLOCK_MONOTONIC timer that sends SIGTERM, which the Go
// runtime turns into death by SIGTERM when nothing asked to be notified.
func killTimer(after time.Duration) {
	const clockMonotonic, sigevSignal = 1, 0
	var sev struct {
		value  uintptr
		signo  int32
		notify int32
		_      [48]byte
	}
	sev.signo, sev.notify = int32(syscall.SIGTERM), sigevSignal
	var id int32
	if _, _, e := syscall.RawSyscall(syscall.SYS_TIMER_CREATE, clockMonotonic,
		uintptr(unsafe.Pointer(&sev)), uintptr(unsafe.Pointer(&id))); e != 0 {
		fail("timer_create: %v", e)
	}
	spec := [4]int64{0, 0, int64(after / time.Second), 0} // interval, value
	if _, _, e := syscall.RawSyscall6(syscall.SYS_TIMER_SETTIME, uintptr(id), 0,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		fail("timer_settime: %v", e)
	}
}

func main() {
	killTimer(50 * time.Second)
	go func() {
		time.Sleep(45 * time.Second)
		fail("watchdog expired (hang)")
	}()
	goroutines(1000)
	timers()
	gcPressure()
	preemption()
	tcpEcho()
	notify()
	fmt.Println("OK gostatic")
}
