package kernelsim

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// writeCode into one page of a private file mapping leaves the mapping
// one VMA, as natively: the kernel does not merge a written page back, so
// a page's own mprotect would split it in three (/proc/self/maps and
// map_files, the host kernel's, would show the pieces).
func TestWriteCodeKeepsOneMapping(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "text")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 3*pageSize)); err != nil {
		t.Fatal(err)
	}
	r, _, e := unix.Syscall6(unix.SYS_MMAP, 0, 3*pageSize, unix.PROT_READ|unix.PROT_EXEC,
		unix.MAP_PRIVATE, f.Fd(), 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, r, 3*pageSize, 0)
	start := uint64(r)
	if err := writeCode(start+pageSize+0x40, []byte{0xe9, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(maps), "\n") {
		for _, a := range []uint64{start, start + pageSize, start + 2*pageSize} {
			if _, ok := protLine(l, a); ok {
				lines = append(lines, l)
				break
			}
		}
	}
	if len(lines) != 1 {
		t.Errorf("the mapping after a write into its middle page:\n%s", strings.Join(lines, "\n"))
	}
	if p, err := protOf(start + pageSize); err != nil || p != unix.PROT_READ|unix.PROT_EXEC {
		t.Errorf("protection after = %#x, %v; want r-x", p, err)
	}
}
