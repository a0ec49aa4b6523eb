//go:build vsysbed_weakfilter

package bpf

import "golang.org/x/sys/unix"

// A deliberately broken build (`go build -tags vsysbed_weakfilter`,
// `make weakfilter`) whose trap filter lets guest code execute getpid and
// getppid on the real kernel. It exists only so that a test can prove the
// eBPF audit counts such escapes; the results stay correct because the
// guest's pid is the host process's.
var weakenedSyscalls = []uint32{unix.SYS_GETPID, unix.SYS_GETPPID}
