package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// fileMappings is the sorted set of "name perms" of the file-backed lines
// of a maps listing: what must match a native run (addresses differ).
func fileMappings(maps string) []string {
	var set []string
	for _, line := range strings.Split(maps, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
			set = append(set, f[5]+" "+f[1])
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// pythonMaps prints what python3 finds in its own maps: the files it
// mapped (its libraries and extension modules) and the [stack] and [vdso]
// lines, as a runtime that reads maps would.
const pythonMaps = `import re
files, special = set(), set()
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) > 5 and f[5].startswith("/"):
        files.add((f[5], f[1]))
    elif len(f) > 5:
        special.add(f[5])
print(sorted(files))
print(sorted(special & {"[stack]", "[vdso]", "[heap]"}))
`

// The /proc files that describe the process's memory and program are the
// guest's, however they are named: the host's binary, Go heap and shard
// files never appear, and mem cannot write the host.
var _ = Describe("the guest's view of its memory and image in /proc", func() {
	procview := func() string { return filepath.Join(guestDir, "procview") }

	same := func(mode string, argv ...string) result {
		GinkgoHelper()
		return sameAsNative(mode, nil, argv...)
	}

	for _, mode := range trapModes {
		Context("with --trap "+mode, func() {
			It("maps, smaps and numa_maps list the guest's mappings only, in every spelling, with [stack], [heap] and [vdso]", func() {
				got := same(mode, procview(), "maps")
				Expect(got.Stdout).To(ContainSubstring("/proc/self/maps: lines many, format the kernel's, vsysbed or shard files: 0\n"))
				Expect(got.Stdout).To(ContainSubstring("/proc/self/maps: [stack] holds sp: yes, [heap] ends at sbrk(0): yes, [vdso] holds AT_SYSINFO_EHDR: yes\n"))
				Expect(got.Stdout).To(ContainSubstring("pthread_getattr_np: ok, holds sp: yes\n"))
				Expect(got.Stdout).To(ContainSubstring("tids of [pid, pid+1000) with a task/N/maps: 1\n"))
				Expect(got.Stdout).To(ContainSubstring("smaps_rollup: [rollup] line: yes, Rss within 10% of smaps' sum: yes, smaps' Size under 64 MiB: yes\n"))
				Expect(got.Stdout).To(ContainSubstring("a mapping made between open and read: listed\n"))
				Expect(got.Stdout).To(ContainSubstring("a vfork child's maps: the program's\n"))
				Expect(got.Stdout).To(ContainSubstring("a fork child's /proc/CHILD/maps: lines many, format the kernel's, vsysbed or shard files: 0\n"))
			})

			It("map_files lists the guest's file mappings only, and none of the host's opens", func() {
				got := same(mode, procview(), "mapfiles")
				Expect(got.Stdout).To(MatchRegexp(`map_files: entries several, not a range of maps: 0, links to vsysbed or shard files: 0, open: (all|none)\n`))
			})

			It("cat /proc/self/maps names cat and its libraries, not vsysbed", func() {
				native := run(nil, "/bin/cat", "/proc/self/maps")
				got := runVsysbed(nil, reportFlags(mode, filepath.Join(GinkgoT().TempDir(), "R.json")), "/bin/cat", "/proc/self/maps")
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(fileMappings(got.Stdout)).To(Equal(fileMappings(native.Stdout)), "native:\n%s\nvsysbed:\n%s", native.Stdout, got.Stdout)
				Expect(got.Stdout).To(ContainSubstring("/usr/bin/cat\n"))
				Expect(got.Stdout).To(MatchRegexp(`(?m) \[stack\]$`))
				Expect(got.Stdout).To(MatchRegexp(`(?m) \[vdso\]$`))
				Expect(got.Stdout).NotTo(ContainSubstring("vsysbed"))
				Expect(got.Stdout).NotTo(ContainSubstring(".cb\n"))
			})

			It("python3 reading its own maps finds its files, [stack], [heap] and [vdso]", func() {
				got := same(mode, "/usr/bin/python3", "-c", pythonMaps)
				Expect(got.Stdout).To(ContainSubstring("['[heap]', '[stack]', '[vdso]']\n"))
			})

			It("stat, statx, open and readlink of /proc/self/exe are the guest's image, in every spelling", func() {
				got := same(mode, procview(), "exe")
				Expect(got.Stdout).NotTo(ContainSubstring("another"))
				Expect(got.Stdout).To(ContainSubstring("stat /proc/self/exe: the image\n"))
				Expect(got.Stdout).To(ContainSubstring("read /proc/self/exe: the image's bytes\n"))
			})

			It("a host fd's /proc link opened with O_TRUNC is ENOENT in every spelling; write, fcntl and ftruncate on it EBADF", func() {
				got := same(mode, procview(), "fds")
				Expect(got.Stdout).To(ContainSubstring("open a symlink to /proc/self/fd/1000 O_TRUNC: ENOENT\n"))
				Expect(got.Stdout).To(ContainSubstring("fcntl(1000, F_SETFL, O_APPEND): EBADF\n"))
				Expect(got.Stdout).To(ContainSubstring("open /dev/stdout: ok\n"))
			})

			// Natively a process may write its own mem (and its child's):
			// here the host's text, heap and control blocks share the
			// address space, so every spelling opens read-only only.
			It("mem opens for reading only, in every spelling, for a fork child too", func() {
				native := run(nil, procview(), "mem")
				Expect(native.Status).To(Equal(0), "%s", native)
				Expect(native.Stdout).NotTo(ContainSubstring("EACCES"))
				Expect(native.Stdout).To(ContainSubstring("whose task/N/mem opens rw: 2\n"))
				want := regexp.MustCompile(`open (rw|wronly): ok[^\n]*`).ReplaceAllString(native.Stdout, "open $1: EACCES")
				want = strings.Replace(want, "openat2 /proc/self/mem rw: ok", "openat2 /proc/self/mem rw: EACCES", 1)
				want = strings.Replace(want, "fork child's victim changed", "fork child's victim unchanged", 1)
				want = strings.Replace(want, "whose task/N/mem opens rw: 2\n", "whose task/N/mem opens rw: 0\n", 1)
				want = strings.Replace(want, "process_vm_writev to the fork child: ok\n", "process_vm_writev to the fork child: EPERM\n", 1)
				got := runVsysbed(nil, reportFlags(mode, filepath.Join(GinkgoT().TempDir(), "R.json")), procview(), "mem")
				expectNoPanic(got)
				Expect(got.Status).To(Equal(0), "%s", got)
				Expect(got.Stdout).To(Equal(want))
			})
		})
	}
})
