package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	netbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData lays out struct seccomp_data for x/net/bpf's VM. The kernel
// loads each 32-bit word of seccomp_data in native (little-endian) order,
// but the VM, made for packets, loads big-endian; so each word is stored
// big-endian here, which makes the VM see the values the kernel sees. The
// word positions stay the kernel's: the IP's low word at 8, high at 12.
func seccompData(nr int32, arch uint32, ip uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], uint32(nr))
	binary.BigEndian.PutUint32(b[offArch:], arch)
	binary.BigEndian.PutUint32(b[offIPLow:], uint32(ip))
	binary.BigEndian.PutUint32(b[offIPHigh:], uint32(ip>>32))
	return b
}

func run(t *testing.T, prog []netbpf.Instruction, nr int32, arch uint32, ip uint64) uint32 {
	t.Helper()
	vm, err := netbpf.NewVM(prog)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	out, err := vm.Run(seccompData(nr, arch, ip))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return uint32(out)
}

func retName(v uint32) string {
	switch v {
	case retAllow:
		return "ALLOW"
	case retTrap:
		return "TRAP"
	}
	return fmt.Sprintf("%#x", v)
}

const (
	archX86_64 = unix.AUDIT_ARCH_X86_64
	sysGetpid  = 39
	gib4       = uint64(1) << 32
)

func TestTrapFilter(t *testing.T) {
	host := Range{Start: 0x5555_5555_0000, End: 0x5555_5560_0000}
	libc := Range{Start: 0x7fff_f7d8_0000, End: 0x7fff_f7f0_0000}
	cross := Range{Start: 3*gib4 - 0x1000, End: 3*gib4 + 0x2000}     // spans the 12 GiB boundary
	wide := Range{Start: 0x10*gib4 + 0x8000, End: 0x13*gib4 + 0x100} // partial, two full words, partial

	many := make([]Range, 300)
	for i := range many {
		// 300 ranges sharing one high word: the group body is far longer
		// than a conditional jump can skip.
		base := 0x7000_0000_0000 + uint64(i)*0x10_0000
		many[i] = Range{Start: base, End: base + 0x1000}
	}

	tests := []struct {
		name    string
		allowed []Range
		nr      int32
		arch    uint32
		ip      uint64
		want    uint32
	}{
		{"host start", []Range{host, libc}, sysGetpid, archX86_64, host.Start, retAllow},
		{"host inside", []Range{host, libc}, sysGetpid, archX86_64, host.Start + 0x1234, retAllow},
		{"host end-1", []Range{host, libc}, sysGetpid, archX86_64, host.End - 1, retAllow},
		{"libc inside", []Range{host, libc}, sysGetpid, archX86_64, libc.Start + 0x100, retAllow},
		{"guest at end", []Range{host, libc}, sysGetpid, archX86_64, host.End, retTrap},
		{"guest below start", []Range{host, libc}, sysGetpid, archX86_64, host.Start - 1, retTrap},
		{"guest between", []Range{host, libc}, sysGetpid, archX86_64, 0x6000_0000_0000, retTrap},
		{"guest same low word other high", []Range{host}, sysGetpid, archX86_64, host.Start + gib4, retTrap},
		{"guest zero", []Range{host}, sysGetpid, archX86_64, 0, retTrap},
		{"guest max", []Range{host}, sysGetpid, archX86_64, ^uint64(0), retTrap},

		{"cross: below", []Range{cross}, sysGetpid, archX86_64, cross.Start - 1, retTrap},
		{"cross: start", []Range{cross}, sysGetpid, archX86_64, cross.Start, retAllow},
		{"cross: last below boundary", []Range{cross}, sysGetpid, archX86_64, 3*gib4 - 1, retAllow},
		{"cross: boundary", []Range{cross}, sysGetpid, archX86_64, 3 * gib4, retAllow},
		{"cross: end-1", []Range{cross}, sysGetpid, archX86_64, cross.End - 1, retAllow},
		{"cross: end", []Range{cross}, sysGetpid, archX86_64, cross.End, retTrap},
		{"cross: low word in range, high word not", []Range{cross}, sysGetpid, archX86_64, 2*gib4 + 0x1000, retTrap},

		{"wide: first word", []Range{wide}, sysGetpid, archX86_64, 0x10*gib4 + 0x8000, retAllow},
		{"wide: before", []Range{wide}, sysGetpid, archX86_64, 0x10*gib4 + 0x7fff, retTrap},
		{"wide: middle word low", []Range{wide}, sysGetpid, archX86_64, 0x11 * gib4, retAllow},
		{"wide: middle word high", []Range{wide}, sysGetpid, archX86_64, 0x13*gib4 - 1, retAllow},
		{"wide: last word", []Range{wide}, sysGetpid, archX86_64, 0x13*gib4 + 0xff, retAllow},
		{"wide: end", []Range{wide}, sysGetpid, archX86_64, wide.End, retTrap},

		{"many: first", many, sysGetpid, archX86_64, many[0].Start, retAllow},
		{"many: last", many, sysGetpid, archX86_64, many[299].End - 1, retAllow},
		{"many: gap", many, sysGetpid, archX86_64, many[150].End, retTrap},
		{"many: other high word", many, sysGetpid, archX86_64, host.Start, retTrap},
		{"many plus host", append([]Range{host}, many...), sysGetpid, archX86_64, host.Start, retAllow},

		{"empty list traps", nil, sysGetpid, archX86_64, host.Start, retTrap},
		{"empty list traps zero", []Range{}, 0, archX86_64, 0, retTrap},

		{"i386 from host trapped", []Range{host}, sysGetpid, unix.AUDIT_ARCH_I386, host.Start, retTrap},
		{"i386 from guest trapped", []Range{host}, sysGetpid, unix.AUDIT_ARCH_I386, 0x1000, retTrap},
		{"aarch64 trapped", []Range{host}, sysGetpid, unix.AUDIT_ARCH_AARCH64, host.Start, retTrap},
		{"x32 from guest trapped", []Range{host}, x32SyscallBit | sysGetpid, archX86_64, 0x1000, retTrap},
		{"syscall(-1) from guest trapped", []Range{host}, -1, archX86_64, 0x1000, retTrap},
		{"nr 512 from guest trapped", []Range{host}, 512, archX86_64, 0x1000, retTrap},
		{"nr 512 from host allowed", []Range{host}, 512, archX86_64, host.Start, retAllow},
		// The attack: an x32 number from an allowed (host) address must not
		// slip through as ALLOW.
		{"x32 from host trapped", []Range{host}, x32SyscallBit | sysGetpid, archX86_64, host.Start, retTrap},
		{"x32 rt_sigreturn trapped", []Range{host}, x32SyscallBit | 513, archX86_64, host.Start + 8, retTrap},
		{"syscall(-1) from host trapped", []Range{host}, -1, archX86_64, host.Start, retTrap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := TrapFilter(tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			if got := run(t, prog, tc.nr, tc.arch, tc.ip); got != tc.want {
				t.Errorf("nr %#x arch %#x ip %#x: got %s, want %s", tc.nr, tc.arch, tc.ip, retName(got), retName(tc.want))
			}
			if _, err := Assemble(prog); err != nil {
				t.Errorf("Assemble: %v", err)
			}
		})
	}
}

// TestTrapFilterMatchesReference compares the VM against a plain Go
// membership test on random range sets, probing every boundary.
func TestTrapFilterMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randAddr := func() uint64 {
		switch rng.IntN(3) {
		case 0: // few high words, so ranges collide and share groups
			return uint64(rng.IntN(4))<<32 | uint64(rng.Uint32())
		case 1: // near 4 GiB boundaries
			return uint64(rng.IntN(6))<<32 + uint64(rng.IntN(0x2000)) - 0x1000
		}
		return rng.Uint64() >> 16
	}
	for iter := 0; iter < 200; iter++ {
		var ranges []Range
		for n := rng.IntN(12); len(ranges) < n; {
			a, b := randAddr(), randAddr()
			if rng.IntN(4) == 0 {
				b = a + uint64(rng.IntN(3))*gib4 + uint64(rng.IntN(0x3000))
			}
			if a > b {
				a, b = b, a
			}
			if a == b {
				continue
			}
			ranges = append(ranges, Range{a, b})
		}
		prog, err := TrapFilter(ranges)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := netbpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		probes := []uint64{0, ^uint64(0), randAddr(), randAddr()}
		for _, r := range ranges {
			probes = append(probes, r.Start-1, r.Start, r.Start+1, r.End-1, r.End, r.End+1,
				(r.Start+r.End)/2, r.Start|0xffffffff, (r.Start|0xffffffff)+1)
		}
		for _, ip := range probes {
			nr, arch := randCall(rng)
			want := uint32(retTrap)
			for _, r := range ranges {
				if ip >= r.Start && ip < r.End && arch == archX86_64 && nr&x32SyscallBit == 0 {
					want = retAllow
				}
			}
			out, err := vm.Run(seccompData(nr, arch, ip))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(out) != want {
				t.Fatalf("ranges %#x, nr %#x, arch %#x, ip %#x: got %s, want %s", ranges, nr, arch, ip, retName(uint32(out)), retName(want))
			}
		}
	}
}

// randCall is a syscall number and architecture for the reference model:
// mostly native calls, sometimes an x32, negative or out-of-table number
// or an i386 call (int $0x80), which must trap wherever they come from.
func randCall(rng *rand.Rand) (int32, uint32) {
	switch rng.IntN(8) {
	case 0:
		return int32(x32SyscallBit | rng.IntN(600)), archX86_64
	case 1:
		return -1 - int32(rng.IntN(3)), archX86_64
	case 2:
		return int32(512 + rng.IntN(1<<20)), archX86_64
	case 3:
		return int32(rng.IntN(460)), unix.AUDIT_ARCH_I386
	}
	return int32(rng.IntN(512)), archX86_64
}

func TestTrapFilterRejectsBadInput(t *testing.T) {
	for _, r := range []Range{{5, 5}, {6, 5}, {0, 0}} {
		if _, err := TrapFilter([]Range{{0x1000, 0x2000}, r}); !errors.Is(err, ErrInvalidRange) {
			t.Errorf("TrapFilter with %#x: err = %v, want ErrInvalidRange", r, err)
		}
	}
}

func TestTrapFilterTooLong(t *testing.T) {
	// Disjoint ranges in distinct high words cost several instructions
	// each; 2000 of them cannot fit in 4096.
	ranges := make([]Range, 2000)
	for i := range ranges {
		base := uint64(i)<<32 + 0x1000
		ranges[i] = Range{base, base + 0x1000}
	}
	if _, err := TrapFilter(ranges); !errors.Is(err, ErrProgramTooLong) {
		t.Fatalf("err = %v, want ErrProgramTooLong", err)
	}
	long := make([]netbpf.Instruction, MaxInstructions+1)
	for i := range long {
		long[i] = netbpf.RetConstant{Val: retTrap}
	}
	if _, err := Assemble(long); !errors.Is(err, ErrProgramTooLong) {
		t.Fatalf("Assemble: err = %v, want ErrProgramTooLong", err)
	}
	if _, err := Assemble(nil); err == nil {
		t.Fatal("Assemble(nil) succeeded")
	}
}

func TestMergeRanges(t *testing.T) {
	got, err := mergeRanges([]Range{{30, 40}, {10, 20}, {20, 25}, {35, 50}, {60, 70}, {61, 62}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{10, 25}, {30, 50}, {60, 70}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAssembleRoundTrip(t *testing.T) {
	prog, err := TrapFilter([]Range{{0x5555_0000_0000, 0x5555_0010_0000}, {3*gib4 - 1, 3*gib4 + 1}})
	if err != nil {
		t.Fatal(err)
	}
	sf, err := Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(sf) != len(prog) {
		t.Fatalf("%d sock filters for %d instructions", len(sf), len(prog))
	}
	raw := make([]netbpf.RawInstruction, len(sf))
	for i, f := range sf {
		raw[i] = netbpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	back, ok := netbpf.Disassemble(raw)
	if !ok {
		t.Fatal("disassembly left raw instructions")
	}
	for i := range prog {
		want, _ := prog[i].Assemble()
		got, _ := back[i].Assemble()
		if got != want {
			t.Errorf("instruction %d: %v round-tripped to %v", i, prog[i], back[i])
		}
	}
	// The first instruction must read seccomp_data.arch: a quick check
	// that the encoding is what the kernel expects (BPF_LD|BPF_W|BPF_ABS).
	if sf[0].Code != unix.BPF_LD|unix.BPF_W|unix.BPF_ABS || sf[0].K != offArch {
		t.Errorf("first instruction %+v, want ld [4]", sf[0])
	}
}

// A group of pieces sharing one high word longer than a conditional jump can
// skip must be stepped over with ja, and the result must still assemble.
func TestTrapFilterLongJumps(t *testing.T) {
	ranges := make([]Range, 300)
	for i := range ranges {
		base := 0x7000_0000_0000 + uint64(i)*0x10_0000
		ranges[i] = Range{base, base + 0x1000}
	}
	// A second high word after the big group: reaching it needs the ja.
	ranges = append(ranges, Range{0x7100_0000_0000, 0x7100_0000_1000})
	prog, err := TrapFilter(ranges)
	if err != nil {
		t.Fatal(err)
	}
	var long bool
	for _, ins := range prog {
		if j, ok := ins.(netbpf.Jump); ok && j.Skip > maxSkip {
			long = true
		}
	}
	if !long {
		t.Fatal("no long unconditional jump in a program whose group exceeds 255 instructions")
	}
	if _, err := Assemble(prog); err != nil {
		t.Fatal(err)
	}
	if got := run(t, prog, sysGetpid, archX86_64, 0x7100_0000_0800); got != retAllow {
		t.Fatalf("address past the long group: got %s, want ALLOW", retName(got))
	}
}
