package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// minimalELF is the smallest ET_DYN x86-64 executable the parser accepts:
// an ELF header, one PT_LOAD covering it, and one PT_INTERP.
func minimalELF() []byte {
	const interp = "/lib/ld.so\x00"
	b := make([]byte, ehdrSize+2*phdrSize, ehdrSize+2*phdrSize+len(interp))
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], etDyn)
	le.PutUint16(b[18:], emX86_64)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], 0x1000)   // e_entry
	le.PutUint64(b[32:], ehdrSize) // e_phoff
	le.PutUint16(b[52:], ehdrSize)
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], 2)
	p := b[ehdrSize:]
	le.PutUint32(p[0:], ptLoad)
	le.PutUint32(p[4:], pfR|pfX)
	le.PutUint64(p[32:], uint64(cap(b))) // p_filesz
	le.PutUint64(p[40:], 0x2000)         // p_memsz
	le.PutUint64(p[48:], pageSize)
	p = b[ehdrSize+phdrSize:]
	le.PutUint32(p[0:], ptInterp)
	le.PutUint64(p[8:], uint64(len(b)))
	le.PutUint64(p[32:], uint64(len(interp)))
	return append(b, interp...)
}

func TestMinimalELF(t *testing.T) {
	obj, err := parseELF(bytes.NewReader(minimalELF()), int64(len(minimalELF())))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Interp != "/lib/ld.so" || len(obj.Loads) != 1 || !obj.HasPhdr || obj.PhdrVaddr != ehdrSize || obj.MaxVaddr != 0x2000 {
		t.Errorf("parsed %+v", obj)
	}
}

// FuzzParse feeds arbitrary bytes to everything that reads a file before
// anything is mapped. It must never panic, and what it accepts must be
// internally consistent.
func FuzzParse(f *testing.F) {
	f.Add(minimalELF())
	f.Add([]byte("#!/bin/sh -e\n"))
	f.Add([]byte("#!"))
	f.Add([]byte("\x7fELF\x01\x01\x01"))
	f.Add(minimalELF()[:ehdrSize+10])
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, _, _, err := parseShebang(data); err != nil {
			var ee *ExecError
			if !errors.As(err, &ee) {
				t.Fatalf("shebang error %T", err)
			}
		}
		obj, err := parseELF(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var ee *ExecError
			if !errors.As(err, &ee) || ee.Errno == 0 || ee.Reason == "" {
				t.Fatalf("parse error %#v is not a classified ExecError", err)
			}
			return
		}
		if len(obj.Loads) == 0 || obj.MinVaddr >= obj.MaxVaddr || obj.MaxVaddr > userTop {
			t.Fatalf("accepted an object with a bad span: %+v", obj)
		}
		for _, s := range obj.Loads {
			if s.Filesz > s.Memsz || s.Offset+s.Filesz > uint64(len(data)) {
				t.Fatalf("accepted a bad segment %+v", s)
			}
		}
		// Plan at a bias like a PIE's; the plan must stay in the span.
		bias := uintptr(0x7f0000000000)
		if obj.Type == etExec {
			bias = 0
		}
		lo, hi := bias+uintptr(obj.MinVaddr), bias+uintptr(obj.MaxVaddr)
		for _, p := range planSegments(obj, bias) {
			for _, r := range [][2]uintptr{{p.FileAddr, p.FileAddr + p.FileLen}, {p.AnonStart, p.AnonEnd}} {
				if r[1] > r[0] && (r[0] < lo || r[1] > hi || r[0]%pageSize != 0 || r[1]%pageSize != 0) {
					t.Fatalf("planned range %#x-%#x outside span %#x-%#x or unaligned", r[0], r[1], lo, hi)
				}
			}
		}
	})
}

// FuzzShebang checks parseShebang on arbitrary file heads: it never panics,
// refuses only with a classified ENOEXEC, and what it accepts is a
// non-empty interpreter name without blanks, both strings free of NUL and
// newline, within the kernel's 256-byte buffer.
func FuzzShebang(f *testing.F) {
	for _, s := range []string{"#!/bin/sh\n", "#! /usr/bin/env python3 -u \n", "#!\n", "#!/bin/sh\x00junk\n", "#!", "x", "#!/a\tb c\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		interp, arg, ok, err := parseShebang(head)
		if err != nil {
			var ee *ExecError
			if !ok || !errors.As(err, &ee) || ee.Errno != unix.ENOEXEC {
				t.Fatalf("refusal %#v (ok %v) is not a #! ENOEXEC", err, ok)
			}
			return
		}
		if !ok {
			if interp != "" || arg != "" || (len(head) >= 2 && head[0] == '#' && head[1] == '!') {
				t.Fatalf("not a script, yet %q %q", interp, arg)
			}
			return
		}
		if interp == "" || strings.ContainsAny(interp, " \t\n\x00") || strings.ContainsAny(arg, "\n\x00") {
			t.Fatalf("accepted interpreter %q, argument %q", interp, arg)
		}
		if len(interp)+len(arg) > shebangMax-2 {
			t.Fatalf("%d bytes of #! line from a %d byte buffer", len(interp)+len(arg), shebangMax)
		}
		if argv := scriptArgv(interp, arg, "s", []string{"s", "x"}); argv[0] != interp || argv[len(argv)-1] != "x" {
			t.Fatalf("scriptArgv %q", argv)
		}
	})
}

// FuzzArgSpace checks execve's argument accounting against a direct sum.
func FuzzArgSpace(f *testing.F) {
	f.Add("prog", "a\x00bb\x00", "A=1\x00", uint64(8<<20))
	f.Add("", "", "", uint64(0))
	f.Add("x", "\x00\x00\x00", "", uint64(1))
	f.Fuzz(func(t *testing.T, file, args, env string, rlim uint64) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\x00")
		}
		argv, envp := split(args), split(env)
		if len(argv) == 0 {
			argv = []string{""}
		}
		rlim = max(rlim, 1)
		_, err := newArgSpace(file, argv, envp, rlim)
		need := uint64(len(file)+1) + 8*uint64(len(argv)+len(envp))
		long := len(file)+1 > maxArgStrlen
		for _, s := range append(append([]string(nil), argv...), envp...) {
			need += uint64(len(s)) + 1
			long = long || len(s)+1 > maxArgStrlen
		}
		if fits := need <= ArgLimit(rlim) && !long; fits != (err == nil) {
			t.Fatalf("need %d of %d (a long string: %v): %v", need, ArgLimit(rlim), long, err)
		}
		if err != nil && !errors.Is(err, unix.E2BIG) {
			t.Fatalf("refusal %v is not E2BIG", err)
		}
	})
}
