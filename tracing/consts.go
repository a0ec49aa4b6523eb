package tracing

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The kernel's restart codes, which a traced call can end with when a
// signal interrupts it (strace prints them; the guest never sees them).
var restartNames = map[int64][2]string{
	512: {"ERESTARTSYS", "To be restarted if SA_RESTART is set"},
	513: {"ERESTARTNOINTR", "To be restarted"},
	514: {"ERESTARTNOHAND", "To be restarted if no handler"},
	516: {"ERESTART_RESTARTBLOCK", "Interrupted by signal"},
}

// errnoText is strace's "ENAME (Message)" for errno e.
func errnoText(e int64) (name, msg string) {
	if r, ok := restartNames[e]; ok {
		return r[0], r[1]
	}
	name = unix.ErrnoName(unix.Errno(e))
	if e == int64(unix.EOPNOTSUPP) {
		name = "EOPNOTSUPP" // ENOTSUP is the same number; strace names it so
	}
	if name == "" {
		return "E" + strconv.FormatInt(e, 10), "Unknown error " + strconv.FormatInt(e, 10)
	}
	msg = unix.Errno(e).Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return name, msg
}

// signalName is SIGINT, SIGRTMIN, SIGRT_3 or the number.
func signalName(sig int64) string {
	switch {
	case sig == 32:
		return "SIGRTMIN"
	case sig > 32 && sig <= 64:
		return "SIGRT_" + strconv.FormatInt(sig-32, 10)
	case sig > 0 && sig < 32:
		if n := unix.SignalName(unix.Signal(sig)); n != "" {
			return n
		}
	}
	return strconv.FormatInt(sig, 10)
}

var openFlags = []flagName{
	{unix.O_TMPFILE, "O_TMPFILE"}, {unix.O_SYNC, "O_SYNC"},
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DSYNC, "O_DSYNC"}, {unix.O_ASYNC, "O_ASYNC"}, {unix.O_DIRECT, "O_DIRECT"},
	{0x8000, "O_LARGEFILE"}, {unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_NOATIME, "O_NOATIME"}, {unix.O_CLOEXEC, "O_CLOEXEC"}, {unix.O_PATH, "O_PATH"},
}

// openFlagsText is the access mode, then the other flags.
func openFlagsText(v uint64) string {
	acc := [4]string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"}[v&3]
	rest := v &^ 3
	if rest&unix.O_PATH != 0 && v&3 == 0 {
		return flags(rest, openFlags) // O_PATH ignores the access mode
	}
	if rest == 0 {
		return acc
	}
	return acc + "|" + flags(rest, openFlags)
}

var protFlags = []flagName{
	{0, "PROT_NONE"}, {unix.PROT_READ, "PROT_READ"}, {unix.PROT_WRITE, "PROT_WRITE"},
	{unix.PROT_EXEC, "PROT_EXEC"}, {0x8, "PROT_SEM"},
	{unix.PROT_GROWSDOWN, "PROT_GROWSDOWN"}, {unix.PROT_GROWSUP, "PROT_GROWSUP"},
}

var mapFlags = []flagName{
	{unix.MAP_FIXED, "MAP_FIXED"}, {unix.MAP_ANONYMOUS, "MAP_ANONYMOUS"}, {unix.MAP_32BIT, "MAP_32BIT"},
	{unix.MAP_GROWSDOWN, "MAP_GROWSDOWN"}, {unix.MAP_DENYWRITE, "MAP_DENYWRITE"},
	{unix.MAP_EXECUTABLE, "MAP_EXECUTABLE"}, {unix.MAP_LOCKED, "MAP_LOCKED"},
	{unix.MAP_NORESERVE, "MAP_NORESERVE"}, {unix.MAP_POPULATE, "MAP_POPULATE"},
	{unix.MAP_NONBLOCK, "MAP_NONBLOCK"}, {unix.MAP_STACK, "MAP_STACK"}, {unix.MAP_HUGETLB, "MAP_HUGETLB"},
	{0x80000, "MAP_SYNC"}, {unix.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"},
	{0x4000000, "MAP_UNINITIALIZED"},
}

func mapFlagsText(v uint64) string {
	typ := [4]string{"0", "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE"}[v&3]
	rest := v &^ 3
	if rest == 0 {
		return typ
	}
	return typ + "|" + flags(rest, mapFlags)
}

var cloneFlags = []flagName{
	{unix.CLONE_VM, "CLONE_VM"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"}, {unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"}, {unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"}, {unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"}, {unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"}, {unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"}, {unix.CLONE_DETACHED, "CLONE_DETACHED"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"}, {unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_IO, "CLONE_IO"},
}

// cloneFlagsText is the flags, then the exit signal (CSIGNAL), as strace.
func cloneFlagsText(v uint64) string {
	sig := v & 0xff
	rest := v &^ 0xff
	var parts []string
	if rest != 0 {
		parts = append(parts, flags(rest, cloneFlags))
	}
	if sig != 0 || len(parts) == 0 {
		parts = append(parts, signalName(int64(sig)))
	}
	return strings.Join(parts, "|")
}

var atFlags = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"}, {unix.AT_REMOVEDIR, "AT_REMOVEDIR"},
	{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"}, {unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}, {unix.AT_STATX_FORCE_SYNC, "AT_STATX_FORCE_SYNC"},
	{unix.AT_STATX_DONT_SYNC, "AT_STATX_DONT_SYNC"}, {0x200, "AT_EACCESS"},
}

func atFlagsText(v uint64) string {
	if v == 0 {
		return "0"
	}
	return flags(v, atFlags)
}

var accessModes = []flagName{{0, "F_OK"}, {unix.R_OK, "R_OK"}, {unix.W_OK, "W_OK"}, {unix.X_OK, "X_OK"}}

var whenceNames = map[int64]string{0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}

var sigprocmaskHow = map[int64]string{0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}

var saFlags = []flagName{
	{1, "SA_NOCLDSTOP"}, {2, "SA_NOCLDWAIT"}, {4, "SA_SIGINFO"},
	{0x4000000, "SA_RESTORER"}, {0x8000000, "SA_ONSTACK"}, {0x10000000, "SA_RESTART"},
	{0x40000000, "SA_NODEFER"}, {0x80000000, "SA_RESETHAND"},
}

var fcntlCmds = map[int64]string{
	unix.F_DUPFD: "F_DUPFD", unix.F_GETFD: "F_GETFD", unix.F_SETFD: "F_SETFD", unix.F_GETFL: "F_GETFL",
	unix.F_SETFL: "F_SETFL", unix.F_GETLK: "F_GETLK", unix.F_SETLK: "F_SETLK", unix.F_SETLKW: "F_SETLKW",
	unix.F_SETOWN: "F_SETOWN", unix.F_GETOWN: "F_GETOWN", unix.F_SETSIG: "F_SETSIG", unix.F_GETSIG: "F_GETSIG",
	unix.F_DUPFD_CLOEXEC: "F_DUPFD_CLOEXEC", unix.F_SETPIPE_SZ: "F_SETPIPE_SZ", unix.F_GETPIPE_SZ: "F_GETPIPE_SZ",
	unix.F_ADD_SEALS: "F_ADD_SEALS", unix.F_GET_SEALS: "F_GET_SEALS", unix.F_OFD_GETLK: "F_OFD_GETLK",
	unix.F_OFD_SETLK: "F_OFD_SETLK", unix.F_OFD_SETLKW: "F_OFD_SETLKW", unix.F_SETLEASE: "F_SETLEASE",
	unix.F_GETLEASE: "F_GETLEASE", unix.F_NOTIFY: "F_NOTIFY",
}

var ioctlCmds = map[int64]string{
	unix.TCGETS: "TCGETS", unix.TCSETS: "TCSETS", unix.TCSETSW: "TCSETSW", unix.TCSETSF: "TCSETSF",
	unix.TIOCGWINSZ: "TIOCGWINSZ", unix.TIOCSWINSZ: "TIOCSWINSZ", unix.TIOCGPGRP: "TIOCGPGRP",
	unix.TIOCSPGRP: "TIOCSPGRP", 0x541b: "FIONREAD", 0x5421: "FIONBIO",
	0x5451: "FIOCLEX", 0x5450: "FIONCLEX", unix.TIOCSCTTY: "TIOCSCTTY",
	unix.TIOCNOTTY: "TIOCNOTTY", unix.TIOCGPTN: "TIOCGPTN", unix.TIOCSPTLCK: "TIOCSPTLCK",
	unix.TCFLSH: "TCFLSH", unix.TIOCGSID: "TIOCGSID", 0x5452: "FIOASYNC",
}

var clockNames = map[int64]string{
	0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID", 3: "CLOCK_THREAD_CPUTIME_ID",
	4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME",
	8: "CLOCK_REALTIME_ALARM", 9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI",
}

var familyNames = map[int64]string{
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET",
}

var sockTypes = map[int64]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_SEQPACKET: "SOCK_SEQPACKET", unix.SOCK_RDM: "SOCK_RDM",
}

func sockTypeText(v uint64) string {
	s := enum(int64(v&0xf), sockTypes)
	if v&unix.SOCK_NONBLOCK != 0 {
		s += "|SOCK_NONBLOCK"
	}
	if v&unix.SOCK_CLOEXEC != 0 {
		s += "|SOCK_CLOEXEC"
	}
	return s
}

var archPrctlCodes = map[int64]string{
	0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS", 0x1004: "ARCH_GET_GS",
	0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID", 0x3001: "ARCH_CET_STATUS",
	0x5001: "ARCH_SHSTK_ENABLE", 0x5005: "ARCH_SHSTK_STATUS",
}

var rlimitNames = map[int64]string{
	unix.RLIMIT_CPU: "RLIMIT_CPU", unix.RLIMIT_FSIZE: "RLIMIT_FSIZE", unix.RLIMIT_DATA: "RLIMIT_DATA",
	unix.RLIMIT_STACK: "RLIMIT_STACK", unix.RLIMIT_CORE: "RLIMIT_CORE", unix.RLIMIT_RSS: "RLIMIT_RSS",
	unix.RLIMIT_NPROC: "RLIMIT_NPROC", unix.RLIMIT_NOFILE: "RLIMIT_NOFILE",
	unix.RLIMIT_MEMLOCK: "RLIMIT_MEMLOCK", unix.RLIMIT_AS: "RLIMIT_AS", 10: "RLIMIT_LOCKS",
	11: "RLIMIT_SIGPENDING", 12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE", 14: "RLIMIT_RTPRIO",
	15: "RLIMIT_RTTIME",
}

var futexOps = map[int64]string{
	0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 2: "FUTEX_FD", 3: "FUTEX_REQUEUE", 4: "FUTEX_CMP_REQUEUE",
	5: "FUTEX_WAKE_OP", 6: "FUTEX_LOCK_PI", 7: "FUTEX_UNLOCK_PI", 8: "FUTEX_TRYLOCK_PI",
	9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET", 11: "FUTEX_WAIT_REQUEUE_PI",
	12: "FUTEX_CMP_REQUEUE_PI", 13: "FUTEX_LOCK_PI2",
}

func futexOpText(v uint64) string {
	s := enum(int64(v&0x7f), futexOps)
	if v&128 != 0 {
		s += "_PRIVATE"
	}
	if v&256 != 0 {
		s += "|FUTEX_CLOCK_REALTIME"
	}
	return s
}

var waitOptions = []flagName{
	{unix.WNOHANG, "WNOHANG"}, {unix.WUNTRACED, "WSTOPPED"}, {unix.WEXITED, "WEXITED"},
	{unix.WCONTINUED, "WCONTINUED"}, {unix.WNOWAIT, "WNOWAIT"}, {0x20000000, "__WNOTHREAD"},
	{0x40000000, "__WALL"}, {0x80000000, "__WCLONE"},
}
