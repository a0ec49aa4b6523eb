package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Bad programs: files Linux runs although they are odd, and files it
// refuses, each compared with what the kernel does for the same file. A
// native refusal is execve's errno, which a shell (and vsysbed) reports
// as 127 for ENOENT and 126 for every other.

// nativeStatus execs argv directly and returns the program's status, or
// the shell's status for execve's refusal.
func nativeStatus(argv ...string) int {
	GinkgoHelper()
	err := exec.Command(argv[0], argv[1:]...).Run()
	if status, ok := exitStatus(err); ok {
		return status
	}
	var errno syscall.Errno
	Expect(errors.As(err, &errno)).To(BeTrue(), "exec %q: %v", argv, err)
	if errno == syscall.ENOENT {
		return 127
	}
	return 126
}

// oneLine expects stderr to be exactly one line starting "vsysbed:",
// without a control byte in it, matching pattern.
func oneLine(got result, pattern string) {
	GinkgoHelper()
	expectNoPanic(got)
	lines := strings.Split(strings.TrimSuffix(got.Stderr, "\n"), "\n")
	Expect(lines).To(HaveLen(1), "want exactly one line on stderr:\n%s", got)
	Expect(lines[0]).To(HavePrefix("vsysbed:"))
	Expect(lines[0]).NotTo(MatchRegexp(`[\x00-\x1f\x7f]`), "a control byte in the message")
	Expect(lines[0]).To(MatchRegexp(`(?i)`+pattern), "%s", got)
}

// patchPhdrs rewrites the program headers of the ELF file src with edit
// (index, header) and writes the result as an executable to dst.
func patchPhdrs(src, dst string, edit func(i int, p *elf.Prog64)) {
	GinkgoHelper()
	b, err := os.ReadFile(src)
	Expect(err).NotTo(HaveOccurred())
	le := binary.LittleEndian
	phoff, phnum := le.Uint64(b[32:]), int(le.Uint16(b[56:]))
	for i := 0; i < phnum; i++ {
		at := b[phoff+uint64(i)*56:]
		var p elf.Prog64
		Expect(binary.Read(bytes.NewReader(at[:56]), le, &p)).To(Succeed())
		edit(i, &p)
		var w bytes.Buffer
		Expect(binary.Write(&w, le, &p)).To(Succeed())
		copy(at, w.Bytes())
	}
	Expect(os.WriteFile(dst, b, 0o755)).To(Succeed())
}

var _ = Describe("badprog:", func() {
	It("runs a program whose read-only segments end one byte short of p_memsz, as Linux does", func() {
		// Linux's padzero cannot write a read-only or executable page and
		// ignores that: the bytes past p_filesz stay the file's (the last
		// instruction of .text among them).
		short := filepath.Join(GinkgoT().TempDir(), "segtail-short")
		patchPhdrs(filepath.Join(guestDir, "segtail"), short, func(_ int, p *elf.Prog64) {
			if elf.ProgType(p.Type) == elf.PT_LOAD && p.Flags&uint32(elf.PF_W) == 0 && p.Filesz > 0 && p.Filesz == p.Memsz {
				p.Filesz--
			}
		})
		native := run(nil, short)
		Expect(native.Status).To(Equal(0), "%s", native)
		Expect(native.Stdout).To(ContainSubstring("segment r-x:"))
		Expect(native.Stdout).To(ContainSubstring("segtail done"))
		for _, mode := range trapModes {
			got := runVsysbed(nil, reportFlags(mode, os.DevNull), short)
			expectNoPanic(got)
			Expect(got.Status).To(Equal(native.Status), "--trap %s\n%s", mode, got)
			Expect(got.Stdout).To(Equal(native.Stdout), "--trap %s", mode)
		}
	})

	It("gives a read-only segment's bss pages past its file page write access, as Linux does", func() {
		// elf_load maps them with vm_brk_flags: read-write whatever p_flags
		// say; the file page itself stays read-only.
		dir := GinkgoT().TempDir()
		for _, c := range []struct {
			target uint32
			status int
		}{{0x20003000, 0}, {0x20002010, 139}} {
			prog := filepath.Join(dir, fmt.Sprintf("robss-%x", c.target))
			Expect(os.WriteFile(prog, roBSSELF(c.target), 0o755)).To(Succeed())
			Expect(nativeStatus(prog)).To(Equal(c.status), "a store at %#x natively", c.target)
			for _, mode := range trapModes {
				got := runVsysbed(nil, reportFlags(mode, os.DevNull), prog)
				expectNoPanic(got)
				Expect(got.Status).To(Equal(c.status), "a store at %#x, --trap %s\n%s", c.target, mode, got)
			}
		}
	})

	It("refuses a missing interpreter with ENOENT (127) even when a segment is bad too", func() {
		bad := filepath.Join(GinkgoT().TempDir(), "badseg-nointerp")
		patchPhdrs(fixture(elfNoInterp), bad, func(_ int, p *elf.Prog64) {
			if elf.ProgType(p.Type) == elf.PT_LOAD && p.Flags&uint32(elf.PF_W) != 0 {
				p.Filesz = p.Memsz + 0x1000 // p_filesz > p_memsz
			}
		})
		Expect(nativeStatus(bad)).To(Equal(127))
		for _, platform := range []string{"inprocess", "ptrace"} {
			got := runVsysbed(nil, []string{"--platform", platform, "--report", os.DevNull}, bad)
			Expect(got.Status).To(Equal(127), "--platform %s\n%s", platform, got)
			oneLine(got, `interpreter /nonexistent/ld\.so\S* not found`)
		}
	})

	It("follows 5 levels of #! interpreters and refuses a 6th with ELOOP (126)", func() {
		dir := GinkgoT().TempDir()
		prev := "/bin/echo"
		var chain []string
		for i := 1; i <= 6; i++ {
			s := filepath.Join(dir, "s"+string(rune('0'+i)))
			Expect(os.WriteFile(s, []byte("#!"+prev+"\n"), 0o755)).To(Succeed())
			chain, prev = append(chain, s), s
		}
		for i, s := range chain {
			got := runVsysbed(nil, []string{"--report", os.DevNull}, s, "arg")
			if i+1 <= 5 {
				native := run(nil, s, "arg")
				Expect(native.Status).To(Equal(0), "%s", native)
				Expect(got.Status).To(Equal(0), "%d scripts\n%s", i+1, got)
				Expect(got.Stdout).To(Equal(native.Stdout))
			} else {
				Expect(nativeStatus(s, "arg")).To(Equal(126))
				Expect(got.Status).To(Equal(126), "%d scripts\n%s", i+1, got)
				oneLine(got, `levels of #!`)
			}
		}
	})

	Describe("argument size limits", func() {
		// argmax execs itself with growing arguments and prints where
		// E2BIG starts: every execve it makes is the guest's own.
		for _, stack := range []string{"0", "200", "1024"} { // 65536 (the 6 MiB cap) takes minutes: loader/args_test.go
			It("are Linux's in the guest's execve, RLIMIT_STACK "+stack+" KiB", func() {
				argmax := filepath.Join(guestDir, "argmax")
				native := run(nil, argmax, stack)
				Expect(native.Status).To(Equal(0), "%s", native)
				for _, mode := range trapModes {
					got := runVsysbed(nil, reportFlags(mode, os.DevNull), argmax, stack)
					expectNoPanic(got)
					Expect(got.Stdout).To(Equal(native.Stdout), "--trap %s\n%s", mode, got)
					Expect(got.Status).To(Equal(0), "--trap %s\n%s", mode, got)
				}
			})
		}

		It("are Linux's at the top level, for a #! script whose rewrite crosses the limit", func() {
			// binfmt_script adds the interpreter's name to the arguments:
			// with a long one, vsysbed's own command line still fits while
			// the program's is one byte past the limit.
			dir := GinkgoT().TempDir()
			long := dir
			for len(long) < 200 {
				long = filepath.Join(long, strings.Repeat("d", 40))
			}
			Expect(os.MkdirAll(long, 0o755)).To(Succeed())
			interp := filepath.Join(long, "true")
			Expect(os.Symlink("/bin/true", interp)).To(Succeed())
			script := filepath.Join(dir, "s")
			Expect(os.WriteFile(script, []byte("#!"+interp+"\n"), 0o755)).To(Succeed())

			fits := func(n int) bool {
				err := exec.Command(script, argsOf(n)...).Run()
				if errors.Is(err, syscall.E2BIG) {
					return false
				}
				Expect(err).NotTo(HaveOccurred())
				return true
			}
			lo, hi := 0, 8<<20 // fits(lo), !fits(hi)
			for hi-lo > 1 {
				if mid := (lo + hi) / 2; fits(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			for _, platform := range []string{"inprocess", "ptrace"} {
				flags := []string{"--platform", platform, "--report", os.DevNull}
				got := runVsysbed(nil, flags, append([]string{script}, argsOf(lo)...)...)
				Expect(got.Status).To(Equal(0), "--platform %s: %d bytes of arguments run natively\n%s", platform, lo, got)
				got = runVsysbed(nil, flags, append([]string{script}, argsOf(hi)...)...)
				Expect(got.Status).To(Equal(126), "--platform %s: %d bytes of arguments are E2BIG natively\n%s", platform, hi, got)
				oneLine(got, `argument list too long`)
			}
		})
	})

	It("refuses a writable open of the guest's own mem file however it is spelled", func() {
		// Natively a process may write its own memory there; under vsysbed
		// that memory is the host's too (docs/PROMISES.md).
		script := `
import os, ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
def try_open(name, f):
    try:
        r = f()
        print(name, "opened" if r >= 0 else os.strerror(ctypes.get_errno()))
    except OSError as e:
        print(name, e.strerror)
pid = os.getpid()
dirfd = os.open("/proc/self", os.O_RDONLY)
how = (ctypes.c_uint64 * 3)(os.O_RDWR, 0, 0)
try_open("self", lambda: os.open("/proc/self/mem", os.O_RDWR))
try_open("task", lambda: os.open("/proc/self/task/%d/mem" % pid, os.O_RDWR))
try_open("dirfd", lambda: os.open("mem", os.O_WRONLY, dir_fd=dirfd))
try_open("openat2", lambda: libc.syscall(437, -100, b"/proc/self/mem", how, 24))
t = threading.Thread(target=lambda: try_open("tid", lambda: os.open("/proc/%d/mem" % threading.get_native_id(), os.O_RDWR)))
t.start(); t.join()
try_open("read-only", lambda: os.open("/proc/self/mem", os.O_RDONLY))
`
		native := run(nil, "python3", "-c", script)
		Expect(native.Stdout).To(Equal("self opened\ntask opened\ndirfd opened\nopenat2 opened\ntid opened\nread-only opened\n"), "%s", native)
		got := runVsysbed(nil, []string{"--report", os.DevNull}, "python3", "-c", script)
		expectNoPanic(got)
		Expect(got.Stdout).To(Equal("self Permission denied\ntask Permission denied\ndirfd Permission denied\n"+
			"openat2 Permission denied\ntid Permission denied\nread-only opened\n"), "%s", got)
	})

	Describe("names with control characters", func() {
		It("are escaped, so each refusal is one printable line", func() {
			dir := GinkgoT().TempDir()
			text := filepath.Join(dir, "text\x1b[31mred")
			Expect(os.WriteFile(text, []byte("no ELF, no #!\n"), 0o755)).To(Succeed())
			for _, c := range []struct {
				program, shown, pattern string
			}{
				{"./bad\nname", `./bad\nname`, `no such file`},
				{"./cr\rname\x7f", `./cr\rname\x7f`, `no such file`},
				{text, `text\x1b[31mred`, `not an executable`},
			} {
				native := nativeStatus(c.program)
				for _, platform := range []string{"inprocess", "ptrace"} {
					got := runVsysbed(nil, []string{"--platform", platform, "--report", os.DevNull}, c.program)
					Expect(got.Status).To(Equal(native), "--platform %s %q\n%s", platform, c.program, got)
					oneLine(got, c.pattern)
					Expect(got.Stderr).To(ContainSubstring(c.shown))
				}
			}
		})
	})
})

// roBSSELF is a static ET_EXEC at 0x20000000 without libc: its code
// segment, then a read-only PT_LOAD at 0x20002000 with 16 file bytes and
// two pages of bss; the code stores a byte at target and exits 0.
func roBSSELF(target uint32) []byte {
	const base, codeOff = 0x20000000, 64 + 2*56
	code := []byte{0xc6, 0x04, 0x25, 0, 0, 0, 0, 0x01, 0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}
	le := binary.LittleEndian
	le.PutUint32(code[3:], target)
	size := uint64(codeOff + len(code))
	b := make([]byte, codeOff, size)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+codeOff)
	le.PutUint64(b[32:], 64)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 2)
	for i, seg := range []elf.Prog64{
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Filesz: size, Memsz: size},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R), Vaddr: base + 0x2000, Filesz: 0x10, Memsz: 0x2000},
	} {
		seg.Paddr, seg.Align = seg.Vaddr, 0x1000
		var w bytes.Buffer
		binary.Write(&w, le, &seg)
		copy(b[64+56*i:], w.Bytes())
	}
	return append(b, code...)
}

// argsOf is n bytes of arguments in strings of at most 4095 bytes.
func argsOf(n int) []string {
	var out []string
	chunk := strings.Repeat("a", 4095)
	for ; n > 0; n -= min(n, 4095) {
		out = append(out, chunk[:min(n, 4095)])
	}
	return out
}
