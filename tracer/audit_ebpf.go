package tracer

// The adapter from the audit package to auditor, kept apart so that the
// tracker and the wiring can be tested with a fake.

import (
	"github.com/vsysbed/vsysbed/bpf"
	"github.com/vsysbed/vsysbed/bpf/audit"
	"github.com/vsysbed/vsysbed/coverage"
)

// ebpfAudit adapts audit.Audit to auditor.
type ebpfAudit struct {
	a     *audit.Audit
	guest audit.GuestCode
}

// startAudit starts auditing tgid with guest code outside hostRanges (all
// of it when there are none).
func startAudit(tgid uint32, hostRanges []bpf.Range) (auditor, error) {
	guest := audit.GuestCodeOutside(hostRanges...)
	a, err := audit.StartAudit(audit.AuditSpec{TGID: tgid, Guest: guest})
	if err != nil {
		return nil, err
	}
	return &ebpfAudit{a: a, guest: guest}, nil
}

func (e *ebpfAudit) Track(tgid uint32) error   { return e.a.Track(tgid, e.guest) }
func (e *ebpfAudit) Untrack(tgid uint32) error { return e.a.Untrack(tgid) }
func (e *ebpfAudit) Close() error              { return e.a.Close() }

func (e *ebpfAudit) Counts() (coverage.AuditInput, error) {
	c, err := e.a.Counts()
	if err != nil {
		return coverage.AuditInput{}, err
	}
	in := coverage.AuditInput{
		Syscalls:     map[uint32]coverage.AuditCount{},
		SitesDropped: c.SitesDropped,
		IPUnreadable: c.IPUnreadable,
	}
	for nr, s := range c.Syscalls {
		in.Syscalls[nr] = coverage.AuditCount{Guest: s.Guest, Host: s.Host}
	}
	for _, s := range c.Sites {
		in.Sites = append(in.Sites, coverage.AuditRawSite{Addr: s.Addr, Nr: s.Nr, Count: s.Count})
	}
	return in, nil
}
