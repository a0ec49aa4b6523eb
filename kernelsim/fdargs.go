package kernelsim

import (
	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

// The host's fds do not exist for the guest. Every syscall argument that
// is an fd number is listed here, and the C entry (tls/entry.c) fails a
// call that names a host fd with EBADF before any route — for a guest fd,
// below the host's base, that costs one compare. The calls whose result
// is a new fd are listed too: a guest fd at or above the base (a process
// with a thousand fds, a dup2 to a high number) is recorded as the
// guest's, so everything else there — every fd the host ever opens, not a
// snapshot — stays the host's.
//
// Not covered here (see sysMmap, and the notes in docs/syscalls.md): an
// fd inside memory (poll's and select's sets, SCM_RIGHTS, pipe(2)'s
// result array) and mmap's fd, which Linux ignores for MAP_ANONYMOUS.
const (
	fd1 = 1 << iota // the first argument is an fd
	fd2
	fd3
	fd4
	fd5
	fd6
)

const (
	fdNew   = cblock.FDResult      // the result is a new fd
	fdDupfd = cblock.FDResultDupfd // fcntl: the result is one for F_DUPFD*
)

// Numbers golang.org/x/sys does not name.
const (
	sysOpenTreeAttr = 467
	sysSetxattrat   = 463
	sysGetxattrat   = 464
	sysListxattrat  = 465
	sysRemovexattat = 466
	sysFileGetattr  = 468
	sysFileSetattr  = 469
)

var fdArgs = map[int]uint8{
	// Plain I/O and file state.
	unix.SYS_READ: fd1, unix.SYS_WRITE: fd1, unix.SYS_PREAD64: fd1, unix.SYS_PWRITE64: fd1,
	unix.SYS_READV: fd1, unix.SYS_WRITEV: fd1, unix.SYS_PREADV: fd1, unix.SYS_PWRITEV: fd1,
	unix.SYS_PREADV2: fd1, unix.SYS_PWRITEV2: fd1, unix.SYS_LSEEK: fd1,
	unix.SYS_CLOSE: fd1, unix.SYS_FSTAT: fd1, unix.SYS_IOCTL: fd1, unix.SYS_FCNTL: fd1 | fdDupfd,
	unix.SYS_FLOCK: fd1, unix.SYS_FSYNC: fd1, unix.SYS_FDATASYNC: fd1, unix.SYS_FTRUNCATE: fd1,
	unix.SYS_FALLOCATE: fd1, unix.SYS_FADVISE64: fd1, unix.SYS_READAHEAD: fd1,
	unix.SYS_SYNC_FILE_RANGE: fd1, unix.SYS_SYNCFS: fd1,
	unix.SYS_GETDENTS: fd1, unix.SYS_GETDENTS64: fd1, unix.SYS_FCHDIR: fd1,
	unix.SYS_FCHMOD: fd1, unix.SYS_FCHOWN: fd1, unix.SYS_FSTATFS: fd1,
	unix.SYS_FSETXATTR: fd1, unix.SYS_FGETXATTR: fd1, unix.SYS_FLISTXATTR: fd1, unix.SYS_FREMOVEXATTR: fd1,
	unix.SYS_DUP: fd1 | fdNew, unix.SYS_DUP2: fdNew, unix.SYS_DUP3: fdNew, // both fds: sysDup2
	unix.SYS_SENDFILE: fd1 | fd2, unix.SYS_SPLICE: fd1 | fd3, unix.SYS_TEE: fd1 | fd2,
	unix.SYS_VMSPLICE: fd1, unix.SYS_COPY_FILE_RANGE: fd1 | fd3,

	// Sockets.
	unix.SYS_SOCKET: fdNew, unix.SYS_CONNECT: fd1, unix.SYS_ACCEPT: fd1 | fdNew, unix.SYS_ACCEPT4: fd1 | fdNew,
	unix.SYS_SENDTO: fd1, unix.SYS_RECVFROM: fd1, unix.SYS_SENDMSG: fd1, unix.SYS_RECVMSG: fd1,
	unix.SYS_SENDMMSG: fd1, unix.SYS_RECVMMSG: fd1, unix.SYS_SHUTDOWN: fd1, unix.SYS_BIND: fd1,
	unix.SYS_LISTEN: fd1, unix.SYS_GETSOCKNAME: fd1, unix.SYS_GETPEERNAME: fd1,
	unix.SYS_SETSOCKOPT: fd1, unix.SYS_GETSOCKOPT: fd1,

	// *at calls: the directory fd (AT_FDCWD is negative, never the host's).
	unix.SYS_OPENAT: fd1 | fdNew, unix.SYS_OPENAT2: fd1 | fdNew, unix.SYS_MKDIRAT: fd1, unix.SYS_MKNODAT: fd1,
	unix.SYS_FCHOWNAT: fd1, unix.SYS_FUTIMESAT: fd1, unix.SYS_NEWFSTATAT: fd1, unix.SYS_UNLINKAT: fd1,
	unix.SYS_RENAMEAT: fd1 | fd3, unix.SYS_RENAMEAT2: fd1 | fd3, unix.SYS_LINKAT: fd1 | fd3,
	unix.SYS_SYMLINKAT: fd2, unix.SYS_READLINKAT: fd1, unix.SYS_FCHMODAT: fd1, unix.SYS_FCHMODAT2: fd1,
	unix.SYS_FACCESSAT: fd1, unix.SYS_FACCESSAT2: fd1, unix.SYS_UTIMENSAT: fd1, unix.SYS_STATX: fd1,
	unix.SYS_EXECVEAT: fd1, unix.SYS_NAME_TO_HANDLE_AT: fd1, unix.SYS_OPEN_BY_HANDLE_AT: fd1 | fdNew,
	unix.SYS_OPEN_TREE: fd1 | fdNew, sysOpenTreeAttr: fd1 | fdNew, unix.SYS_MOVE_MOUNT: fd1 | fd3,
	unix.SYS_FSPICK: fd1 | fdNew, unix.SYS_MOUNT_SETATTR: fd1, unix.SYS_FANOTIFY_MARK: fd1 | fd4,
	unix.SYS_INOTIFY_ADD_WATCH: fd1, unix.SYS_INOTIFY_RM_WATCH: fd1,
	sysSetxattrat: fd1, sysGetxattrat: fd1, sysListxattrat: fd1, sysRemovexattat: fd1,
	sysFileGetattr: fd1, sysFileSetattr: fd1,

	// Calls that make an fd out of nothing.
	unix.SYS_OPEN: fdNew, unix.SYS_CREAT: fdNew, unix.SYS_EPOLL_CREATE: fdNew, unix.SYS_EPOLL_CREATE1: fdNew,
	unix.SYS_EVENTFD: fdNew, unix.SYS_EVENTFD2: fdNew, unix.SYS_TIMERFD_CREATE: fdNew,
	unix.SYS_INOTIFY_INIT: fdNew, unix.SYS_INOTIFY_INIT1: fdNew, unix.SYS_MEMFD_CREATE: fdNew,
	unix.SYS_USERFAULTFD: fdNew, unix.SYS_PIDFD_OPEN: fdNew, unix.SYS_PIDFD_GETFD: fd1 | fdNew,
	unix.SYS_FANOTIFY_INIT: fdNew, unix.SYS_PERF_EVENT_OPEN: fd4 | fdNew, unix.SYS_IO_URING_SETUP: fdNew,
	unix.SYS_FSOPEN: fdNew, unix.SYS_FSMOUNT: fd1 | fdNew, unix.SYS_MQ_OPEN: fdNew,
	unix.SYS_MEMFD_SECRET: fdNew, unix.SYS_LANDLOCK_CREATE_RULESET: fdNew,

	// Event and special fds.
	unix.SYS_EPOLL_CTL: fd1 | fd3, unix.SYS_EPOLL_WAIT: fd1, unix.SYS_EPOLL_PWAIT: fd1, unix.SYS_EPOLL_PWAIT2: fd1,
	unix.SYS_SIGNALFD: fd1 | fdNew, unix.SYS_SIGNALFD4: fd1 | fdNew,
	unix.SYS_TIMERFD_SETTIME: fd1, unix.SYS_TIMERFD_GETTIME: fd1,
	unix.SYS_IO_URING_ENTER: fd1, unix.SYS_IO_URING_REGISTER: fd1,
	unix.SYS_MQ_TIMEDSEND: fd1, unix.SYS_MQ_TIMEDRECEIVE: fd1, unix.SYS_MQ_NOTIFY: fd1, unix.SYS_MQ_GETSETATTR: fd1,
	unix.SYS_PIDFD_SEND_SIGNAL: fd1, unix.SYS_PROCESS_MADVISE: fd1, unix.SYS_PROCESS_MRELEASE: fd1,
	unix.SYS_SETNS: fd1, unix.SYS_FINIT_MODULE: fd1, unix.SYS_FSCONFIG: fd1,
	unix.SYS_QUOTACTL_FD: fd1, unix.SYS_LANDLOCK_ADD_RULE: fd1, unix.SYS_LANDLOCK_RESTRICT_SELF: fd1,
	unix.SYS_CACHESTAT: fd1,
}

// applyFDArgs gives the C entry the fd map and where the host's fds start,
// and the highest fd the guest starts with (its fd table's size): below
// the base, or a guest fd above it (a fork child's, marked by installFDs):
// of guest, the fds a fork child installed, else of those /proc/self/fd
// lists.
func applyFDArgs(base int, guest []int) {
	for nr, f := range fdArgs {
		entry.SetFDArgs(nr, f)
	}
	entry.SetHostFDBase(base)
	if guest == nil {
		guest = fdNumbers("/proc/self/fd")
	}
	for _, fd := range guest {
		if fd < base || !entry.IsHostFD(fd) {
			entry.RaiseFDHigh(fd)
		}
	}
}
