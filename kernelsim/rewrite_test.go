package kernelsim

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

func TestMatchSite(t *testing.T) {
	// glibc's getppid: mov $0x6e,%eax; syscall, at a 16-aligned address,
	// after the previous function's padding (a nopl's last byte, 00).
	getppid := []byte{0x00, 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05}
	// glibc's __fcntl64_nocancel: je +0x26 (its displacement, 26, is also
	// the ES prefix), mov $0x48,%eax; syscall; cmp $-4096,%rax.
	inline := []byte{0x26, 0xb8, 0x48, 0, 0, 0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff}
	with := func(tail ...byte) []byte { return append(append([]byte{}, inline[:8]...), tail...) }
	// glibc's __open_nocancel: mov %rdi,%rsi (48 89 fe), mov $-100,%edi;
	// syscall; cmp $-4096,%rax, eax set further up.
	openat := []byte{0xfe, 0xbf, 0x9c, 0xff, 0xff, 0xff, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff}
	nr := func(n uint64) *cblock.Regs { return &cblock.Regs{Rax: n} }
	for _, tc := range []struct {
		name string
		head uint64
		code []byte
		regs *cblock.Regs
		want string
	}{
		{"glibc getppid", 0x7f00000d54f0, getppid, nr(110), patternFunction},
		{"another number in eax", 0x7f00000d54f0, getppid, nr(39), ""},
		{"not a function start, nothing after", 0x7f00000d54f4, getppid, nr(110), ""},
		{"REX: mov to r8d", 0x7f00000d54f0, []byte{0x41, 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05}, nr(110), ""},
		{"operand size prefix", 0x7f00000d54f0, []byte{0x66, 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05}, nr(110), ""},
		{"address size prefix", 0x7f00000d54f0, []byte{0x67, 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05}, nr(110), ""},
		{"mov to ecx", 0x7f00000d54f0, []byte{0xc3, 0xb9, 0x6e, 0, 0, 0, 0x0f, 0x05}, &cblock.Regs{Rcx: 110}, ""},
		{"sysenter, not syscall", 0x7f00000d54f0, []byte{0xc3, 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x34}, nr(110), ""},
		{"short", 0x7f00000d54f0, getppid[:7], nr(110), ""},
		{"inline, cmp $-4096,%rax", 0x7f00000fceca, inline, nr(72), patternInline},
		{"inline, cmp $-4095,%rax", 0x7f00000fceca, with(0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff), nr(72), patternInline},
		{"inline, cmp $-4096,%eax", 0x7f00000fceca, with(0x3d, 0x00, 0xf0, 0xff, 0xff, 0x90), nr(72), patternInline},
		{"inline, mov %eax,%edx", 0x7f00000fceca, with(0x89, 0xc2), nr(72), patternInline},
		{"inline, musl's mov %rax,%rdi", 0x7f00000fceca, with(0x48, 0x89, 0xc7), nr(72), patternInline},
		{"inline, mov %rax,%rsi", 0x7f00000fceca, with(0x48, 0x89, 0xc6), nr(72), ""},
		{"inline, ret", 0x7f00000fceca, with(0xc3), nr(72), patternInline},
		// Go's runtime.futex.abi0: mov $0xca,%eax; syscall; mov %eax,0x30(%rsp); ret.
		{"inline, Go's result store and ret", 0x48855c, append([]byte{0x28, 0xb8, 0xca, 0, 0, 0, 0x0f, 0x05}, 0x89, 0x44, 0x24, 0x30, 0xc3), nr(202), patternInline},
		{"inline, Go's result store, no ret", 0x48855c, append([]byte{0x28, 0xb8, 0xca, 0, 0, 0, 0x0f, 0x05}, 0x89, 0x44, 0x24, 0x30, 0x90), nr(202), ""},
		{"inline, Go's result store cut", 0x48855c, append([]byte{0x28, 0xb8, 0xca, 0, 0, 0, 0x0f, 0x05}, 0x89, 0x44, 0x24, 0x30), nr(202), ""},
		{"inline, mov %eax,(%rsp,disp32)", 0x48855c, append([]byte{0x28, 0xb8, 0xca, 0, 0, 0, 0x0f, 0x05}, 0x89, 0x84, 0x24, 0x30, 0xc3), nr(202), ""},
		{"inline, another number", 0x7f00000fceca, inline, nr(39), ""},
		{"inline, eax's upper half set", 0x7f00000fceca, inline, nr(1<<32 | 72), ""},
		{"inline, cmp $-4094,%rax", 0x7f00000fceca, with(0x48, 0x3d, 0x02, 0xf0, 0xff, 0xff), nr(72), ""},
		{"inline, cmp cut short", 0x7f00000fceca, inline[:12], nr(72), ""},
		{"inline, test %eax,%eax", 0x7f00000fceca, with(0x85, 0xc0), nr(72), ""},
		{"inline, REX before the mov", 0x7f00000fceca, append([]byte{0x41}, inline[1:]...), nr(72), ""},
		{"mov to edi, edi as set", 0x7f00000fcffa, openat, &cblock.Regs{Rax: 257, Rdi: 0xffffff9c}, patternInline},
		{"mov to edi, rdi sign-extended", 0x7f00000fcffa, openat, &cblock.Regs{Rax: 257, Rdi: ^uint64(99)}, ""},
		{"mov to edi at a function start, no check after", 0x7f00000fcff0, openat[:8], &cblock.Regs{Rax: 257, Rdi: 0xffffff9c}, ""},
		{"mov to esi", 0x7f00000fcffa, append([]byte{0x90, 0xbe, 8, 0, 0, 0}, openat[6:]...), &cblock.Regs{Rsi: 8}, patternInline},
		{"mov to edx", 0x7f00000fcffa, append([]byte{0x90, 0xba, 8, 0, 0, 0}, openat[6:]...), &cblock.Regs{Rdx: 8}, patternInline},
		{"mov to ebx: not passed", 0x7f00000fcffa, append([]byte{0x90, 0xbb, 0, 0, 0, 0}, openat[6:]...), &cblock.Regs{}, ""},
	} {
		if got := MatchSite(tc.head, tc.code, tc.regs); got != tc.want {
			t.Errorf("%s: MatchSite = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEncodeStubAndJump(t *testing.T) {
	head := uint64(0x7f00000d54f0)
	stub := head - 0x10000
	b, ok := EncodeStub(stub, head+7, []byte{0xb8, 0x6e, 0, 0, 0})
	if !ok {
		t.Fatal("EncodeStub refused a stub 64 KiB away")
	}
	want := []byte{0xb8, 0x6e, 0, 0, 0, 0x48, 0x8d, 0x0d}
	want = binary.LittleEndian.AppendUint32(want, uint32(int32(int64(head+7)-int64(stub+12))))
	want = append(want, 0x65, 0xff, 0x24, 0x25)
	want = binary.LittleEndian.AppendUint32(want, cblock.OffPatchedEntry)
	if !bytes.Equal(b, want) || len(b) > stubSize {
		t.Errorf("stub = % x, want % x", b, want)
	}
	j, ok := EncodeJump(head, stub)
	if !ok || !bytes.Equal(j, []byte{0xe9, 0xfb, 0xff, 0xfe, 0xff}) { // stub - (head+5) = -0x10005
		t.Errorf("jump = % x, %v", j, ok)
	}
	if _, ok := EncodeJump(head, head+1<<31+5); ok {
		t.Error("EncodeJump accepted a target 2 GiB away")
	}
	if _, ok := EncodeJump(head, head+5-1<<31); !ok {
		t.Error("EncodeJump refused rel32's lowest target")
	}
	if _, ok := EncodeStub(head-1<<32, head+7, []byte{0xb8, 0x6e, 0, 0, 0}); ok {
		t.Error("EncodeStub accepted a stub 4 GiB away")
	}
}

func TestProtLine(t *testing.T) {
	line := "7f3a1c028000-7f3a1c1bd000 r-xp 00028000 08:01 1234 /usr/lib/x86_64-linux-gnu/libc.so.6"
	if p, ok := protLine(line, 0x7f3a1c0d5000); !ok || p != unix.PROT_READ|unix.PROT_EXEC {
		t.Errorf("protLine = %#x, %v", p, ok)
	}
	if _, ok := protLine(line, 0x7f3a1c1bd000); ok {
		t.Error("protLine matched the end address")
	}
	if p, ok := protLine("1000-2000 rw-p 0 0:0 0", 0x1000); !ok || p != unix.PROT_READ|unix.PROT_WRITE {
		t.Errorf("protLine rw- = %#x, %v", p, ok)
	}
}

// writeCode writes into a read-only executable page and gives it back its
// protection: never left writable.
func TestWriteCodeRestoresProtection(t *testing.T) {
	r, _, e := unix.Syscall6(unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_EXEC,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, r, pageSize, 0)
	addr := uint64(r) + 0x40
	if err := writeCode(addr, []byte{0xe9, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if err := readGuest(addr, got); err != nil || !bytes.Equal(got, []byte{0xe9, 1, 2, 3, 4}) {
		t.Errorf("bytes = % x, %v", got, err)
	}
	if p, err := protOf(addr); err != nil || p != unix.PROT_READ|unix.PROT_EXEC {
		t.Errorf("protection after = %#x, %v; want r-x", p, err)
	}
}
