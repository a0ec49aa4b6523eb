package tracing

import (
	"strings"

	"golang.org/x/sys/unix"
)

// argDecoder renders argument i of a call; out says it is written by the
// call, so it is read when the call returns (in-params are read as it
// enters: execve's strings are gone once it succeeded).
type argDecoder struct {
	out    bool
	render func(c *ctx, i int) string
}

func in(f func(c *ctx, i int) string) argDecoder  { return argDecoder{render: f} }
func out(f func(c *ctx, i int) string) argDecoder { return argDecoder{out: true, render: f} }

// decoders by token, the words of the specs below.
var decoders = map[string]argDecoder{
	"fd":     in((*ctx).int32),
	"int":    in((*ctx).int32),
	"uint":   in((*ctx).uint),
	"long":   in((*ctx).long),
	"size":   in((*ctx).uint),
	"hex":    in(func(c *ctx, i int) string { return hex(c.a[i]) }),
	"ptr":    in(func(c *ctx, i int) string { return ptr(c.a[i]) }),
	"off":    in(func(c *ctx, i int) string { return offText(c.a[i]) }),
	"dirfd":  in((*ctx).dirfd),
	"path":   in(func(c *ctx, i int) string { return c.path(c.a[i]) }),
	"str":    in(func(c *ctx, i int) string { return c.str(c.a[i]) }),
	"bufin":  in(func(c *ctx, i int) string { return c.buf(c.a[i], int64(c.a[i+1])) }),
	"bufout": out(func(c *ctx, i int) string { return c.outBuf(c.a[i]) }),
	"oflags": in(func(c *ctx, i int) string { return openFlagsText(c.a[i]) }),
	"mode":   in((*ctx).mode),
	"prot":   in(func(c *ctx, i int) string { return flags(c.a[i], protFlags) }),
	"mflags": in(func(c *ctx, i int) string { return mapFlagsText(c.a[i]) }),
	"stat":   out(func(c *ctx, i int) string { return c.stat(c.a[i]) }),
	"statx":  out(func(c *ctx, i int) string { return c.statx(c.a[i]) }),
	"iovin":  in(func(c *ctx, i int) string { return c.iovec(c.a[i], c.a[i+1], -1) }),
	"iovout": out(func(c *ctx, i int) string {
		if c.failed {
			return ptr(c.a[i])
		}
		return c.iovec(c.a[i], c.a[i+1], c.ret)
	}),
	"saddr": in(func(c *ctx, i int) string { return c.sockaddr(c.a[i], c.a[i+1]) }),
	"saddrout": out(func(c *ctx, i int) string {
		l, ok := c.u64(c.a[i+1])
		if c.failed || !ok {
			return ptr(c.a[i])
		}
		return c.sockaddr(c.a[i], l&0xffffffff)
	}),
	"slenp":     out(func(c *ctx, i int) string { return c.intOut(c.a[i]) }),
	"sigset":    in(func(c *ctx, i int) string { return c.sigset(c.a[i]) }),
	"sigsetout": out(func(c *ctx, i int) string { return c.outOr(i, c.sigset) }),
	"sig":       in(func(c *ctx, i int) string { return signalName(int64(int32(c.a[i]))) }),
	"fcntlcmd":  in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), fcntlCmds) }),
	"fcntlarg":  in(fcntlArg),
	"ioctlcmd":  in(func(c *ctx, i int) string { return ioctlCmd(c.a[i]) }),
	"wstatus": out(func(c *ctx, i int) string {
		b, ok := c.read(c.a[i], 4)
		if !ok || c.failed || c.ret == 0 {
			return ptr(c.a[i])
		}
		return wstatus(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	}),
	"wopts":     in(func(c *ctx, i int) string { return zeroOr(c.a[i], waitOptions) }),
	"amode":     in(func(c *ctx, i int) string { return flags(c.a[i], accessModes) }),
	"atflags":   in(func(c *ctx, i int) string { return atFlagsText(c.a[i]) }),
	"whence":    in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), whenceNames) }),
	"argv":      in(func(c *ctx, i int) string { return c.strArray(c.a[i]) }),
	"envp":      in(func(c *ctx, i int) string { return c.envCount(c.a[i]) }),
	"pipe":      out(func(c *ctx, i int) string { return c.intPair(c.a[i]) }),
	"sigact":    in(func(c *ctx, i int) string { return c.sigaction(c.a[i]) }),
	"sigactout": out(func(c *ctx, i int) string { return c.outOr(i, c.sigaction) }),
	"how":       in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), sigprocmaskHow) }),
	"ts":        in(func(c *ctx, i int) string { return c.timespec(c.a[i]) }),
	"tsout":     out(func(c *ctx, i int) string { return c.outOr(i, c.timespec) }),
	"clock":     in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), clockNames) }),
	"domain":    in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), familyNames) }),
	"stype":     in(func(c *ctx, i int) string { return sockTypeText(c.a[i]) }),
	"archcode":  in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), archPrctlCodes) }),
	"rlimres":   in(func(c *ctx, i int) string { return enum(int64(int32(c.a[i])), rlimitNames) }),
	"rlim":      in(func(c *ctx, i int) string { return c.rlimit(c.a[i]) }),
	"rlimout":   out(func(c *ctx, i int) string { return c.outOr(i, c.rlimit) }),
	"futexop":   in(func(c *ctx, i int) string { return futexOpText(c.a[i]) }),
	"dents":     out(func(c *ctx, i int) string { return c.dents(c.a[i]) }),
	"pollin":    in(func(c *ctx, i int) string { return c.pollfds(c.a[i], c.a[i+1]) }),
	"uname":     out(func(c *ctx, i int) string { return c.uname(c.a[i]) }),
	"cflags":    in(func(c *ctx, i int) string { return cloneFlagsText(c.a[i]) }),
	"intout":    out(func(c *ctx, i int) string { return c.intOut(c.a[i]) }),
	"ptrout":    out(func(c *ctx, i int) string { return ptr(c.a[i]) }),
	"grnd": in(func(c *ctx, i int) string {
		return zeroOr(c.a[i], []flagName{{1, "GRND_NONBLOCK"}, {2, "GRND_RANDOM"}, {4, "GRND_INSECURE"}})
	}),
}

// specs are the calls decoded by argument; a call not listed prints its
// six registers in hex. "modec" is open's mode, printed only with
// O_CREAT or O_TMPFILE; clone has its own decoder (cloneArgs).
var specs = map[string]string{
	"read": "fd bufout size", "write": "fd bufin size", "pread64": "fd bufout size off",
	"pwrite64": "fd bufin size off", "readv": "fd iovout int", "writev": "fd iovin int",
	"preadv": "fd iovout int off", "pwritev": "fd iovin int off",
	"open": "path oflags modec", "openat": "dirfd path oflags modec", "creat": "path mode",
	"close": "fd", "stat": "path stat", "lstat": "path stat", "fstat": "fd stat",
	"newfstatat": "dirfd path stat atflags", "statx": "dirfd path atflags hex statx",
	"lseek": "fd long whence", "mmap": "ptr size prot mflags fd off", "mprotect": "ptr size prot",
	"munmap": "ptr size", "brk": "ptr", "mremap": "ptr size size hex ptr",
	"madvise": "ptr size int", "msync": "ptr size int",
	"rt_sigaction": "sig sigact sigactout size", "rt_sigprocmask": "how sigset sigsetout size",
	"rt_sigreturn": "", "rt_sigsuspend": "sigset size", "rt_sigpending": "sigsetout size",
	"ioctl": "fd ioctlcmd hex", "access": "path amode", "faccessat": "dirfd path amode",
	"faccessat2": "dirfd path amode atflags", "pipe": "pipe", "pipe2": "pipe oflags",
	"dup": "fd", "dup2": "fd fd", "dup3": "fd fd oflags", "fcntl": "fd fcntlcmd fcntlarg",
	"getpid": "", "getppid": "", "gettid": "", "getuid": "", "geteuid": "", "getgid": "",
	"getegid": "", "getpgrp": "", "setsid": "", "sched_yield": "", "pause": "", "fork": "", "vfork": "",
	"execve": "path argv envp", "execveat": "dirfd path argv envp atflags",
	"exit": "int", "exit_group": "int", "wait4": "int wstatus wopts ptr",
	"kill": "int sig", "tkill": "int sig", "tgkill": "int int sig",
	"socket": "domain stype int", "connect": "fd saddr uint", "bind": "fd saddr uint",
	"listen": "fd int", "accept": "fd saddrout slenp", "accept4": "fd saddrout slenp oflags",
	"getsockname": "fd saddrout slenp", "getpeername": "fd saddrout slenp",
	"socketpair": "domain stype int pipe", "shutdown": "fd int",
	"sendto": "fd bufin size hex saddr uint", "recvfrom": "fd bufout size hex saddrout slenp",
	"sendmsg": "fd ptr hex", "recvmsg": "fd ptr hex",
	"getcwd": "bufout size", "chdir": "path", "fchdir": "fd", "mkdir": "path mode",
	"mkdirat": "dirfd path mode", "rmdir": "path", "unlink": "path", "unlinkat": "dirfd path atflags",
	"rename": "path path", "renameat": "dirfd path dirfd path", "renameat2": "dirfd path dirfd path hex",
	"link": "path path", "symlink": "path path", "readlink": "path bufout size",
	"readlinkat": "dirfd path bufout size", "chmod": "path mode", "fchmod": "fd mode",
	"fchmodat": "dirfd path mode", "chown": "path int int", "fchown": "fd int int",
	"lchown": "path int int", "umask": "mode", "truncate": "path long", "ftruncate": "fd long",
	"getdents64": "fd dents size", "getdents": "fd dents size",
	"arch_prctl": "archcode hex", "set_tid_address": "ptr", "set_robust_list": "ptr size",
	"rseq": "ptr hex hex hex", "prlimit64": "int rlimres rlim rlimout",
	"getrlimit": "rlimres rlimout", "setrlimit": "rlimres rlim",
	"getrandom": "bufout size grnd", "poll": "pollin uint int",
	"uname": "uname", "nanosleep": "ts tsout",
	"clock_nanosleep": "clock int ts tsout", "clock_gettime": "clock tsout", "clock_getres": "clock tsout",
	"fsync": "fd", "fdatasync": "fd", "flock": "fd int", "sysinfo": "ptr",
	"sigaltstack": "ptr ptr", "alarm": "uint", "setpgid": "int int", "getpgid": "int", "getsid": "int",
	"eventfd2": "uint oflags", "epoll_create1": "oflags", "epoll_ctl": "fd int fd ptr",
	"epoll_wait": "fd ptr int int", "epoll_pwait": "fd ptr int int sigset size",
	"memfd_create": "str hex", "close_range": "uint uint hex", "sendfile": "fd fd ptr size",
	"copy_file_range": "fd ptr fd ptr size hex", "fadvise64": "fd off size int",
	"utimensat": "dirfd path ptr atflags", "statfs": "path ptr", "fstatfs": "fd ptr",
	"sched_getaffinity": "int size ptr", "mincore": "ptr size ptr",
	"openat2": "dirfd path ptr size", "pidfd_open": "int hex", "setuid": "int", "setgid": "int",
	"prctl": "int hex hex hex hex", "personality": "hex", "chroot": "path",
	"wait": "", "waitid": "int int ptr wopts ptr", "select": "int ptr ptr ptr ptr",
	"pselect6": "int ptr ptr ptr ts ptr", "ppoll": "pollin uint ts sigset size",
	"times": "ptr", "getrusage": "int ptr", "gettimeofday": "ptr ptr", "time": "ptr",
	"shmget": "hex size hex", "shmat": "int ptr hex", "shmdt": "ptr", "shmctl": "int int ptr",
	"inotify_init1": "oflags", "timerfd_create": "clock oflags", "signalfd4": "fd sigset size oflags",
	"mknod": "path mode hex", "mknodat": "dirfd path mode hex",
}

// hexResult lists the calls whose result is an address (strace prints it in hex).
var hexResult = map[string]bool{"mmap": true, "brk": true, "mremap": true, "shmat": true}

// noReturn lists the calls that do not return when they succeed.
var noReturn = map[string]bool{"exit": true, "exit_group": true}

func (c *ctx) outBuf(addr uint64) string {
	if c.failed {
		return ptr(addr)
	}
	return c.buf(addr, c.ret)
}

// outOr renders an out-param unless the call failed (then its address).
func (c *ctx) outOr(i int, f func(uint64) string) string {
	if c.failed {
		return ptr(c.a[i])
	}
	return f(c.a[i])
}

func offText(v uint64) string {
	if v == 0 {
		return "0"
	}
	return hex(v)
}

func zeroOr(v uint64, table []flagName) string {
	if v == 0 {
		return "0"
	}
	return flags(v, table)
}

func fcntlArg(c *ctx, i int) string {
	switch int(int32(c.a[i-1])) {
	case unix.F_GETFD, unix.F_GETFL, unix.F_GETOWN, unix.F_GETSIG, unix.F_GETPIPE_SZ, unix.F_GET_SEALS, unix.F_GETLEASE:
		return "\x00" // no argument
	case unix.F_SETFD:
		if c.a[i] == 1 {
			return "FD_CLOEXEC"
		}
		return c.int32(i)
	case unix.F_SETFL:
		return openFlagsText(c.a[i])
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_SETOWN, unix.F_SETPIPE_SZ, unix.F_SETSIG:
		return c.int32(i)
	}
	return hex(c.a[i])
}

func ioctlCmd(v uint64) string {
	if n, ok := ioctlCmds[int64(uint32(v))]; ok {
		return n
	}
	return hex(uint64(uint32(v)))
}

// cloneArgs is strace's clone: child_stack, flags, then the tid pointers
// and tls the flags ask for (x86-64: flags, stack, parent_tid, child_tid, tls).
func cloneArgs(c *ctx) []string {
	f := c.a[0]
	args := []string{"child_stack=" + ptr(c.a[1]), "flags=" + cloneFlagsText(f)}
	if f&unix.CLONE_PARENT_SETTID != 0 {
		args = append(args, "parent_tid="+ptr(c.a[2]))
	}
	if f&unix.CLONE_SETTLS != 0 {
		args = append(args, "tls="+hex(c.a[4]))
	}
	if f&(unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID) != 0 {
		args = append(args, "child_tidptr="+hex(c.a[3]))
	}
	return args
}

// clone3Args reads struct clone_args (flags, pidfd, child_tid, parent_tid,
// exit_signal, stack, stack_size, tls).
func clone3Args(c *ctx) []string {
	b, ok := c.read(c.a[0], 64)
	if !ok {
		return []string{ptr(c.a[0]), c.uint(1)}
	}
	u := func(i int) uint64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[8*i+k])
		}
		return v
	}
	var parts []string
	parts = append(parts, "flags="+zeroOr(u(0), cloneFlags))
	if u(0)&(unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID) != 0 {
		parts = append(parts, "child_tid="+hex(u(2)))
	}
	if u(0)&unix.CLONE_PARENT_SETTID != 0 {
		parts = append(parts, "parent_tid="+hex(u(3)))
	}
	parts = append(parts, "exit_signal="+signalName(int64(u(4))), "stack="+ptr(u(5)), "stack_size="+offText(u(6)))
	if u(0)&unix.CLONE_SETTLS != 0 {
		parts = append(parts, "tls="+hex(u(7)))
	}
	return []string{"{" + strings.Join(parts, ", ") + "}", c.uint(1)}
}

// futexArgs prints what strace prints for the operation: the value, and
// the timeout, second address and third value only where the op uses them.
func futexArgs(c *ctx) []string {
	op := c.a[1] & 0x7f
	args := []string{ptr(c.a[0]), futexOpText(c.a[1]), c.int32(2)}
	switch op {
	case 0, 9, 11: // WAIT, WAIT_BITSET, WAIT_REQUEUE_PI
		args = append(args, c.timespec(c.a[3]))
	case 6, 8, 13: // LOCK_PI, TRYLOCK_PI, LOCK_PI2
		args = []string{ptr(c.a[0]), futexOpText(c.a[1]), c.timespec(c.a[3])}
	case 7: // UNLOCK_PI
		args = args[:2]
	case 3, 4, 12: // REQUEUE, CMP_REQUEUE, CMP_REQUEUE_PI
		args = append(args, c.uint(3), ptr(c.a[4]))
		if op != 3 {
			args = append(args, c.int32(5))
		}
	case 5: // WAKE_OP
		args = append(args, c.uint(3), ptr(c.a[4]), hex(c.a[5]&0xffffffff))
	}
	switch op {
	case 9, 10:
		if uint32(c.a[5]) == 0xffffffff {
			args = append(args, "FUTEX_BITSET_MATCH_ANY")
		} else {
			args = append(args, hex(c.a[5]&0xffffffff))
		}
	case 11:
		args = append(args, ptr(c.a[4]))
	}
	return args
}

// cloneResult shows the parent's tid word as strace does once the call
// has written it: clone's parent_tid=[N], clone3's "=> {parent_tid=[N]}".
func cloneResult(c *ctx, name string, args []string) []string {
	if name == "clone" {
		if c.a[0]&unix.CLONE_PARENT_SETTID == 0 {
			return args
		}
		for i, a := range args {
			if strings.HasPrefix(a, "parent_tid=") {
				args[i] = "parent_tid=" + c.intOut(c.a[2])
			}
		}
		return args
	}
	b, ok := c.read(c.a[0], 32)
	if !ok || len(args) == 0 {
		return args
	}
	u := func(i int) uint64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[8*i+k])
		}
		return v
	}
	if u(0)&unix.CLONE_PARENT_SETTID != 0 {
		args[0] += " => {parent_tid=" + c.intOut(u(3)) + "}"
	}
	return args
}
