package kernelsim

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// fakeFiles is a fake machine's HostFiles: files, directories, links and
// stats by path (an fd's as "fd:N", what fstat and readlinkat(fd, "")
// of it answer), the fd an Openat of a path returns (relative to a dirfd:
// "fd:N/path"), and a log of the paths asked. What is in no table is
// ENOENT.
type fakeFiles struct {
	files map[string][]byte
	dirs  map[string][]string
	links map[string]string
	stats map[string]unix.Stat_t
	opens map[string]int
	asked []string
}

func newFakeFiles() *fakeFiles {
	return &fakeFiles{files: map[string][]byte{}, dirs: map[string][]string{}, links: map[string]string{},
		stats: map[string]unix.Stat_t{}, opens: map[string]int{}}
}

func fdKey(fd int) string { return fmt.Sprintf("fd:%d", fd) }

func (f *fakeFiles) ReadFile(path string) ([]byte, error) {
	f.asked = append(f.asked, "read "+path)
	if b, ok := f.files[path]; ok {
		return append([]byte(nil), b...), nil
	}
	return nil, unix.ENOENT
}

func (f *fakeFiles) ReadDir(path string) ([]string, error) {
	f.asked = append(f.asked, "list "+path)
	if d, ok := f.dirs[path]; ok {
		return append([]string(nil), d...), nil
	}
	return nil, unix.ENOENT
}

func (f *fakeFiles) Readlinkat(dirfd int, path string) (string, error) {
	key := path
	if path == "" {
		key = fdKey(dirfd)
	}
	f.asked = append(f.asked, "readlink "+key)
	if l, ok := f.links[key]; ok {
		return l, nil
	}
	return "", unix.ENOENT
}

func (f *fakeFiles) Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	key := path
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		key = fdKey(dirfd)
	}
	f.asked = append(f.asked, "stat "+key)
	s, ok := f.stats[key]
	if !ok {
		if path == "" {
			return unix.EBADF
		}
		return unix.ENOENT
	}
	*st = s
	return nil
}

func (f *fakeFiles) Close(fd int) error {
	f.asked = append(f.asked, "close "+fdKey(fd))
	return nil
}

func (f *fakeFiles) Statx(dirfd int, path string, flags, mask int, stx *unix.Statx_t) error {
	f.asked = append(f.asked, "statx "+path)
	return unix.ENOENT
}

func (f *fakeFiles) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	key := path
	if dirfd != unix.AT_FDCWD && !strings.HasPrefix(path, "/") {
		key = fdKey(dirfd) + "/" + path
	}
	f.asked = append(f.asked, "open "+key)
	if fd, ok := f.opens[key]; ok {
		return fd, nil
	}
	return -1, unix.ENOENT
}
