package tls

import "github.com/vsysbed/vsysbed/tls/cblock"

// The site table's hash and probe in Go live in tls/cblock (Count), pure
// Go, so that the ptrace platform counts without linking this package's C;
// TestCountMatchesC runs the same calls through it and entry.c's count().

const siteProbes = cblock.SiteProbes

func siteIndex(site, nr uint64, kind uint32) uint32 { return cblock.SiteIndex(site, nr, kind) }

// Count is cblock.Count.
func Count(cb *ControlBlock, nr, site uint64, kind uint32) { cblock.Count(cb, nr, site, kind) }
