// Package procmem copies memory of a process, this one included, with
// process_vm_readv and process_vm_writev: a bad address comes back as an
// error (EFAULT), never as a fault in the caller. kernelsim reads and
// writes guest memory with it (the guest shares the host process's
// address space, and a guest pointer may be bad), the ptrace platform a
// tracee's.
package procmem

import "golang.org/x/sys/unix"

// Read copies len(b) bytes at addr of process pid into b. A copy cut short
// (an unmapped page inside the range) is EFAULT.
func Read(pid int, addr uint64, b []byte) error {
	return copyMem(pid, addr, b, unix.ProcessVMReadv)
}

// Write copies b to addr of process pid. process_vm_writev honours page
// protections: a read-only page is EFAULT, as for a short copy.
func Write(pid int, addr uint64, b []byte) error {
	return copyMem(pid, addr, b, unix.ProcessVMWritev)
}

func copyMem(pid int, addr uint64, b []byte, op func(int, []unix.Iovec, []unix.RemoteIovec, uint) (int, error)) error {
	if len(b) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &b[0]}}
	local[0].SetLen(len(b))
	n, err := op(pid, local, []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return unix.EFAULT
	}
	return nil
}
