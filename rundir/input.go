package rundir

import (
	"errors"
	"math/bits"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/vsysbed/vsysbed/coverage"
	"github.com/vsysbed/vsysbed/tls/cblock"
	"github.com/vsysbed/vsysbed/vdsoinject"
)

// ReadInput reads what a run left in run directory dir as the report's
// input: every shard (in name order; a never initialised one is dropped,
// one that cannot be read is listed in ShardErrors), the event log (a
// malformed line other than a crash's last one in EventsError), and this
// build's vDSO image, which the host processes mapped. The caller adds
// what the supervisor saw (Command, Host, ...). An error is a directory
// or log that could not be read at all.
func ReadInput(dir string) (coverage.Input, error) {
	var in coverage.Input
	paths, err := filepath.Glob(filepath.Join(dir, ShardPattern))
	if err != nil {
		return in, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		sd, err := ReadShard(p)
		switch {
		case errors.Is(err, ErrEmptyShard):
		case err != nil:
			in.ShardErrors = append(in.ShardErrors, err)
		default:
			in.Shards = append(in.Shards, sd.Plain())
		}
	}
	in.Events, err = ReadEvents(filepath.Join(dir, EventsFile))
	var syn *EventSyntaxError
	if errors.As(err, &syn) {
		in.EventsError, err = err, nil
	}
	if err != nil {
		return in, err
	}
	in.VDSOImage = VDSOImage()
	return in, nil
}

// VDSOImage is the synthetic vDSO this build maps into every host process
// (vdsoinject.Build), built once: the report names the sites in it.
var VDSOImage = sync.OnceValue(func() []byte {
	im, err := vdsoinject.Build()
	if err != nil {
		return nil
	}
	return im.Data
})

// kindNames are the report's names of tls's entry kinds.
var kindNames = [cblock.SiteKinds]string{
	cblock.KindBypass:  coverage.KindBypass,
	cblock.KindTrap:    coverage.KindTrap,
	cblock.KindVDSO:    coverage.KindVDSO,
	cblock.KindInt80:   coverage.KindInt80,
	cblock.KindPatched: coverage.KindPatched,
}

// Plain is what the block counted, as the report reads it. Calls the
// counts table has no slot for are counted in the site table only: numbers
// outside the x86-64 table (syscall(-1), x32, 512 and up), every one
// answered -ENOSYS by entry.c and so an error, and i386 calls (int $0x80),
// whose numbers are another table's.
func (sd *ShardData) Plain() coverage.Shard {
	sh := coverage.Shard{
		Pid:          int(sd.Pid),
		Threads:      int(max(sd.Threads, 1)),
		TrapMode:     "seccomp",
		SitesDropped: sd.Exit.SitesDropped,
	}
	if sd.TrapMode == cblock.TrapSUD {
		sh.TrapMode = "sud"
	}
	for nr := range sd.Counts {
		c := sd.Counts[nr]
		row := coverage.SyscallRow{Nr: nr, Bypass: c[cblock.KindBypass], Trap: c[cblock.KindTrap], VDSO: c[cblock.KindVDSO],
			Patched: sd.Patched[nr], Errors: uint64(sd.Errors[nr])}
		if row.Bypass+row.Trap+row.VDSO+row.Patched > 0 {
			sh.Syscalls = append(sh.Syscalls, row)
		}
	}
	cycles := sd.Cycles // the calls without a site slot, then every site's
	for i, s := range sd.Sites {
		kind := kindNames[s.Kind] // ReadShard checked the range
		sh.Sites = append(sh.Sites, coverage.Site{Address: coverage.Hex(s.Addr), Nr: int(s.Nr), Kind: kind, Count: s.Count})
		if i < len(sd.SiteCycles) {
			c := siteCycles(sd.SiteCycles[i], s.Count, s.Kind)
			sh.SiteCycles = append(sh.SiteCycles, c)
			if col, ok := timeColumn(s.Kind); ok && s.Nr < cblock.NrMax {
				cycles[s.Nr][col] += c
			}
		}
		if s.Nr < cblock.NrMax && (s.Kind < cblock.Kinds || s.Kind == cblock.KindPatched) {
			continue
		}
		row := coverage.SyscallRow{Nr: int(s.Nr)}
		switch s.Kind {
		case cblock.KindInt80:
			row.Int80 = s.Count
		case cblock.KindBypass:
			row.Bypass, row.Errors = s.Count, s.Count
		case cblock.KindTrap:
			row.Trap, row.Errors = s.Count, s.Count
		case cblock.KindVDSO:
			row.VDSO, row.Errors = s.Count, s.Count
		}
		sh.Syscalls = append(sh.Syscalls, row)
	}
	for nr, y := range cycles {
		if y != [cblock.TimeKinds]uint64{} {
			sh.Cycles = append(sh.Cycles, coverage.CycleRow{Nr: nr,
				Bypass: y[cblock.TimeBypass], Trap: y[cblock.TimeTrap], Patched: y[cblock.TimePatched]})
		}
	}
	if sd.Exit.Done != 0 {
		sh.Exit = &coverage.ExitStatus{
			Code:      int(sd.Exit.Code),
			Signal:    coverage.SignalName(syscall.Signal(sd.Exit.Signal)),
			FaultAddr: coverage.Hex(sd.Exit.FaultAddr),
			FaultRIP:  coverage.Hex(sd.Exit.FaultRip),
		}
	}
	return sh
}

// siteCycles is the cycles of all count calls of a site of kind, from
// those of its timed calls (cblock.TimedCalls: a bypass or patched site's
// 1st, 9th, 17th... call; every trap): scaled by count / timed.
func siteCycles(timed, count uint64, kind uint32) uint64 {
	n := cblock.TimedCalls(count, kind)
	if n == 0 || n == count {
		return timed
	}
	hi, lo := bits.Mul64(timed, count)
	if hi >= n {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, n)
	return q
}

// timeColumn is the Cycles column of a site kind, if its calls are timed.
func timeColumn(kind uint32) (int, bool) {
	switch kind {
	case cblock.KindBypass:
		return cblock.TimeBypass, true
	case cblock.KindTrap:
		return cblock.TimeTrap, true
	case cblock.KindPatched:
		return cblock.TimePatched, true
	}
	return 0, false
}
