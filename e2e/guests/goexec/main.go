// Command goexec runs os/exec from many goroutines at once, as `go build`
// does: Go's runtime starts each child with clone(CLONE_VM|CLONE_VFORK)
// from whichever OS thread the goroutine is on, not from the main thread.
// Its output is deterministic: the results are printed in order.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
)

func main() {
	const n = 16
	out := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// A goroutine locked to a thread of its own starts from a
			// thread that is surely not the main one.
			if i%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			b, err := exec.Command("/bin/sh", "-c", fmt.Sprintf("echo child %d; exit %d", i, i%3)).Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				fmt.Fprintf(os.Stderr, "goexec: %d: %v\n", i, err)
				os.Exit(1)
			}
			out[i] = fmt.Sprintf("%s exit=%d", b[:len(b)-1], code)
		}(i)
	}
	wg.Wait()
	for _, s := range out {
		fmt.Println(s)
	}
}
