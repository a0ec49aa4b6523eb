package cblock

// The site table's hash and probe, in Go: entry.c's count() is the one the
// in-process platform runs (from C, on the trap and bypass paths, with no
// Go to call); the ptrace platform counts with Count. tls's
// TestCountMatchesC runs the same calls through both and compares the
// blocks byte for byte.

const (
	// siteHashMul is the multiplier of the (site, nr, kind) hash
	// (Fibonacci hashing: 2^64 / φ), as in entry.c.
	siteHashMul = 0x9E3779B97F4A7C15
	// SiteProbes is how many slots from the hashed one a call may take
	// before it is counted in Exit.SitesDropped instead.
	SiteProbes = 32
)

// SiteIndex is the slot of the site table the probe for (site, nr, kind)
// starts at: the top 12 bits of the hash, one of NumSites.
func SiteIndex(site, nr uint64, kind uint32) uint32 {
	h := (site ^ (nr << 48) ^ (uint64(kind) << 60)) * siteHashMul
	return uint32(h >> 52)
}

// Count records one call in cb as entry.c's count() does: by number and
// kind (a number from NrMax up, or a kind from Kinds up, by site only;
// KindPatched by number in Patched),
// and by (site, nr, kind) in the open-addressed site table, linearly
// probed, wrapping at NumSites; a call that finds neither its entry nor
// a free slot within SiteProbes slots adds to Exit.SitesDropped.
func Count(cb *ControlBlock, nr, site uint64, kind uint32) {
	if nr < NrMax && kind < Kinds {
		cb.Counts[nr][kind]++
	} else if nr < NrMax && kind == KindPatched {
		cb.Patched[nr]++
	}
	idx := SiteIndex(site, nr, kind)
	for probe := uint32(0); probe < SiteProbes; probe++ {
		s := &cb.Sites[(idx+probe)&(NumSites-1)]
		if s.Count == 0 {
			s.Addr, s.Nr, s.Kind, s.Count = site, uint32(nr), kind, 1
			return
		}
		if s.Addr == site && s.Nr == uint32(nr) && s.Kind == kind {
			s.Count++
			return
		}
	}
	cb.Exit.SitesDropped++
}
