package vdsoinject

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Mapping is an image mapped into this process with its slots filled.
type Mapping struct {
	Base uintptr // the ELF header: the guest's AT_SYSINFO_EHDR
	Size uintptr // page multiple

	im   *Image
	once sync.Once
	err  error
}

// Addr is the run-time address of an image offset.
func (m *Mapping) Addr(off uint64) uintptr { return m.Base + uintptr(off) }

// Entry is the run-time address of t's exported stub.
func (m *Mapping) Entry(t Target) uintptr { return m.Addr(m.im.StubOffset(t)) }

// Slot reads t's filled slot back from memory.
func (m *Mapping) Slot(t Target) uintptr {
	b := memAt(m.Addr(m.im.SlotOffset(t)), 8)
	return uintptr(binary.LittleEndian.Uint64(b))
}

// Unmap releases the mapping. Guest code must no longer run in it.
func (m *Mapping) Unmap() error {
	m.once.Do(func() {
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, m.Base, m.Size, 0); e != 0 {
			m.err = fmt.Errorf("vdsoinject: munmap %#x: %w", m.Base, e)
		}
	})
	return m.err
}

// Region is a page-aligned range of the image with the protection it
// keeps once the slots are filled.
type Region struct {
	Off, Len uint64
	Prot     int // unix.PROT_* bits
}

// Regions lists the image's protection regions, covering
// [0, page-rounded len(Data)): metadata R, text R+X, slots and the rest R.
// Nothing stays writable.
func (im *Image) Regions() []Region {
	size := alignUp(uint64(len(im.Data)), PageSize)
	return []Region{
		{0, im.textOff, unix.PROT_READ},
		{im.textOff, im.textEnd - im.textOff, unix.PROT_READ | unix.PROT_EXEC},
		{im.slotsOff, size - im.slotsOff, unix.PROT_READ},
	}
}

// Fill returns a copy of Data, padded to whole pages, with each slot
// pointing at targets[t], or at the image's own fallback when t is absent
// (or 0), for an image placed at base. Map uses it for this process; a
// tracer injecting the image into another process writes these bytes.
func (im *Image) Fill(base uintptr, targets map[Target]uintptr) ([]byte, error) {
	for t := range targets {
		if !t.valid() {
			return nil, fmt.Errorf("vdsoinject: unknown target %d", int(t))
		}
	}
	if len(im.Data) == 0 || im.textEnd == 0 {
		return nil, fmt.Errorf("vdsoinject: image not built")
	}
	if base%PageSize != 0 {
		return nil, fmt.Errorf("vdsoinject: base %#x not page aligned", base)
	}
	out := make([]byte, alignUp(uint64(len(im.Data)), PageSize))
	copy(out, im.Data)
	for _, t := range Targets {
		dst, ok := targets[t]
		if !ok || dst == 0 {
			dst = base + uintptr(im.fbOff[t])
		}
		binary.LittleEndian.PutUint64(out[im.slotOff[t]:], uint64(dst))
	}
	return out, nil
}

// Map maps the image at an address the kernel chooses (randomised under
// ASLR, like the real vDSO), fills the slots as Fill does, then drops write
// permission everywhere (Regions). Raw syscalls are used instead of
// unix.Mmap because the mapping outlives any Go slice and must not be
// tracked by the unix package.
func (im *Image) Map(targets map[Target]uintptr) (*Mapping, error) {
	return im.MapAt(0, targets)
}

// MapAt is Map at a fixed address (0: where the kernel picks), without
// replacing anything: a forked guest keeps its parent's vDSO address,
// with the slots filled for the new host process's own entry points.
func (im *Image) MapAt(at uintptr, targets map[Target]uintptr) (*Mapping, error) {
	// Validate before mapping anything.
	if _, err := im.Fill(0, targets); err != nil {
		return nil, err
	}
	size := uintptr(alignUp(uint64(len(im.Data)), PageSize))
	flags := uintptr(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS)
	if at != 0 {
		flags |= unix.MAP_FIXED_NOREPLACE
	}
	base, _, e := unix.Syscall6(unix.SYS_MMAP, at, size, unix.PROT_READ|unix.PROT_WRITE, flags, ^uintptr(0), 0)
	if e != 0 {
		return nil, fmt.Errorf("vdsoinject: mmap %d bytes at %#x: %w", size, at, e)
	}
	if at != 0 && base != at {
		unix.Syscall(unix.SYS_MUNMAP, base, size, 0)
		return nil, fmt.Errorf("vdsoinject: mmap at %#x landed at %#x", at, base)
	}
	m := &Mapping{Base: base, Size: size, im: im}
	img, err := im.Fill(base, targets)
	if err != nil {
		m.Unmap()
		return nil, err
	}
	copy(memAt(base, int(size)), img)
	for _, r := range im.Regions() {
		if r.Len == 0 {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MPROTECT, m.Addr(r.Off), uintptr(r.Len), uintptr(r.Prot)); e != 0 {
			err := fmt.Errorf("vdsoinject: mprotect %#x+%#x: %w", m.Addr(r.Off), r.Len, e)
			m.Unmap()
			return nil, err
		}
	}
	return m, nil
}
