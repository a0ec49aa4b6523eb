package kernelsim

import (
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vsysbed/vsysbed/vaspace"
)

// A /proc file of this process has many names: /proc/self/mem,
// /proc/thread-self/mem, /proc/PID/task/TID/mem, with "..", "//" and
// symlinks on the way, relative to a dirfd of /proc/self, or a symlink
// elsewhere that points into /proc. Matching spellings is a losing game:
// kernelsim asks the kernel instead. Before an open, a path that reaches
// /proc is resolved the way the kernel resolves it (procCanonical: opened
// O_PATH, named by its /proc/thread-self/fd link); after every open, an fd
// on procfs is named the same way (checkOpened). Either way the name is
// the kernel's: /proc/PID/FILE or /proc/PID/task/TID/FILE.

// procEntry is a file of a process's /proc directory: /proc/PID/FILE or
// /proc/PID/task/TID/FILE (tid 0 for the first).
type procEntry struct {
	pid, tid int
	file     string
}

// parseProcEntry parses a canonical /proc name, as the kernel gives it in
// a /proc/PID/fd link.
func parseProcEntry(name string) (procEntry, bool) {
	rest, ok := strings.CutPrefix(name, "/proc/")
	if !ok {
		return procEntry{}, false
	}
	parts := strings.Split(rest, "/")
	var e procEntry
	var err error
	if e.pid, err = strconv.Atoi(parts[0]); err != nil || e.pid <= 0 {
		return procEntry{}, false
	}
	parts = parts[1:]
	if len(parts) == 3 && parts[0] == "task" {
		if e.tid, err = strconv.Atoi(parts[1]); err != nil || e.tid <= 0 {
			return procEntry{}, false
		}
		parts = parts[2:]
	}
	if len(parts) != 1 || parts[0] == "" {
		return procEntry{}, false
	}
	e.file = parts[0]
	return e, true
}

// lexicalPath is path as an absolute, cleaned name: relative to dirfd (or
// the cwd), ".." and "//" removed as text, symlinks not followed. It is
// only the test of whether the path may reach /proc.
func lexicalPath(dirfd int, path string) string {
	if strings.HasPrefix(path, "/") {
		return filepath.Clean(path)
	}
	dir := "/proc/thread-self/cwd"
	if dirfd != unix.AT_FDCWD {
		dir = "/proc/thread-self/fd/" + strconv.Itoa(dirfd)
	}
	base, err := readlinkHost(dir)
	if err != nil || !strings.HasPrefix(base, "/") {
		return ""
	}
	return filepath.Clean(base + "/" + path)
}

// mayReachProc: the path, as text, names something under /proc.
func mayReachProc(lexical string) bool {
	return lexical == "/proc" || strings.HasPrefix(lexical, "/proc/")
}

// procCanonical is the kernel's name of what path (relative to dirfd)
// opens: every directory component resolved by the kernel itself (/proc/self
// and /proc/thread-self are symlinks), and the last one followed while it is
// an ordinary symlink. A /proc magic link (fd/N, exe, cwd) is not followed:
// its own name is the answer, as for /proc files.
func procCanonical(dirfd int, path string) (string, bool) {
	for range 40 { // Linux's MAXSYMLINKS
		fd, err := machine.Openat(dirfd, path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", false
		}
		name, err := fdLink(fd)
		st, statErr := hostFstat(fd)
		if err != nil || statErr != nil {
			machine.Close(fd)
			return "", false
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK || isProcDev(st.Dev) {
			machine.Close(fd)
			return name, true
		}
		target, err := machine.Readlinkat(fd, "")
		machine.Close(fd)
		if err != nil {
			return "", false
		}
		if !strings.HasPrefix(target, "/") {
			target = filepath.Dir(name) + "/" + target
		}
		dirfd, path = unix.AT_FDCWD, target
	}
	return "", false
}

var (
	procDevOnce sync.Once
	procDev     uint64
)

// isProcDev: dev is the device of /proc (procfs). It is a fact of the
// host process, not of a guest, kept for its life: read from the host
// directly, not through the Machine (a test's fake, set at the first
// call, would otherwise decide it for every later test).
func isProcDev(dev uint64) bool {
	return procDevice() != 0 && dev == procDev
}

// procDevice is the device of /proc (0 if unknown).
func procDevice() uint64 {
	procDevOnce.Do(func() {
		var st unix.Stat_t
		if unix.Stat("/proc/self", &st) == nil {
			procDev = st.Dev
		}
	})
	return procDev
}

// procNameOf is the kernel's name of the /proc file path names, or "" when
// it is none (or cannot be one: the text of the path leads elsewhere).
func procNameOf(dirfd int, path string) string {
	if !mayReachProc(lexicalPath(dirfd, path)) {
		return ""
	}
	name, ok := procCanonical(dirfd, path)
	if !ok || !strings.HasPrefix(name, "/proc/") {
		return ""
	}
	return name
}

// ofTree: pid is this process or another host process of vsysbed's.
func ofTree(of int) bool { return of == pid || isHostProcess(of) }

// procView is the guest's open of the /proc file the kernel calls name,
// or ok=false to let the open be the kernel's.
func (t *Task) procView(name string, flags uint64) (int64, bool) {
	if t.P.hostFDPath(name) {
		return errNoEntry, true
	}
	e, ok := parseProcEntry(name)
	if !ok || !ofTree(e.pid) {
		return 0, false
	}
	if e.file == "mem" {
		// Host text, heap and control blocks share the address space
		// with the guest (in a fork child too): writes are refused.
		if flags&(unix.O_WRONLY|unix.O_RDWR) != 0 {
			return -int64(unix.EACCES), true
		}
		return 0, false
	}
	if e.pid != pid {
		return t.P.otherHostMaps(e, name, flags)
	}
	if e.tid != 0 && t.guest.ownsThreads() {
		if _, ok := t.P.sigViewOf(e.tid); !ok {
			return errNoEntry, true // a host thread: not the guest's
		}
	}
	switch e.file {
	case "maps", "smaps", "smaps_rollup", "numa_maps":
		// A vfork child runs in our memory: its maps are ours. Its fd
		// table is its own, so its maps file is not refilled at the read.
		return t.P.openMaps(e.file, name, flags, t.guest.ownsFiles())
	case "exe":
		if flags&(unix.O_PATH|unix.O_NOFOLLOW) == unix.O_PATH|unix.O_NOFOLLOW {
			return 0, false // the link itself, as natively
		}
		fd, err := machine.Openat(unix.AT_FDCWD, t.P.Exe, int(flags), 0)
		if err != nil {
			return errnoOf(err), true
		}
		return int64(fd), true
	}
	return t.openProc(e.file, flags, name)
}

// otherHostMaps is the maps of another host process of the tree (a fork
// child, say), whose guest ranges only it knows: what lies where guests
// live (vaspace's window, and below Go's arenas, where a non-PIE image
// and its break go), unnamed. Its host binary, Go heap, libraries and
// shard files are elsewhere.
func (p *Process) otherHostMaps(e procEntry, name string, flags uint64) (int64, bool) {
	switch e.file {
	case "maps", "smaps", "smaps_rollup", "numa_maps":
	default:
		return 0, false
	}
	v := &mapsView{guest: [][2]uint64{{0, goArenaStart}, {vaspace.Lo, vaspace.Hi}}}
	c, ok, errno := v.content(e.file, name)
	if !ok {
		return 0, false
	}
	if errno != 0 {
		return errno, true
	}
	return p.procFile(c, flags)
}

// goArenaStart is where Go's heap arenas begin (its first arena hint).
const goArenaStart = 0xc0_0000_0000

var (
	hostExeOnce sync.Once
	hostExe     unix.Stat_t // vsysbed's own binary
)

// hostExeIno is the inode of vsysbed's binary (0 if unknown).
func hostExeIno() uint64 {
	isHostExe(0, 0)
	return hostExe.Ino
}

// isHostExe: (dev, ino) is vsysbed's binary (read once from the host
// directly, as isProcDev's device).
func isHostExe(dev, ino uint64) bool {
	hostExeOnce.Do(func() { unix.Stat("/proc/self/exe", &hostExe) })
	return hostExe.Ino != 0 && dev == hostExe.Dev && ino == hostExe.Ino
}

// checkOpened looks at the fd an open returned: on procfs it is named by
// the kernel and may be the guest's view instead; vsysbed's binary opened
// through /proc/PID/exe (a symlink elsewhere may lead there) is the guest's
// image instead.
func (t *Task) checkOpened(fd int, dirfd int, path string, flags uint64) int64 {
	st, err := hostFstat(fd)
	if err != nil {
		return int64(fd)
	}
	var name string
	switch {
	case isProcDev(st.Dev):
		name, _ = fdLink(fd)
	case isHostExe(st.Dev, st.Ino) && t.viaProcExe(dirfd, path):
		name = "/proc/" + strconv.Itoa(pid) + "/exe"
	default:
		return int64(fd)
	}
	if r, ok := t.procView(name, flags); ok {
		hostClose(fd)
		return r
	}
	return int64(fd)
}

// viaProcExe: path (relative to dirfd) leads to vsysbed's binary through
// this process's /proc exe link, and the guest's image is another file.
func (t *Task) viaProcExe(dirfd int, path string) bool {
	if st, err := hostStat(t.P.Exe); err == nil && isHostExe(st.Dev, st.Ino) {
		return false // the guest is vsysbed itself
	}
	name, ok := procCanonical(dirfd, path)
	if !ok {
		return false
	}
	e, ok := parseProcEntry(name)
	return ok && e.pid == pid && e.file == "exe"
}

// openGuarded is open, openat and openat2: the /proc files of the
// process are the guest's view. open and openat run as openat2 with
// RESOLVE_NO_MAGICLINKS (openat2 with that flag added), so that a path through a /proc magic link
// (/proc/self/fd/N, /proc/self/exe, /dev/stdout, a symlink to one) fails
// with ELOOP before anything is opened, truncated or created: then the
// kernel's name of the path decides (a host fd's link is ENOENT, exe the
// guest's image), or the call runs as it came. An fd on procfs is looked at
// after the open (maps, mem, status...).
func (t *Task) openGuarded(nr int, dirfd int, pathAddr, flags, mode uint64, a *Args) int64 {
	path, err := readString(pathAddr, 4096)
	if err != nil {
		return passthrough(nr, a)
	}
	var r int64
	if nr == unix.SYS_OPENAT2 {
		r = openat2NoMagicLinks(dirfd, pathAddr, a[2], a[3])
	} else {
		r = openNoMagicLinks(dirfd, pathAddr, flags, mode)
	}
	switch r {
	case -int64(unix.ELOOP):
		if name, ok := procCanonical(dirfd, path); ok {
			if r, ok := t.procView(name, flags); ok {
				return r
			}
		}
		r = passthrough(nr, a)
	case -int64(unix.ENOSYS):
		if name := procNameOf(dirfd, path); name != "" {
			if r, ok := t.procView(name, flags); ok {
				return r
			}
		}
		r = passthrough(nr, a)
	}
	if r < 0 {
		return r
	}
	return t.checkOpened(int(r), dirfd, path, flags)
}

// The flags open(2) accepts (VALID_OPEN_FLAGS; it drops the others, which
// openat2 would refuse), and those it keeps with O_PATH.
const (
	validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
		unix.O_APPEND | unix.O_NONBLOCK | unix.O_SYNC | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT |
		unix.O_LARGEFILE | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC |
		unix.O_PATH | unix.O_TMPFILE
	oPathFlags = unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_PATH | unix.O_CLOEXEC
)

// openNoMagicLinks is openat(dirfd, path, flags, mode) as open(2) builds
// its open_how (build_open_how), with RESOLVE_NO_MAGICLINKS. The C entry's
// checked openat (tls/entry.c) builds the same.
func openNoMagicLinks(dirfd int, pathAddr, flags, mode uint64) int64 {
	how := openHowOf(flags, mode)
	return openat2Host(dirfd, pathAddr, unsafe.Pointer(&how), unix.SizeofOpenHow)
}

// oTmpfileBit is __O_TMPFILE: unix.O_TMPFILE has O_DIRECTORY in it too.
const oTmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY

// openHowOf is build_open_how's open_how for open's flags and mode, with
// RESOLVE_NO_MAGICLINKS: the mode only for a call that may create
// (WILL_CREATE: O_CREAT or __O_TMPFILE; openat2 refuses a mode otherwise,
// which open ignores).
func openHowOf(flags, mode uint64) unix.OpenHow {
	how := unix.OpenHow{Flags: flags&validOpenFlags | unix.O_LARGEFILE, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	if how.Flags&unix.O_PATH != 0 {
		how.Flags &= oPathFlags
	}
	if how.Flags&(unix.O_CREAT|oTmpfileBit) != 0 {
		how.Mode = mode & 0o7777
	}
	return how
}

// openat2Host issues openat2 through the Machine with an open_how of
// size bytes in Go memory at how (pinned: the call has its address only).
func openat2Host(dirfd int, pathAddr uint64, how unsafe.Pointer, size uint64) int64 {
	var pin runtime.Pinner
	pin.Pin(how)
	defer pin.Unpin()
	return machine.Syscall(unix.SYS_OPENAT2, &Args{uint64(int64(dirfd)), pathAddr, uint64(uintptr(how)), size})
}

// openat2NoMagicLinks is the guest's openat2 with RESOLVE_NO_MAGICLINKS
// added to its open_how (size bytes at how, at most a page; a larger one
// is left to the kernel, as ENOSYS here).
func openat2NoMagicLinks(dirfd int, pathAddr, how, size uint64) int64 {
	if size < unix.SizeofOpenHow || size > pageSize {
		return -int64(unix.ENOSYS)
	}
	b := make([]byte, size)
	if readGuest(how, b) != nil {
		return -int64(unix.ENOSYS)
	}
	put64(b[16:], le64(b[16:])|unix.RESOLVE_NO_MAGICLINKS)
	return openat2Host(dirfd, pathAddr, unsafe.Pointer(&b[0]), size)
}

func sysOpen(t *Task, a *Args) int64 {
	return t.openGuarded(unix.SYS_OPEN, unix.AT_FDCWD, a[0], a[1], a[2], a)
}

func sysOpenat(t *Task, a *Args) int64 {
	return t.openGuarded(unix.SYS_OPENAT, int(int32(a[0])), a[1], a[2], a[3], a)
}

// sysOpenat2 reads struct open_how for its flags (the first field).
func sysOpenat2(t *Task, a *Args) int64 {
	if a[3] < 24 {
		return passthrough(unix.SYS_OPENAT2, a) // the kernel's EINVAL
	}
	flags, err := readU64(a[2])
	if err != nil {
		return -int64(unix.EFAULT)
	}
	return t.openGuarded(unix.SYS_OPENAT2, int(int32(a[0])), a[1], flags, 0, a)
}

// The stat calls of /proc/self/exe (every spelling: the link is followed)
// describe vsysbed's binary: the guest's image instead. A result that is
// not vsysbed's binary costs nothing more than the call.

// exeStatPath is the guest's image when a stat that found (dev, ino)
// reached vsysbed's binary through this process's /proc exe link.
func (t *Task) exeStatPath(dirfd int, pathAddr uint64, dev, ino uint64) (string, bool) {
	if !isHostExe(dev, ino) {
		return "", false
	}
	path, err := readString(pathAddr, 4096)
	if err != nil || path == "" || !t.viaProcExe(dirfd, path) {
		return "", false
	}
	return t.P.Exe, true
}

// statAt is stat, lstat (never: it does not follow the link) and
// newfstatat into the struct stat at buf.
func (t *Task) statAt(nr int, dirfd int, pathAddr, buf, flags uint64, a *Args) int64 {
	r := passthrough(nr, a)
	if r != 0 || flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		return r
	}
	var b [16]byte
	if readGuest(buf, b[:]) != nil {
		return r
	}
	exe, ok := t.exeStatPath(dirfd, pathAddr, le64(b[0:]), le64(b[8:]))
	if !ok {
		return r
	}
	st, err := hostStat(exe)
	if err != nil {
		return errnoOf(err)
	}
	if err := writeGuest(buf, unsafeBytes(&st)); err != nil {
		return errnoOf(err)
	}
	return 0
}

func sysStat(t *Task, a *Args) int64 {
	return t.statAt(unix.SYS_STAT, unix.AT_FDCWD, a[0], a[1], 0, a)
}

func sysNewfstatat(t *Task, a *Args) int64 {
	return t.statAt(unix.SYS_NEWFSTATAT, int(int32(a[0])), a[1], a[2], a[3], a)
}

// sysStatx: statx(dirfd, path, flags, mask, buf); stx_ino at 32,
// stx_dev_major/minor at 136/140.
func sysStatx(t *Task, a *Args) int64 {
	r := passthrough(unix.SYS_STATX, a)
	if r != 0 || a[2]&unix.AT_SYMLINK_NOFOLLOW != 0 {
		return r
	}
	var b [144]byte
	if readGuest(a[4], b[:]) != nil {
		return r
	}
	dev := unix.Mkdev(le32(b[136:]), le32(b[140:]))
	exe, ok := t.exeStatPath(int(int32(a[0])), a[1], dev, le64(b[32:]))
	if !ok {
		return r
	}
	var stx unix.Statx_t
	if err := machine.Statx(unix.AT_FDCWD, exe, int(a[2]&^unix.AT_EMPTY_PATH), int(uint32(a[3])), &stx); err != nil {
		return errnoOf(err)
	}
	if err := writeGuest(a[4], unsafeBytes(&stx)); err != nil {
		return errnoOf(err)
	}
	return 0
}

// unsafeBytes is the memory of *v, for copying a kernel struct out.
func unsafeBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}
