package kernelsim

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pid = unix.Getpid()

func readGuest(addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	return machine.ReadMem(addr, buf)
}

func writeGuest(addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	return machine.WriteMem(addr, buf)
}

func readU64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := readGuest(addr, b[:]); err != nil {
		return 0, err
	}
	return le64(b[:]), nil
}

func readU32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := readGuest(addr, b[:]); err != nil {
		return 0, err
	}
	return le32(b[:]), nil
}

func writeU64(addr, v uint64) error {
	var b [8]byte
	put64(b[:], v)
	return writeGuest(addr, b[:])
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func put64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// readString reads a NUL-terminated string of at most max bytes.
func readString(addr uint64, max int) (string, error) {
	var out []byte
	var chunk [256]byte
	for len(out) < max {
		// Read up to the next page boundary so a string ending just before
		// an unmapped page is still readable.
		n := len(chunk)
		if room := int(4096 - (addr+uint64(len(out)))%4096); room < n {
			n = room
		}
		if err := readGuest(addr+uint64(len(out)), chunk[:n]); err != nil {
			return "", err
		}
		for i := 0; i < n; i++ {
			if chunk[i] == 0 {
				return string(append(out, chunk[:i]...)), nil
			}
		}
		out = append(out, chunk[:n]...)
	}
	return "", errors.New("string too long")
}

func errnoOf(err error) int64 {
	var e unix.Errno
	if errors.As(err, &e) {
		return -int64(e)
	}
	return -int64(unix.EFAULT)
}

// guestPtr is a guest address as a pointer, for handing guest memory to a
// syscall wrapper that takes a Go pointer (the memory is not Go's).
func guestPtr(addr uint64) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(nil), uintptr(addr)) }
