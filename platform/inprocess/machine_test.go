package inprocess

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/kernelsim"
)

// The host Machine copies guest memory in this address space, and a bad
// address is EFAULT, not a fault that kills the host.
func TestHostMachineMemory(t *testing.T) {
	m := hostMachine{pid: unix.Getpid()}
	mem, err := unix.Mmap(-1, 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))
	if err := unix.Mprotect(mem[4096:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteMem(addr+10, []byte("guest")); err != nil || string(mem[10:15]) != "guest" {
		t.Fatalf("WriteMem: %v, memory %q", err, mem[10:15])
	}
	got := make([]byte, 5)
	if err := m.ReadMem(addr+10, got); err != nil || string(got) != "guest" {
		t.Fatalf("ReadMem: %v, %q", err, got)
	}
	if err := m.ReadMem(addr+4096, got); err != unix.EFAULT {
		t.Errorf("ReadMem of an unreadable page: %v, want EFAULT", err)
	}
	if err := m.WriteMem(addr+4094, got); err != unix.EFAULT {
		t.Errorf("WriteMem across into an unwritable page: %v, want EFAULT", err)
	}
}

// Its Syscall returns the raw result: the value, or -errno.
func TestHostMachineSyscall(t *testing.T) {
	m := hostMachine{pid: unix.Getpid()}
	if r := m.Syscall(unix.SYS_GETPID, &kernelsim.Args{}); r != int64(unix.Getpid()) {
		t.Errorf("getpid = %d, want %d", r, unix.Getpid())
	}
	if r := m.Syscall(unix.SYS_CLOSE, &kernelsim.Args{^uint64(0)}); r != -int64(unix.EBADF) {
		t.Errorf("close(-1) = %d, want -EBADF", r)
	}
}

// The forked personality is set on the calling thread, and setting it
// again is no change.
func TestForkedPersonalityIsTheThreads(t *testing.T) {
	done := make(chan [2]uint64)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with its personality
		var r [2]uint64
		r[0] = uint64(setForkedPersonality())
		r[1] = hostPersonality()
		if e := setForkedPersonality(); e != 0 {
			r[0] = uint64(e)
		}
		done <- r
	}()
	r := <-done
	if r[0] != 0 || r[1]&ForkedHostPersonality != ForkedHostPersonality {
		t.Errorf("setForkedPersonality: errno %d, personality %#x", r[0], r[1])
	}
}

// MemFile's memfd is sized, close-on-exec and above the guest's fds.
func TestMemFile(t *testing.T) {
	pl := platform{fdBase: 100}
	fd, e := pl.MemFile("test-shmem", 3*4096)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size != 3*4096 {
		t.Errorf("size %d (%v), want %d", st.Size, err, 3*4096)
	}
	if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); fd < 400 || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d (flags %#x): want close-on-exec, at 400 or above", fd, fl)
	}
	if _, e := pl.MemFile("test-shmem", 1<<63); e != unix.EFBIG && e != unix.EINVAL {
		t.Errorf("a memfd of 2^63 bytes: %v, want EFBIG or EINVAL", e)
	}
}
