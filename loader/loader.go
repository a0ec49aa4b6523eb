// Package loader maps a guest executable into the current (host) process
// the way Linux's execve maps it into a fresh one — #! scripts, the ELF
// program and its PT_INTERP interpreter, an emulated brk region and the
// initial stack with argv, envp and the auxiliary vector — and reports
// every range it created.
//
// Pure parsing and planning (parseELF, parseShebang, planSegments,
// buildAuxv, layoutStack) are kept apart from the few functions that call
// mmap, so the decisions can be tested without touching memory.
package loader

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// DefaultStackSize is the guest main-thread stack, the usual RLIMIT_STACK.
const DefaultStackSize = 8 << 20

// maxStackSize keeps stack arithmetic far from overflow; no real guest
// asks for more.
const maxStackSize = 1 << 36

// brkSizes are the brk reservations tried, largest first. The reservation
// is PROT_NONE and MAP_NORESERVE, so only address space is spent.
var brkSizes = []uintptr{1 << 30, 256 << 20, 64 << 20, 16 << 20, 4 << 20, 1 << 20, 0}

// Spec says what to execute, as execve(2) would receive it.
type Spec struct {
	Path      string // as given to execve (already resolved through PATH by the caller)
	Argv      []string
	Envp      []string
	VDSOBase  uintptr // AT_SYSINFO_EHDR value (the synthetic vDSO), 0 = omit
	StackSize uintptr // default DefaultStackSize
	// StackRlimit is the RLIMIT_STACK the argument limit derives from
	// (ArgLimit); 0 = this process's own, which is the guest's.
	StackRlimit uint64
}

// Mapping is one address range Load created.
type Mapping struct {
	Start, End uintptr
	Prot       int    // unix.PROT_* bits
	Path       string // file (as /proc/self/maps would name it), "" for anonymous, "[stack]", "[heap]"
	Offset     uint64 // file offset of Start, for file mappings
}

// Image is a loaded guest: where to start it and what it occupies.
type Image struct {
	Path   string   // final executable after #! resolution, resolved like /proc/self/exe
	Interp string   // its PT_INTERP path as written in the file, or ""
	Argv   []string // final argv, after #! rewriting
	Envp   []string
	ExecFn string // AT_EXECFN: the filename given to execve

	Entry     uintptr // first guest instruction: the interpreter's entry if any, else the program's
	ProgEntry uintptr // AT_ENTRY
	Base      uintptr // AT_BASE: the interpreter's load bias, 0 without one
	Phdr      uintptr // AT_PHDR
	Bias      uintptr // the program's load bias (0 for ET_EXEC)

	SP uintptr // initial %rsp, at argc, 16-byte aligned

	StackStart, StackEnd uintptr // the usable stack (without its guard page)
	BrkStart, BrkMax     uintptr // emulated brk: reserved PROT_NONE after the program's image

	Mappings []Mapping  // every range this load created, sorted, non-overlapping
	Auxv     []AuxEntry // exactly what was written on the stack, ending with AT_NULL

	regions []region // reservations to munmap; they cover every mapping
}

type region struct{ start, length uintptr }

// Unmap removes everything Load mapped. It is safe to call twice.
func (im *Image) Unmap() error {
	var first error
	for _, r := range im.regions {
		if err := munmap(r.start, r.length); err != nil && first == nil {
			first = fmt.Errorf("loader: munmap %#x+%#x: %w", r.start, r.length, err)
		}
	}
	im.regions = nil
	return first
}

// Load maps spec.Path (following #! lines) and its interpreter into the
// current process and builds the guest's initial stack. Failures are
// *ExecError with the errno execve would give; nothing stays mapped.
func Load(spec Spec) (*Image, error) {
	if spec.StackSize == 0 {
		spec.StackSize = DefaultStackSize
	}
	if spec.StackSize > maxStackSize {
		return nil, &ExecError{Path: spec.Path, Errno: unix.ENOMEM, Reason: fmt.Sprintf("stack size %d is larger than %d", spec.StackSize, uintptr(maxStackSize))}
	}
	spec.StackSize = uintptr(alignUp(uint64(spec.StackSize)))
	argv := spec.Argv
	if len(argv) == 0 {
		// Linux 5.18+ never starts a program with argc 0: it supplies an
		// empty argv[0], since much code assumes argv[0] exists.
		argv = []string{""}
	}
	im := &Image{ExecFn: spec.Path, Envp: spec.Envp}

	prog, obj, err := resolve(spec.Path, argv, spec.Envp, spec.StackRlimit)
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	im.Argv = prog.argv
	im.Interp = obj.Interp
	im.Path = prog.resolved

	var interp *execFile
	var interpObj *elfObject
	if obj.Interp != "" {
		interp, err = openExec(obj.Interp)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil, &ExecError{Path: prog.name, Errno: unix.ENOENT, Reason: fmt.Sprintf("interpreter %s not found", obj.Interp)}
			}
			return nil, err
		}
		defer interp.Close()
		interpObj, err = parseELF(interp.f, interp.size)
		if err != nil {
			ee := err.(*ExecError)
			ee.Path = obj.Interp
			ee.Reason += " (interpreter of " + prog.name + ")"
			return nil, ee
		}
	}

	ok := false
	defer func() {
		if !ok {
			im.Unmap()
		}
	}()

	bias, brkStart, brkEnd, err := im.mapObject(prog, obj, true)
	if err != nil {
		return nil, err
	}
	im.Bias = bias
	im.BrkStart, im.BrkMax = brkStart, brkEnd
	im.ProgEntry = bias + uintptr(obj.Entry)
	im.Entry = im.ProgEntry
	if obj.HasPhdr {
		im.Phdr = bias + uintptr(obj.PhdrVaddr)
	}
	if interp != nil {
		ibias, _, _, err := im.mapObject(interp, interpObj, false)
		if err != nil {
			return nil, err
		}
		im.Base = ibias
		im.Entry = ibias + uintptr(interpObj.Entry)
	}

	if err := im.buildStack(spec, obj); err != nil {
		return nil, withPath(err, spec.Path)
	}
	ok = true
	return im, nil
}

// resolve follows #! lines from path to an ELF file, rewriting argv as
// binfmt_script does, and returns the open ELF file and its parse. It
// refuses in Linux's order: the file itself (ENOENT, EACCES), then the
// size of the arguments (E2BIG), then each handler's checks; a missing
// interpreter (ENOENT) before a bad segment of the program (ENOEXEC).
func resolve(path string, argv, envp []string, rlimStack uint64) (*execFile, *elfObject, error) {
	script := "" // the script whose #! named path, for error messages
	var space *argSpace
	for depth := 0; ; depth++ {
		f, err := openExec(path)
		if err != nil {
			if script != "" && errors.Is(err, unix.ENOENT) {
				return nil, nil, &ExecError{Path: script, Errno: unix.ENOENT, Reason: fmt.Sprintf("interpreter %s not found", path)}
			}
			return nil, nil, err
		}
		if space == nil {
			if space, err = newArgSpace(path, argv, envp, rlimStack); err != nil {
				f.Close()
				return nil, nil, withPath(err, path)
			}
		}
		head := make([]byte, shebangMax)
		n, _ := f.f.ReadAt(head, 0)
		interp, arg, isScript, err := parseShebang(head[:n])
		if err != nil {
			f.Close()
			return nil, nil, withPath(err, path)
		}
		if !isScript {
			obj, err := parseELF(f.f, f.size)
			if err != nil {
				f.Close()
				if obj != nil && obj.Interp != "" {
					// binfmt_elf opens the interpreter before it looks at
					// the segments.
					if ierr := checkInterp(path, obj.Interp); ierr != nil {
						return nil, nil, ierr
					}
				}
				return nil, nil, withPath(err, path)
			}
			f.argv = argv
			return f, obj, nil
		}
		f.Close()
		if depth >= maxScriptDepth {
			return nil, nil, &ExecError{Path: path, Errno: unix.ELOOP, Reason: fmt.Sprintf("more than %d levels of #! interpreters", maxScriptDepth)}
		}
		if err := space.script(argv[0], path, arg, interp); err != nil {
			return nil, nil, withPath(err, path)
		}
		argv = scriptArgv(interp, arg, path, argv)
		script, path = path, interp
	}
}

// checkInterp is what execve finds wrong with prog's interpreter: missing
// (ENOENT, named after prog), not executable, or not an ELF it can load.
func checkInterp(prog, path string) error {
	interp, err := openExec(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &ExecError{Path: prog, Errno: unix.ENOENT, Reason: fmt.Sprintf("interpreter %s not found", path)}
		}
		return err
	}
	defer interp.Close()
	if _, err := parseELF(interp.f, interp.size); err != nil {
		ee := err.(*ExecError)
		ee.Path = path
		ee.Reason += " (interpreter of " + prog + ")"
		return ee
	}
	return nil
}

// execFile is an open candidate for execution.
type execFile struct {
	f        *os.File
	name     string // as given
	resolved string // as the kernel names it: /proc/self/fd/N's target
	size     int64
	argv     []string
}

func (e *execFile) Close() { e.f.Close() }

// openExec applies the checks execve applies before reading a file:
// it must exist, be a regular file with execute permission, on a mount
// that allows execution.
func openExec(path string) (*execFile, error) {
	fail := func(errno unix.Errno, reason string) (*execFile, error) {
		return nil, &ExecError{Path: path, Errno: errno, Reason: reason}
	}
	if path == "" {
		return fail(unix.ENOENT, "no such file or directory")
	}
	// Linux refuses a file that is not regular before it opens it: an
	// open for reading of a FIFO would wait for a writer (and a device's
	// open can have effects). Look first, then open non-blocking, in case
	// the name changed in between, and check the file opened once more.
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fail(err.(unix.Errno), err.Error())
	}
	if reason := notRegular(st.Mode); reason != "" {
		return fail(unix.EACCES, reason)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fail(err.(unix.Errno), err.Error())
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fail(err.(unix.Errno), err.Error())
	}
	if reason := notRegular(st.Mode); reason != "" {
		unix.Close(fd)
		return fail(unix.EACCES, reason)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return fail(err.(unix.Errno), err.Error())
	}
	f := os.NewFile(uintptr(fd), path)
	// Even root needs one execute bit; faccessat covers the ordinary case.
	if st.Mode&0o111 == 0 || unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS) != nil {
		f.Close()
		return fail(unix.EACCES, "permission denied (not executable)")
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &sfs) == nil && sfs.Flags&unix.ST_NOEXEC != 0 {
		f.Close()
		return fail(unix.EACCES, "permission denied (file system mounted noexec)")
	}
	fdPath := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	resolved, err := os.Readlink(fdPath)
	if err != nil {
		resolved = path
	}
	return &execFile{f: f, name: path, resolved: resolved, size: st.Size}, nil
}

// notRegular says why execve refuses a file of this mode, or "".
func notRegular(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFDIR:
		return "is a directory"
	}
	return "not a regular file"
}

// mapObject reserves obj's span (plus, for the main program, a brk region
// right after it) and maps its segments inside. It returns the load bias
// and the brk range.
func (im *Image) mapObject(ef *execFile, obj *elfObject, withBrk bool) (bias, brkStart, brkEnd uintptr, err error) {
	span := uintptr(obj.MaxVaddr - obj.MinVaddr)
	tails := brkSizes
	if !withBrk {
		tails = []uintptr{0}
	}
	const anon = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE
	var base, tail uintptr
	if obj.Type == etExec {
		base = uintptr(obj.MinVaddr)
		if err := mapFixedNoReplace(base, span, protNone, anon, -1, 0); err != nil {
			reason := fmt.Sprintf("cannot map non-PIE executable at %#x-%#x: %v", base, base+span, err)
			if err == unix.EEXIST {
				reason = fmt.Sprintf("non-PIE executable needs %#x-%#x, which the host process already uses (rebuild the guest as PIE)", base, base+span)
			}
			return 0, 0, 0, &ExecError{Path: ef.name, Errno: err.(unix.Errno), Reason: reason}
		}
		im.regions = append(im.regions, region{base, span})
		for _, t := range tails {
			if t == 0 || mapFixedNoReplace(base+span, t, protNone, anon, -1, 0) == nil {
				tail = t
				break
			}
		}
		if tail != 0 {
			im.regions = append(im.regions, region{base + span, tail})
		}
	} else {
		align := uintptr(obj.Align)
		for _, t := range tails {
			length := span + t + align - pageSize
			addr, e := mmapAnywhere(length, protNone, anon, -1, 0)
			if e != nil {
				err = e
				continue
			}
			base = (addr + align - 1) &^ (align - 1)
			// Give back the slack used only to find an aligned base.
			if base > addr {
				munmap(addr, base-addr)
			}
			if end := addr + length; end > base+span+t {
				munmap(base+span+t, end-(base+span+t))
			}
			tail, err = t, nil
			break
		}
		if err != nil {
			return 0, 0, 0, &ExecError{Path: ef.name, Errno: err.(unix.Errno), Reason: fmt.Sprintf("cannot reserve %#x bytes of address space: %v", span, err)}
		}
		im.regions = append(im.regions, region{base, span + tail})
	}
	bias = base - uintptr(obj.MinVaddr)
	im.Mappings = overlay(im.Mappings, Mapping{Start: base, End: base + span})
	if tail != 0 {
		im.Mappings = overlay(im.Mappings, Mapping{Start: base + span, End: base + span + tail, Path: "[heap]"})
	}

	fd := int(ef.f.Fd())
	for _, p := range planSegments(obj, bias) {
		if err := mapSegment(fd, p); err != nil {
			return 0, 0, 0, &ExecError{Path: ef.name, Errno: errnoOf(err), Reason: fmt.Sprintf("mapping segment at %#x: %v", p.FileAddr|p.AnonStart, err)}
		}
		if p.FileLen != 0 {
			im.Mappings = overlay(im.Mappings, Mapping{Start: p.FileAddr, End: p.FileAddr + p.FileLen, Prot: p.Prot, Path: ef.resolved, Offset: p.FileOff})
		}
		if p.AnonEnd != 0 {
			im.Mappings = overlay(im.Mappings, Mapping{Start: p.AnonStart, End: p.AnonEnd, Prot: p.AnonProt})
		}
	}
	return bias, base + span, base + span + tail, nil
}

func mapSegment(fd int, p segmentPlan) error {
	const fixed = unix.MAP_PRIVATE | unix.MAP_FIXED
	if p.FileLen != 0 {
		if _, err := mmap(p.FileAddr, p.FileLen, p.Prot, fixed, fd, p.FileOff); err != nil {
			return err
		}
	}
	if p.ZeroEnd != 0 && p.Prot&protWrite != 0 {
		// bss begins inside the last file page: those bytes hold whatever
		// follows in the file and must read as zero. Linux (elf_load's
		// padzero) clears them with clear_user and ignores the fault for a
		// segment it cannot write: a read-only or executable segment keeps
		// the file's bytes there, and code that ends one byte past p_filesz
		// still runs.
		clear(memAt(p.ZeroStart, int(p.ZeroEnd-p.ZeroStart)))
	}
	if p.AnonEnd != 0 {
		if _, err := mmap(p.AnonStart, p.AnonEnd-p.AnonStart, p.AnonProt, fixed|unix.MAP_ANONYMOUS, -1, 0); err != nil {
			return err
		}
	}
	return nil
}

// buildStack maps the stack with a guard page below it and writes argv,
// envp and the auxiliary vector.
func (im *Image) buildStack(spec Spec, obj *elfObject) error {
	size := spec.StackSize
	base, err := mmapAnywhere(size+pageSize, protRead|protWrite, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_STACK, -1, 0)
	if err != nil {
		return &ExecError{Errno: errnoOf(err), Reason: fmt.Sprintf("cannot map a %d byte stack: %v", size, err)}
	}
	im.regions = append(im.regions, region{base, size + pageSize})
	if err := mprotect(base, pageSize, protNone); err != nil {
		return &ExecError{Errno: errnoOf(err), Reason: fmt.Sprintf("stack guard page: %v", err)}
	}
	im.StackStart, im.StackEnd = base+pageSize, base+pageSize+size
	stackProt := protRead | protWrite
	if obj.ExecStack {
		stackProt |= protExec
		if err := mprotect(im.StackStart, size, stackProt); err != nil {
			return &ExecError{Errno: errnoOf(err), Reason: fmt.Sprintf("executable stack: %v", err)}
		}
	}
	im.Mappings = overlay(im.Mappings, Mapping{Start: base, End: base + pageSize})
	im.Mappings = overlay(im.Mappings, Mapping{Start: im.StackStart, End: im.StackEnd, Prot: stackProt, Path: "[stack]"})

	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return &ExecError{Errno: unix.EIO, Reason: fmt.Sprintf("AT_RANDOM: %v", err)}
	}
	auxv := buildAuxv(auxvInput{
		VDSOBase:   uint64(spec.VDSOBase),
		Phdr:       uint64(im.Phdr),
		Phnum:      uint64(obj.Phnum),
		InterpBase: uint64(im.Base),
		ProgEntry:  uint64(im.ProgEntry),
	}, hostAuxv())
	lay, err := layoutStack(im.StackEnd, stackArgs{
		Argv: im.Argv, Envp: spec.Envp, ExecFn: spec.Path,
		Random: rnd, Auxv: auxv, Bottom: im.StackStart,
	})
	if err != nil {
		return err
	}
	copy(memAt(lay.SP, len(lay.Bytes)), lay.Bytes)
	im.SP, im.Auxv = lay.SP, lay.Auxv
	return nil
}

func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}
