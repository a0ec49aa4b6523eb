package tls

/*
#include <signal.h>
#include <stddef.h>
#include "cb.h"
#include "entry.h"

static const long c_offsets[] = {
	offsetof(struct vsysbed_cb, self), CB_OFF_SELF,
	offsetof(struct vsysbed_cb, magic), CB_OFF_MAGIC,
	offsetof(struct vsysbed_cb, state), CB_OFF_STATE,
	offsetof(struct vsysbed_cb, host_fs), CB_OFF_HOST_FS,
	offsetof(struct vsysbed_cb, guest_fs), CB_OFF_GUEST_FS,
	offsetof(struct vsysbed_cb, host_sp), CB_OFF_HOST_SP,
	offsetof(struct vsysbed_cb, guest_sp), CB_OFF_GUEST_SP,
	offsetof(struct vsysbed_cb, host_ctx), CB_OFF_HOST_CTX,
	offsetof(struct vsysbed_cb, nr), CB_OFF_NR,
	offsetof(struct vsysbed_cb, args), CB_OFF_ARGS,
	offsetof(struct vsysbed_cb, ret), CB_OFF_RET,
	offsetof(struct vsysbed_cb, site), CB_OFF_SITE,
	offsetof(struct vsysbed_cb, kind), CB_OFF_KIND,
	offsetof(struct vsysbed_cb, flags), CB_OFF_FLAGS,
	offsetof(struct vsysbed_cb, selector), CB_OFF_SELECTOR,
	offsetof(struct vsysbed_cb, trap_mode), CB_OFF_TRAP_MODE,
	offsetof(struct vsysbed_cb, xsave_mask), CB_OFF_XSAVE_MASK,
	offsetof(struct vsysbed_cb, tid), CB_OFF_TID,
	offsetof(struct vsysbed_cb, sigpending), CB_OFF_SIGPENDING,
	offsetof(struct vsysbed_cb, fault_sig), CB_OFF_FAULT_SIG,
	offsetof(struct vsysbed_cb, fault_addr), CB_OFF_FAULT_ADDR,
	offsetof(struct vsysbed_cb, fault_code), CB_OFF_FAULT_CODE,
	offsetof(struct vsysbed_cb, pid), CB_OFF_PID,
	offsetof(struct vsysbed_cb, hostsig), CB_OFF_HOSTSIG,
	offsetof(struct vsysbed_cb, threads), CB_OFF_THREADS,
	offsetof(struct vsysbed_cb, call_start), CB_OFF_CALL_START,
	offsetof(struct vsysbed_cb, call_req), CB_OFF_CALL_REQ,
	offsetof(struct vsysbed_cb, call_req_ok), CB_OFF_CALL_REQ_OK,
	offsetof(struct vsysbed_cb, trap), CB_OFF_TRAP,
	offsetof(struct vsysbed_cb, exit), CB_OFF_EXIT,
	offsetof(struct vsysbed_cb, counts), CB_OFF_COUNTS,
	offsetof(struct vsysbed_cb, sites), CB_OFF_SITES,
	offsetof(struct vsysbed_cb, xsave), CB_OFF_XSAVE,
	offsetof(struct vsysbed_cb, hostinfo), CB_OFF_HOSTINFO,
	offsetof(struct vsysbed_cb, errors), CB_OFF_ERRORS,
	offsetof(struct vsysbed_cb, patched_entry), CB_OFF_PATCHED_ENTRY,
	offsetof(struct vsysbed_cb, patched), CB_OFF_PATCHED,
	offsetof(struct vsysbed_cb, t_start), CB_OFF_T_START,
	offsetof(struct vsysbed_cb, t_trap), CB_OFF_T_TRAP,
	offsetof(struct vsysbed_cb, cycles), CB_OFF_CYCLES,
	offsetof(struct vsysbed_cb, site_cycles), CB_OFF_SITE_CYCLES,
	offsetof(struct vsysbed_cb, trap.rip), CB_OFF_TRAP + REGS_RIP,
	offsetof(struct vsysbed_cb, trap.rflags), CB_OFF_TRAP + REGS_RFLAGS,
	offsetof(struct vsysbed_cb, trap.r15), CB_OFF_TRAP + REGS_R15,
	offsetof(struct vsysbed_cb, exit.sites_dropped), CB_OFF_EXIT + 32,
};
static long c_offset(int i) { return c_offsets[i]; }

// The constants cb.h and entry.h share with tls/cblock, in constChecks' order.
static const unsigned long long c_consts[] = {
	CB_MAGIC, CB_VERSION, CB_SIZE, CB_NR_MAX, CB_KINDS,
	CB_KIND_BYPASS, CB_KIND_TRAP, CB_KIND_VDSO, CB_KIND_INT80, CB_KIND_PATCHED, CB_SITE_KINDS,
	CB_SITES, CB_TIME_KINDS, CB_TIME_BYPASS, CB_TIME_TRAP, CB_TIME_PATCHED, CB_TIME_SAMPLE,
	CB_STATE_HOST, CB_STATE_GUEST, CB_STATE_KERNEL, CB_STATE_ENTRY,
	CB_TRAP_SECCOMP, CB_TRAP_SUD,
	CB_FLAG_LEAVE, CB_FLAG_FSGSBASE, CB_FLAG_RESUME, CB_FLAG_DONE, CB_FLAG_VFORK, CB_FLAG_RESTARTED, CB_FLAG_PATCHED, CB_FLAG_LAZYFP,
	(unsigned long long)CB_NR_INTERRUPT, (unsigned long long)CB_NR_RETURN, (unsigned long long)CB_NR_PATCH,
	CB_OFF_COUNTS, CB_OFF_SITES, CB_OFF_XSAVE, CB_XSAVE_MAX, CB_OFF_HOSTINFO, CB_OFF_ERRORS, CB_OFF_PATCHED, CB_OFF_PATCHED_ENTRY,
	CB_OFF_CYCLES, CB_OFF_SITE_CYCLES,
	FD_ARGS_MASK, FD_RESULT, FD_RESULT_DUPFD, GUEST_HIGH_FDS,
	GUEST_SIG_DEFAULT, GUEST_SIG_IGNORE, GUEST_SIG_HANDLER,
	VSYSBED_KICK_SIG, VSYSBED_RELAY_ONLY,
};
static unsigned long long c_const(int i) { return c_consts[i]; }
static int c_nconsts(void) { return sizeof c_consts / sizeof c_consts[0]; }
static long c_size(void) { return sizeof(struct vsysbed_cb); }
*/
import "C"

import (
	"unsafe"

	"github.com/vsysbed/vsysbed/tls/cblock"
)

type offsetCheck struct {
	name        string
	goOff, cOff int
}

// offsetChecks pairs each Go field offset with C's offsetof and with the
// CB_OFF_* constant the assembly uses (both must agree with Go).
func offsetChecks() []offsetCheck {
	var cb ControlBlock
	goOffs := []struct {
		name string
		off  uintptr
	}{
		{"self", unsafe.Offsetof(cb.Self)},
		{"magic", unsafe.Offsetof(cb.Magic)},
		{"state", unsafe.Offsetof(cb.State)},
		{"host_fs", unsafe.Offsetof(cb.HostFS)},
		{"guest_fs", unsafe.Offsetof(cb.GuestFS)},
		{"host_sp", unsafe.Offsetof(cb.HostSP)},
		{"guest_sp", unsafe.Offsetof(cb.GuestSP)},
		{"host_ctx", unsafe.Offsetof(cb.HostCtx)},
		{"nr", unsafe.Offsetof(cb.Nr)},
		{"args", unsafe.Offsetof(cb.Args)},
		{"ret", unsafe.Offsetof(cb.Ret)},
		{"site", unsafe.Offsetof(cb.Site)},
		{"kind", unsafe.Offsetof(cb.Kind)},
		{"flags", unsafe.Offsetof(cb.Flags)},
		{"selector", unsafe.Offsetof(cb.Selector)},
		{"trap_mode", unsafe.Offsetof(cb.TrapMode)},
		{"xsave_mask", unsafe.Offsetof(cb.XsaveMask)},
		{"tid", unsafe.Offsetof(cb.Tid)},
		{"sigpending", unsafe.Offsetof(cb.SigPending)},
		{"fault_sig", unsafe.Offsetof(cb.FaultSig)},
		{"fault_addr", unsafe.Offsetof(cb.FaultAddr)},
		{"fault_code", unsafe.Offsetof(cb.FaultCode)},
		{"pid", unsafe.Offsetof(cb.Pid)},
		{"hostsig", unsafe.Offsetof(cb.HostSig)},
		{"threads", unsafe.Offsetof(cb.Threads)},
		{"call_start", unsafe.Offsetof(cb.CallStart)},
		{"call_req", unsafe.Offsetof(cb.CallReq)},
		{"call_req_ok", unsafe.Offsetof(cb.CallReqOK)},
		{"trap", unsafe.Offsetof(cb.Trap)},
		{"exit", unsafe.Offsetof(cb.Exit)},
		{"counts", unsafe.Offsetof(cb.Counts)},
		{"sites", unsafe.Offsetof(cb.Sites)},
		{"xsave", unsafe.Offsetof(cb.Xsave)},
		{"hostinfo", unsafe.Offsetof(cb.HostInfo)},
		{"errors", unsafe.Offsetof(cb.Errors)},
		{"patched_entry", unsafe.Offsetof(cb.PatchedEntry)},
		{"patched", unsafe.Offsetof(cb.Patched)},
		{"t_start", unsafe.Offsetof(cb.TStart)},
		{"t_trap", unsafe.Offsetof(cb.TTrap)},
		{"cycles", unsafe.Offsetof(cb.Cycles)},
		{"site_cycles", unsafe.Offsetof(cb.SiteCycles)},
		{"trap.rip", unsafe.Offsetof(cb.Trap) + unsafe.Offsetof(cb.Trap.Rip)},
		{"trap.rflags", unsafe.Offsetof(cb.Trap) + unsafe.Offsetof(cb.Trap.Rflags)},
		{"trap.r15", unsafe.Offsetof(cb.Trap) + unsafe.Offsetof(cb.Trap.R15)},
		{"exit.sites_dropped", unsafe.Offsetof(cb.Exit) + unsafe.Offsetof(cb.Exit.SitesDropped)},
	}
	var out []offsetCheck
	for i, g := range goOffs {
		offC := int(C.c_offset(C.int(2 * i)))
		constC := int(C.c_offset(C.int(2*i + 1)))
		out = append(out, offsetCheck{g.name + " (offsetof)", int(g.off), offC})
		out = append(out, offsetCheck{g.name + " (CB_OFF_*)", int(g.off), constC})
	}
	return out
}

func cSize() int { return int(C.c_size()) }

// cTimedCount is one call counted and timed by entry.c (count_timed,
// timing_end) around spin iterations of an empty loop.
func cTimedCount(cb *ControlBlock, nr, site uint64, kind, col uint32, spin int) {
	C.vsysbed_timed_count((*C.struct_vsysbed_cb)(unsafe.Pointer(cb)), C.uint64_t(nr), C.uint64_t(site), C.uint32_t(kind), C.uint32_t(col), C.int(spin))
}

// cCount is entry.c's count(), which Count mirrors.
func cCount(cb *ControlBlock, nr, site uint64, kind uint32) {
	C.vsysbed_count((*C.struct_vsysbed_cb)(unsafe.Pointer(cb)), C.uint64_t(nr), C.uint64_t(site), C.uint32_t(kind))
}

type constCheck struct {
	name        string
	goVal, cVal uint64
}

// constChecks pairs each constant tls/cblock mirrors with cb.h's or entry.h's.
func constChecks() []constCheck {
	goVals := []struct {
		name string
		v    uint64
	}{
		{"Magic", Magic}, {"Version", Version}, {"Size", Size}, {"NrMax", NrMax}, {"Kinds", Kinds},
		{"KindBypass", KindBypass}, {"KindTrap", KindTrap}, {"KindVDSO", KindVDSO}, {"KindInt80", KindInt80}, {"KindPatched", KindPatched}, {"SiteKinds", SiteKinds},
		{"NumSites", NumSites}, {"TimeKinds", TimeKinds}, {"TimeBypass", TimeBypass}, {"TimeTrap", TimeTrap}, {"TimePatched", TimePatched}, {"TimeSample", TimeSample},
		{"StateHost", StateHost}, {"StateGuest", StateGuest}, {"StateKernel", StateKernel}, {"StateEntry", StateEntry},
		{"TrapSeccomp", TrapSeccomp}, {"TrapSUD", TrapSUD},
		{"FlagLeave", FlagLeave}, {"FlagFSGSBASE", FlagFSGSBASE}, {"FlagResume", FlagResume}, {"FlagDone", FlagDone}, {"FlagVfork", FlagVfork}, {"FlagRestarted", FlagRestarted}, {"FlagPatched", FlagPatched}, {"FlagLazyFP", FlagLazyFP},
		{"NrInterrupt", NrInterrupt}, {"NrReturn", NrReturn}, {"NrPatch", NrPatch},
		{"OffCounts", OffCounts}, {"OffSites", OffSites}, {"OffXsave", OffXsave}, {"XsaveMax", XsaveMax}, {"OffHostInfo", OffHostInfo}, {"OffErrors", OffErrors}, {"OffPatched", OffPatched}, {"OffPatchedEntry", OffPatchedEntry},
		{"OffCycles", OffCycles}, {"OffSiteCycles", OffSiteCycles},
		{"FDArgsMask", cblock.FDArgsMask}, {"FDResult", cblock.FDResult}, {"FDResultDupfd", cblock.FDResultDupfd}, {"GuestHighFDs", cblock.GuestHighFDs},
		{"DispositionDefault", cblock.DispositionDefault}, {"DispositionIgnore", cblock.DispositionIgnore}, {"DispositionHandler", cblock.DispositionHandler},
		{"KickSignal", cblock.KickSignal}, {"RelayOnlyMask", cblock.RelayOnlyMask},
	}
	if int(C.c_nconsts()) != len(goVals) {
		panic("tls: c_consts and constChecks list different constants")
	}
	out := make([]constCheck, len(goVals))
	for i, g := range goVals {
		out[i] = constCheck{g.name, g.v, uint64(C.c_const(C.int(i)))}
	}
	return out
}
