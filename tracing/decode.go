package tracing

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Memory reads guest memory; a bad address is an error, never a fault.
type Memory interface {
	ReadMem(addr uint64, b []byte) error
}

// ctx is one call's registers and what an argument decoder may read.
type ctx struct {
	a      [6]uint64
	ret    int64
	failed bool // the call returned an error (out-params are not printed)
	mem    Memory
	strlen int // -s
}

func (c *ctx) read(addr uint64, n int) ([]byte, bool) {
	if addr == 0 || n < 0 {
		return nil, false
	}
	b := make([]byte, n)
	if c.mem.ReadMem(addr, b) != nil {
		return nil, false
	}
	return b, true
}

func (c *ctx) u64(addr uint64) (uint64, bool) {
	b, ok := c.read(addr, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// cstring reads a NUL-terminated string of at most max bytes, page by
// page so that one near the end of a mapping still reads.
func (c *ctx) cstring(addr uint64, max int) (s []byte, complete, ok bool) {
	if addr == 0 {
		return nil, false, false
	}
	for len(s) < max {
		n := 4096 - int((addr+uint64(len(s)))%4096)
		if n > max-len(s) {
			n = max - len(s)
		}
		b, ok := c.read(addr+uint64(len(s)), n)
		if !ok {
			return nil, false, len(s) > 0
		}
		if i := strings.IndexByte(string(b), 0); i >= 0 {
			return append(s, b[:i]...), true, true
		}
		s = append(s, b...)
	}
	return s, false, true
}

// path is a file name: strace prints it whole (PATH_MAX), not cut by -s.
func (c *ctx) path(addr uint64) string {
	s, complete, ok := c.cstring(addr, 4096)
	if !ok {
		return ptr(addr)
	}
	return quote(s, -1, !complete)
}

// str is a NUL-terminated string cut by -s.
func (c *ctx) str(addr uint64) string {
	s, complete, ok := c.cstring(addr, c.strlen+1)
	if !ok {
		return ptr(addr)
	}
	return quote(s, c.strlen, !complete)
}

// buf is n bytes at addr, cut by -s.
func (c *ctx) buf(addr uint64, n int64) string {
	if n < 0 {
		return ptr(addr)
	}
	m := n
	if m > int64(c.strlen) {
		m = int64(c.strlen)
	}
	b, ok := c.read(addr, int(m))
	if !ok && m > 0 {
		return ptr(addr)
	}
	return quote(b, -1, n > m)
}

func (c *ctx) int32(i int) string { return strconv.FormatInt(int64(int32(c.a[i])), 10) }
func (c *ctx) uint(i int) string  { return strconv.FormatUint(c.a[i], 10) }
func (c *ctx) long(i int) string  { return strconv.FormatInt(int64(c.a[i]), 10) }
func (c *ctx) dirfd(i int) string {
	if int32(c.a[i]) == -100 {
		return "AT_FDCWD"
	}
	return c.int32(i)
}

func (c *ctx) mode(i int) string { return "0" + strconv.FormatUint(c.a[i]&0o7777, 8) }

func fileMode(m uint64) string {
	types := map[uint64]string{0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG",
		0o60000: "S_IFBLK", 0o40000: "S_IFDIR", 0o20000: "S_IFCHR", 0o10000: "S_IFIFO"}
	perm := "0" + strconv.FormatUint(m&0o7777, 8)
	if t, ok := types[m&0o170000]; ok {
		return t + "|" + perm
	}
	return perm
}

func makedev(dev uint64) string {
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	return fmt.Sprintf("makedev(%#x, %#x)", major, minor)
}

// stat is struct stat as strace abbreviates it by default: the mode and
// the size (the device of a device file), then "...".
func (c *ctx) stat(addr uint64) string {
	b, ok := c.read(addr, 144)
	if !ok || c.failed {
		return ptr(addr)
	}
	mode := uint64(binary.LittleEndian.Uint32(b[24:]))
	s := "{st_mode=" + fileMode(mode)
	if t := mode & 0o170000; t == 0o60000 || t == 0o20000 {
		s += ", st_rdev=" + makedev(binary.LittleEndian.Uint64(b[40:]))
	} else {
		s += ", st_size=" + strconv.FormatInt(int64(binary.LittleEndian.Uint64(b[48:])), 10)
	}
	return s + ", ...}"
}

func (c *ctx) statx(addr uint64) string {
	b, ok := c.read(addr, 256)
	if !ok || c.failed {
		return ptr(addr)
	}
	return fmt.Sprintf("{stx_mask=%#x, stx_attributes=%#x, stx_mode=%s, stx_size=%d, ...}",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint64(b[8:]),
		fileMode(uint64(binary.LittleEndian.Uint16(b[28:]))), binary.LittleEndian.Uint64(b[40:]))
}

// iovec is an array of n struct iovec; with limit >= 0 (readv's result)
// only that many bytes are data.
func (c *ctx) iovec(addr uint64, n uint64, limit int64) string {
	if n > 1024 {
		return ptr(addr)
	}
	b, ok := c.read(addr, int(16*n))
	if !ok {
		return ptr(addr)
	}
	var parts []string
	for i := uint64(0); i < n; i++ {
		if i >= uint64(c.strlen) {
			parts = append(parts, "...")
			break
		}
		base, l := binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])
		data := int64(l)
		if limit >= 0 {
			data = min(data, limit)
			limit -= data
		}
		parts = append(parts, fmt.Sprintf("{iov_base=%s, iov_len=%d}", c.buf(base, data), l))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sockaddr decodes AF_UNIX, AF_INET and AF_INET6; others by family.
func (c *ctx) sockaddr(addr uint64, n uint64) string {
	if n > 128 {
		n = 128
	}
	b, ok := c.read(addr, int(n))
	if !ok || n < 2 {
		return ptr(addr)
	}
	fam := int64(binary.LittleEndian.Uint16(b))
	s := "{sa_family=" + enum(fam, familyNames)
	switch {
	case fam == 1: // AF_UNIX
		p := b[2:]
		switch i := strings.IndexByte(string(p), 0); {
		case len(p) > 0 && p[0] == 0:
			s += ", sun_path=@" + quote(p[1:], -1, false)
		case i >= 0:
			s += ", sun_path=" + quote(p[:i], -1, false)
		default:
			s += ", sun_path=" + quote(p, -1, false)
		}
	case fam == 2 && n >= 8: // AF_INET
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		s += fmt.Sprintf(", sin_port=htons(%d), sin_addr=inet_addr(%q)", binary.BigEndian.Uint16(b[2:]), ip.String())
	case fam == 10 && n >= 24: // AF_INET6
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		s += fmt.Sprintf(", sin6_port=htons(%d), sin6_flowinfo=htonl(%d), inet_pton(AF_INET6, %q, &sin6_addr)",
			binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), ip.String())
		if n >= 28 {
			s += fmt.Sprintf(", sin6_scope_id=%d", binary.LittleEndian.Uint32(b[24:]))
		}
	default:
		s += ", sa_data=" + quote(b[2:], -1, false)
	}
	return s + "}"
}

// sigset is a signal mask as strace prints it: names without SIG, in
// brackets, complemented (~[...]) when more than half are set.
func sigsetText(m uint64) string {
	set := 0
	for i := 0; i < 64; i++ {
		if m>>i&1 != 0 {
			set++
		}
	}
	prefix := ""
	if set > 32 {
		m, prefix = ^m, "~"
	}
	var names []string
	for sig := int64(1); sig <= 64; sig++ {
		if m>>(sig-1)&1 != 0 {
			names = append(names, strings.TrimPrefix(signalName(sig), "SIG"))
		}
	}
	return prefix + "[" + strings.Join(names, " ") + "]"
}

func (c *ctx) sigset(addr uint64) string {
	m, ok := c.u64(addr)
	if !ok {
		return ptr(addr)
	}
	return sigsetText(m)
}

// sigaction is the kernel's struct sigaction (handler, flags, restorer, mask).
func (c *ctx) sigaction(addr uint64) string {
	b, ok := c.read(addr, 32)
	if !ok {
		return ptr(addr)
	}
	h := binary.LittleEndian.Uint64(b)
	hs := map[uint64]string{0: "SIG_DFL", 1: "SIG_IGN"}[h]
	if hs == "" {
		hs = hex(h)
	}
	fl := binary.LittleEndian.Uint64(b[8:])
	s := fmt.Sprintf("{sa_handler=%s, sa_mask=%s, sa_flags=%s", hs, sigsetText(binary.LittleEndian.Uint64(b[24:])), flags(fl, saFlags))
	if fl&0x4000000 != 0 {
		s += ", sa_restorer=" + hex(binary.LittleEndian.Uint64(b[16:]))
	}
	return s + "}"
}

func (c *ctx) timespec(addr uint64) string {
	b, ok := c.read(addr, 16)
	if !ok {
		return ptr(addr)
	}
	return fmt.Sprintf("{tv_sec=%d, tv_nsec=%d}", int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:])))
}

// wstatus is wait's status word, as strace spells it out.
func wstatus(s uint32) string {
	switch {
	case s&0x7f == 0:
		return fmt.Sprintf("[{WIFEXITED(s) && WEXITSTATUS(s) == %d}]", s>>8&0xff)
	case s&0xff == 0x7f:
		return fmt.Sprintf("[{WIFSTOPPED(s) && WSTOPSIG(s) == %s}]", signalName(int64(s>>8&0xff)))
	case s == 0xffff:
		return "[{WIFCONTINUED(s)}]"
	}
	r := fmt.Sprintf("[{WIFSIGNALED(s) && WTERMSIG(s) == %s", signalName(int64(s&0x7f)))
	if s&0x80 != 0 {
		r += " && WCOREDUMP(s)"
	}
	return r + "}]"
}

// strArray is execve's argv: strings cut by -s, at most -s of them.
func (c *ctx) strArray(addr uint64) string {
	if addr == 0 {
		return "NULL"
	}
	var parts []string
	for i := 0; ; i++ {
		p, ok := c.u64(addr + uint64(8*i))
		if !ok {
			return ptr(addr)
		}
		if p == 0 {
			break
		}
		if i >= c.strlen {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, c.str(p))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// envCount is execve's envp as strace abbreviates it: the address and a count.
func (c *ctx) envCount(addr uint64) string {
	if addr == 0 {
		return "NULL"
	}
	n := 0
	for ; n < 1<<16; n++ {
		p, ok := c.u64(addr + uint64(8*n))
		if !ok {
			return ptr(addr)
		}
		if p == 0 {
			break
		}
	}
	return fmt.Sprintf("%s /* %d vars */", hex(addr), n)
}

// intPair is an int[2] (pipe's fds, socketpair's).
func (c *ctx) intPair(addr uint64) string {
	b, ok := c.read(addr, 8)
	if !ok || c.failed {
		return ptr(addr)
	}
	return fmt.Sprintf("[%d, %d]", int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:])))
}

// intOut is an int written by the call ([3]).
func (c *ctx) intOut(addr uint64) string {
	b, ok := c.read(addr, 4)
	if !ok || c.failed {
		return ptr(addr)
	}
	return "[" + strconv.FormatInt(int64(int32(binary.LittleEndian.Uint32(b))), 10) + "]"
}

// dents counts getdents64's entries in the returned bytes.
func (c *ctx) dents(addr uint64) string {
	if c.failed || c.ret <= 0 {
		return ptr(addr)
	}
	b, ok := c.read(addr, int(min(c.ret, 1<<20)))
	if !ok {
		return ptr(addr)
	}
	n := 0
	for off := 0; off+18 < len(b); n++ {
		l := int(binary.LittleEndian.Uint16(b[off+16:]))
		if l == 0 {
			break
		}
		off += l
	}
	return fmt.Sprintf("%s /* %d entries */", hex(addr), n)
}

// pollfds is poll's array as it went in.
func (c *ctx) pollfds(addr uint64, n uint64) string {
	if n > 1024 {
		return ptr(addr)
	}
	b, ok := c.read(addr, int(8*n))
	if !ok {
		return ptr(addr)
	}
	ev := []flagName{{1, "POLLIN"}, {2, "POLLPRI"}, {4, "POLLOUT"}, {8, "POLLERR"}, {16, "POLLHUP"},
		{32, "POLLNVAL"}, {64, "POLLRDNORM"}, {128, "POLLRDBAND"}, {256, "POLLWRNORM"}, {512, "POLLWRBAND"}, {0x2000, "POLLRDHUP"}}
	var parts []string
	for i := uint64(0); i < n; i++ {
		parts = append(parts, fmt.Sprintf("{fd=%d, events=%s}", int32(binary.LittleEndian.Uint32(b[8*i:])),
			flags(uint64(binary.LittleEndian.Uint16(b[8*i+4:])), ev)))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (c *ctx) uname(addr uint64) string {
	b, ok := c.read(addr, 65*2)
	if !ok || c.failed {
		return ptr(addr)
	}
	field := func(f []byte) string {
		if i := strings.IndexByte(string(f), 0); i >= 0 {
			f = f[:i]
		}
		return quote(f, -1, false)
	}
	return fmt.Sprintf("{sysname=%s, nodename=%s, ...}", field(b[:65]), field(b[65:]))
}

func (c *ctx) rlimit(addr uint64) string {
	b, ok := c.read(addr, 16)
	if !ok {
		return ptr(addr)
	}
	lim := func(v uint64) string {
		if v == ^uint64(0) {
			return "RLIM64_INFINITY"
		}
		if v > 1024 && v%1024 == 0 {
			return strconv.FormatUint(v/1024, 10) + "*1024"
		}
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprintf("{rlim_cur=%s, rlim_max=%s}", lim(binary.LittleEndian.Uint64(b)), lim(binary.LittleEndian.Uint64(b[8:])))
}
