package kernelsim

import "golang.org/x/sys/unix"

// owned lists every syscall that does not simply take the fast route: the
// must-own set (ARCHITECTURE.md, "What kernelsim owns") and the guarded pass-throughs. Every other
// number is Fast ("passed through"); Table fills those rows in.
var owned = []Syscall{
	// Memory: only guest-owned ranges may change.
	{Nr: unix.SYS_BRK, Route: Emulated, Handler: sysBrk, Note: "Emulated in a reservation after the guest image: host malloc owns the real break."},
	{Nr: unix.SYS_MMAP, Route: Guarded, Handler: sysMmap, Note: "MAP_FIXED outside guest ranges becomes MAP_FIXED_NOREPLACE; MAP_SHARED|MAP_ANONYMOUS is backed by a memfd, so that fork children share it without CAP_SYS_ADMIN; file mappings are logged for the coverage report."},
	{Nr: unix.SYS_MUNMAP, Route: Guarded, Handler: sysMunmap, Note: "Guest ranges only (EINVAL otherwise)."},
	{Nr: unix.SYS_MPROTECT, Route: Guarded, Handler: guardRange(unix.SYS_MPROTECT, unix.ENOMEM, unix.ENOMEM), Note: "Guest ranges only (ENOMEM otherwise)."},
	{Nr: unix.SYS_PKEY_MPROTECT, Route: Guarded, Handler: guardRange(unix.SYS_PKEY_MPROTECT, unix.ENOMEM, unix.ENOMEM), Note: "Guest ranges only (ENOMEM otherwise)."},
	{Nr: unix.SYS_MADVISE, Route: Guarded, Handler: guardRange(unix.SYS_MADVISE, unix.ENOMEM, unix.EINVAL), Note: "Guest ranges only (ENOMEM otherwise)."},
	{Nr: unix.SYS_MREMAP, Route: Guarded, Handler: sysMremap, Note: "Old and MREMAP_FIXED target ranges must be guest-owned (EFAULT otherwise)."},
	{Nr: unix.SYS_REMAP_FILE_PAGES, Route: Guarded, Handler: guardRange(unix.SYS_REMAP_FILE_PAGES, unix.EINVAL, unix.EINVAL), Note: "Guest ranges only."},
	{Nr: unix.SYS_MSEAL, Route: Refused, Errno: unix.EPERM, Note: "Sealing would stop vsysbed from managing guest memory."},
	{Nr: unix.SYS_SHMAT, Route: Guarded, Handler: sysShmat, Note: "At shmaddr 0, attached over a reservation in the guest's window (the kernel would choose host memory); an explicit address as MAP_FIXED (SHM_REMAP only over guest ranges). A guest mapping; a fork child attaches the segment by id at the same address."},
	{Nr: unix.SYS_SHMDT, Route: Guarded, Handler: sysShmdt, Note: "Guest attachments only (EINVAL otherwise); the detached pieces leave the guest's ranges."},
	{Nr: unix.SYS_PROCESS_VM_WRITEV, Route: Guarded, Handler: sysProcessVMWritev, Note: "Writing our own pid, or another host process of the tree (a fork child), is refused (EPERM): host memory shares the address space."},

	// Thread and TLS state.
	{Nr: unix.SYS_ARCH_PRCTL, Route: Emulated, Handler: sysArchPrctl, Note: "SET_FS/GET_FS are per-thread guest state; SET_GS is refused (GS points at the control block)."},
	{Nr: unix.SYS_SET_TID_ADDRESS, Route: Emulated, Handler: sysSetTidAddress, Note: "Recorded per thread (cleared and woken at thread exit); returns the tid."},
	{Nr: unix.SYS_SET_ROBUST_LIST, Route: Emulated, Handler: sysSetRobustList, Note: "Recorded per thread: the host's glibc registered its own list."},
	{Nr: unix.SYS_GET_ROBUST_LIST, Route: Emulated, Handler: sysGetRobustList, Note: "Returns the guest's list for its own thread."},
	{Nr: unix.SYS_RSEQ, Route: Refused, Errno: unix.ENOSYS, Note: "The host's glibc already registered an rseq area for the thread."},

	// Lifetime.
	{Nr: unix.SYS_EXIT, Route: Emulated, Handler: sysExit, Note: "Ends the thread (CLONE_CHILD_CLEARTID: zero + futex wake); the last thread ends the process."},
	{Nr: unix.SYS_EXIT_GROUP, Route: Emulated, Handler: sysExitGroup, Note: "Ends the guest after its exit is recorded; passing it through would kill the host first."},
	{Nr: unix.SYS_CLONE, Route: Emulated, Handler: sysClone, Note: "Threads (CLONE_VM|CLONE_THREAD|CLONE_SIGHAND) run on a new locked host thread; without CLONE_THREAD, as fork; with CLONE_VM or CLONE_VFORK, as vfork (the child shares our memory)."},
	{Nr: unix.SYS_CLONE3, Route: Emulated, Handler: sysClone3, Note: "As clone; the child's stack pointer is stack+stack_size."},
	{Nr: unix.SYS_FORK, Route: Emulated, Handler: sysFork, Note: "A fresh host process receives the guest's state (mappings, fds, registers, signal state)."},
	{Nr: unix.SYS_VFORK, Route: Emulated, Handler: sysVfork, Note: "Nothing copied: the child runs on a thread of ours with its own fd table and cwd (unshare), its own mask and dispositions; its host process, started up front, performs its execve. The parent waits until then or the child's exit."},
	{Nr: unix.SYS_EXECVE, Route: Emulated, Handler: sysExecve, Note: "In the same host process: the new image (static, PIE, interpreter, #!) with a new vDSO; O_CLOEXEC fds closed, caught signals reset, other threads stopped. Failures before the point of no return leave the caller untouched."},
	{Nr: unix.SYS_EXECVEAT, Route: Emulated, Handler: sysExecveat, Note: "As execve, with dirfd and AT_EMPTY_PATH resolved through /proc/self/fd."},

	// Signals: the host owns every real handler and mask.
	{Nr: unix.SYS_RT_SIGACTION, Route: Emulated, Handler: sysRtSigaction, Note: "Guest dispositions are kernelsim state; a SIGCHLD that is SIG_IGN or SA_NOCLDWAIT puts SA_NOCLDWAIT on the host's, so the kernel reaps the children."},
	{Nr: unix.SYS_RT_SIGPROCMASK, Route: Emulated, Handler: sysRtSigprocmask, Note: "Per-thread guest mask; SIGKILL/SIGSTOP cannot be blocked."},
	{Nr: unix.SYS_SIGALTSTACK, Route: Emulated, Handler: sysSigaltstack, Note: "Per-thread guest alternate stack."},
	{Nr: unix.SYS_RT_SIGPENDING, Route: Emulated, Handler: sysRtSigpending, Note: "Blocked signals pending for the thread or the process."},
	{Nr: unix.SYS_RT_SIGRETURN, Route: Emulated, Handler: sysRtSigreturn, Note: "Restores registers, mask, extended state and alternate stack from the frame's ucontext, as the handler left them."},
	{Nr: unix.SYS_RT_SIGSUSPEND, Route: Emulated, Handler: sysRtSigsuspend, Note: "Waits with the temporary mask; the handler's frame keeps the old one."},
	{Nr: unix.SYS_RT_SIGTIMEDWAIT, Route: Emulated, Handler: sysRtSigtimedwait, Note: "Takes a signal of the set from the guest's queues."},
	{Nr: unix.SYS_PSELECT6, Route: Guarded, Handler: sysPwait, Note: "With a signal mask: the guest's temporary mask for the call, atomically (a guest signal it lets through interrupts the call, also one pending before it); without, passed through."},
	{Nr: unix.SYS_PPOLL, Route: Guarded, Handler: sysPwait, Note: "As pselect6."},
	{Nr: unix.SYS_EPOLL_PWAIT, Route: Guarded, Handler: sysPwait, Note: "As pselect6."},
	{Nr: unix.SYS_EPOLL_PWAIT2, Route: Guarded, Handler: sysPwait, Note: "As pselect6."},
	{Nr: unix.SYS_SIGNALFD, Route: Emulated, Handler: sysSignalfd, Note: "As signalfd4 without flags."},
	{Nr: unix.SYS_SIGNALFD4, Route: Emulated, Handler: sysSignalfd4, Note: "The read end of a pipe that holds a byte while a signal of the mask is pending (poll and epoll see that); the signals stay in the guest's pending sets, and a read or readv of the fd (sent to kernelsim by the C entry) dequeues them as signalfd_siginfo records. A fork child gets a pipe of its own at the same number. fstat shows a pipe."},
	{Nr: unix.SYS_PAUSE, Route: Emulated, Handler: sysPause, Note: "Waits for a guest signal."},
	{Nr: unix.SYS_TIMER_GETOVERRUN, Route: Guarded, Handler: sysTimerGetoverrun, Note: "The overrun as of the timer signal's last dequeue by the guest: expiries while its signal was pending are counted in kernelsim (merged as the relay records them) and by the host kernel while the guest blocks it (its pending copy, taken without waiting)."},
	{Nr: unix.SYS_TIMER_CREATE, Route: Guarded, Handler: sysTimerCreate, Note: "Passed through; a timer with SIGEV_THREAD_ID is recorded, so that its host signal stays its thread's (every other timer's is process-directed)."},
	{Nr: unix.SYS_TIMER_DELETE, Route: Guarded, Handler: sysTimerDelete, Note: "Passed through; forgets the timer's overrun and kind."},
	{Nr: unix.SYS_KILL, Route: Emulated, Handler: sysKill, Note: "Aimed at the guest itself (own pid, 0, -1): queued for the guest; other pids pass through."},
	{Nr: unix.SYS_TGKILL, Route: Emulated, Handler: sysTgkill, Note: "Aimed at a guest thread: queued for it (the kick interrupts it); other threads pass through."},
	{Nr: unix.SYS_TKILL, Route: Emulated, Handler: sysTkill, Note: "Aimed at a guest thread: queued for it; other threads pass through."},
	{Nr: unix.SYS_RT_SIGQUEUEINFO, Route: Emulated, Handler: sysRtSigqueueinfo, Note: "Aimed at the guest itself: queued with the caller's siginfo; an si_code >= 0 or SI_TKILL only from the main thread (Linux lets a caller forge one only to itself)."},
	{Nr: unix.SYS_RT_TGSIGQUEUEINFO, Route: Emulated, Handler: sysRtTgsigqueueinfo, Note: "Aimed at a guest thread: queued with the caller's siginfo; an si_code >= 0 or SI_TKILL only to the calling thread itself."},

	// The host's confinement.
	{Nr: unix.SYS_SECCOMP, Route: Refused, Errno: unix.EPERM, Note: "The trap filter belongs to vsysbed."},
	{Nr: unix.SYS_PTRACE, Route: Refused, Errno: unix.EPERM, Note: "Tracing would reach the host process."},
	{Nr: unix.SYS_GETRLIMIT, Route: Guarded, Handler: sysRlimit(unix.SYS_GETRLIMIT), Note: "RLIMIT_NOFILE, AS, DATA, NPROC and FSIZE are the guest's own (the host process is more than the guest: its fds above 1000, its Go runtime); the rest passes through."},
	{Nr: unix.SYS_SETRLIMIT, Route: Guarded, Handler: sysRlimit(unix.SYS_SETRLIMIT), Note: "RLIMIT_NOFILE, AS, DATA, NPROC and FSIZE are recorded for the guest, not applied to the host process; NPROC is enforced on the guest's fork, vfork and clone against the guest's own tasks (vsysbed's threads do not count), the others are not enforced; the rest passes through."},
	{Nr: unix.SYS_PRLIMIT64, Route: Guarded, Handler: sysRlimit(unix.SYS_PRLIMIT64), Note: "On the guest itself, as getrlimit/setrlimit; other processes pass through."},
	{Nr: unix.SYS_PERSONALITY, Route: Emulated, Handler: sysPersonality, Note: "The guest's own value, inherited by fork, vfork and execve; the host's threads keep the personality its host processes need."},
	{Nr: unix.SYS_PRCTL, Route: Guarded, Handler: sysPrctl, Note: "SECCOMP, SYSCALL_USER_DISPATCH and SET_MM are refused; NO_NEW_PRIVS and DUMPABLE are the guest's own flags (the host's no_new_privs is set for the filter; a host that is not dumpable cannot fork); the rest passes through."},

	// fds: the host's live in a reserved high range.
	{Nr: unix.SYS_CLOSE, Route: Guarded, Handler: sysClose, Checked: true, Note: "The host's fds answer EBADF. Run by the C entry itself below the host's base when the fd is neither a signalfd nor a maps file not read yet (their records are kernelsim's)."},
	{Nr: unix.SYS_CLOSE_RANGE, Route: Guarded, Handler: sysCloseRange, Note: "Clamped below the host's fd range."},
	{Nr: unix.SYS_DUP2, Route: Guarded, Handler: sysDup2, Note: "The host's fds answer EBADF."},
	{Nr: unix.SYS_DUP3, Route: Guarded, Handler: sysDup3, Note: "The host's fds answer EBADF."},

	{Nr: unix.SYS_SENDMSG, Route: Guarded, Handler: sysSendmsg, Note: "A host fd in an SCM_RIGHTS control message fails with EBADF; the rest passes through."},
	{Nr: unix.SYS_SENDMMSG, Route: Guarded, Handler: sysSendmmsg, Note: "As sendmsg, per message."},

	// Files that describe the process.
	{Nr: unix.SYS_OPEN, Route: Guarded, Handler: sysOpen, Checked: true, Note: "Issued as openat2 with RESOLVE_NO_MAGICLINKS: a path through a magic link (ELOOP) is named by the kernel first (a host fd's /proc link is ENOENT, before any O_TRUNC), and every fd on procfs after the open. This process's /proc files, in every spelling: {cmdline,environ,auxv,status,stat} are the guest's, maps, smaps, smaps_rollup and numa_maps list only guest mappings (generated again at the first read; a fork child's, where guests live), exe is the guest's image; mem (also of the tree's other host processes) is read-only. The C entry makes the first openat2 itself and keeps an fd that is neither on /proc nor vsysbed's binary; a magic link (ELOOP), or such an fd (closed again), goes to kernelsim, which opens it anew."},
	{Nr: unix.SYS_OPENAT, Route: Guarded, Handler: sysOpenat, Checked: true, Note: "As open, relative to dirfd."},
	{Nr: unix.SYS_OPENAT2, Route: Guarded, Handler: sysOpenat2, Note: "As openat: RESOLVE_NO_MAGICLINKS is added to the guest's open_how for the first try."},
	{Nr: unix.SYS_STAT, Route: Fast, Handler: sysStat, Note: "Passed through; a result that is vsysbed's binary (its inode, compared in the C entry) goes to kernelsim: reached through this process's /proc exe link, it is the guest's image."},
	{Nr: unix.SYS_NEWFSTATAT, Route: Fast, Handler: sysNewfstatat, Note: "As stat."},
	{Nr: unix.SYS_STATX, Route: Fast, Handler: sysStatx, Note: "As stat."},
	{Nr: unix.SYS_SETPGID, Route: Guarded, Handler: sysSetpgid, Note: "Passed through; a fork child that has not called execve is moved by its own host process when the parent asks (a child's host process is a re-exec, which the host kernel takes for its execve: EACCES)."},
	{Nr: unix.SYS_WAIT4, Route: Guarded, Handler: sysWait4, Note: "Passed through; a collected child's end is logged for the report's process tree."},
	{Nr: unix.SYS_WAITID, Route: Guarded, Handler: sysWaitid, Note: "Passed through; P_ALL is ECHILD when only spare host processes (ahead of a fork) are children."},
	{Nr: unix.SYS_GETDENTS64, Route: Guarded, Handler: sysGetdents64, Checked: true, Note: "Listings of /proc/self/fd leave out the host's fds (of the task directory, its threads; of map_files, its mappings). An fd not on /proc (fstat) is listed by the C entry itself."},
	{Nr: unix.SYS_READLINK, Route: Guarded, Handler: sysReadlink, Note: "/proc/self/exe names the guest image (any spelling); a host fd's /proc/self/fd link is ENOENT."},
	{Nr: unix.SYS_READLINKAT, Route: Guarded, Handler: sysReadlinkat, Note: "/proc/self/exe names the guest image (any spelling, relative to dirfd)."},
}

var table = buildTable()

func buildTable() []Syscall {
	rows := make([]Syscall, MaxNr+1)
	for nr := range rows {
		name := Name(nr)
		rows[nr] = Syscall{Nr: nr, Name: name, Route: Fast, Note: "Passed through."}
		if len(name) > 9 && name[:9] == "reserved_" {
			rows[nr] = Syscall{Nr: nr, Name: name, Route: Refused, Errno: unix.ENOSYS, Note: "Not assigned on x86-64."}
		}
	}
	for _, o := range owned {
		o.Name = Name(o.Nr)
		rows[o.Nr] = o
	}
	return rows
}

// Table returns one row per syscall number 0..MaxNr.
func Table() []Syscall {
	out := make([]Syscall, len(table))
	copy(out, table)
	return out
}
