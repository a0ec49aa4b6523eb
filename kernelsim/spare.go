package kernelsim

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Spare host processes (platform/inprocess/pool.go): a platform may keep
// a child host process or two started ahead of the guest's next fork,
// which it hands the fork to. Until then a spare is a real child of this
// process that the guest must not see: it sits in a process group of its
// own (kill(0), kill(-pgrp) and the terminal miss it), kill(-1) leaves it
// out (killMany), and a wait for any child (wait4(-1), waitid(P_ALL))
// answers ECHILD when the spares are the only children (waitForAny).
// Still visible: /proc lists it.
var spares struct {
	mu   sync.Mutex // held across a spare's start: its pid is known only after
	pids map[int]bool
}

// StartSpare is called before a spare is started; the function it returns
// registers its pid (0: none was started). A wait for any child waits for
// it in between, so it never takes a spare for one of the guest's.
func StartSpare() (started func(pid int)) {
	spares.mu.Lock()
	return func(pid int) {
		if pid > 0 {
			if spares.pids == nil {
				spares.pids = map[int]bool{}
			}
			spares.pids[pid] = true
		}
		spares.mu.Unlock()
	}
}

// DropSpare forgets a spare: handed a fork (it is the guest's child now),
// or ended and reaped.
func DropSpare(pid int) {
	spares.mu.Lock()
	delete(spares.pids, pid)
	spares.mu.Unlock()
}

func isSpare(pid int) bool {
	spares.mu.Lock()
	defer spares.mu.Unlock()
	return spares.pids[pid]
}

// onlySpares: this process has spares, and no other child (running or a
// zombie), so a wait for any child has nothing of the guest's to wait for.
func onlySpares() bool {
	spares.mu.Lock()
	defer spares.mu.Unlock()
	if len(spares.pids) == 0 {
		return false
	}
	for _, c := range hostChildren() {
		if !spares.pids[c] {
			return false
		}
	}
	return true
}

// hostChildren lists the children of every thread of this process
// (/proc/PID/task/TID/children: a wait collects any thread's children).
func hostChildren() []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	names, err := machine.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, name := range names {
		b, err := machine.ReadFile(dir + "/" + name + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// waitForAny runs a wait for any child (call, passed through) as the
// guest would see it without spares: ECHILD when only spares are there,
// and a spare that ended (killed from outside) is not the guest's child:
// the wait goes on. reaped says which pid a successful call collected.
func waitForAny(call func() int64, reaped func(r int64) int) int64 {
	for {
		if onlySpares() {
			return -int64(unix.ECHILD)
		}
		r := call()
		if r > 0 {
			if c := reaped(r); c > 0 && isSpare(c) {
				DropSpare(c)
				continue
			}
		}
		return r
	}
}
