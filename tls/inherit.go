package tls

/*
#include <stdlib.h>
#include "entry.h"
*/
import "C"

import (
	"unsafe"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// StartSignals is the signal state this process was started with, as the
// constructor in inherit.c read it before Go's runtime ran: the signals
// that were SIG_IGN (bit N-1 for signal N) and the main thread's blocked
// mask. ok is false when the constructor could not read them.
func StartSignals() (ignored, mask uint64, ok bool) {
	return uint64(C.vsysbed_start_ignored), uint64(C.vsysbed_start_mask), C.vsysbed_start_recorded != 0
}

// StartStdioClosed says which of fds 0-2 (bit N for fd N) this process
// was started without. Go's runtime opens /dev/null in their place before
// main, so only the constructor in inherit.c can tell.
func StartStdioClosed() uint8 { return uint8(C.vsysbed_start_stdio_closed) }

// GoSignal34Blockable says whether gosigtab.c made signal 34 blockable on
// Go's threads before the runtime started (it is glibc guests' SIGRTMIN,
// and only a guest thread may take it from the kernel's queue).
func GoSignal34Blockable() bool { return C.vsysbed_gosigtab_patched != 0 }

// RelayBlocked says whether this process (a host process or the
// supervisor) has the signals the supervisor forwards (RelayOnly) blocked
// on every one of Go's threads from the start: only its guest threads'
// relay, or the supervisor's signalfd, takes them, each with its siginfo.
func RelayBlocked() bool { return C.vsysbed_relay_blocked != 0 }

// goTerminalSignalsBlockable says whether gosigtab.c could make SIGHUP,
// SIGINT, SIGQUIT and SIGTERM blockable on Go's threads (RelayBlocked),
// without changing anything.
func goTerminalSignalsBlockable() bool {
	return C.vsysbed_gosigtab_blockable(C.uint64_t(cblock.RelayOnlyMask), 1) != 0
}

// isHostCommand says whether inherit.c's constructor takes a process
// started with this subcommand for a host process.
func isHostCommand(arg string) bool {
	c := C.CString(arg)
	defer C.free(unsafe.Pointer(c))
	return C.vsysbed_is_host_command(c) != 0
}
