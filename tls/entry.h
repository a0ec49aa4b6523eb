/* entry.h — C entry points shared by entry.c, entry.S and the cgo side. */
#ifndef VSYSBED_ENTRY_H
#define VSYSBED_ENTRY_H
#include <stdint.h>
#include "cb.h"

/* Routes the C side knows; every other route is Go's business.
 * ROUTE_CHECKED: a guarded call the C entry runs itself when its
 * arguments need nothing of kernelsim's handler (entry.c's checked_call),
 * else the kernel route. */
#define ROUTE_FAST 0
#define ROUTE_KERNEL 1
#define ROUTE_CHECKED 2

extern uint8_t vsysbed_routes[CB_NR_MAX];

/*
 * The host's fds do not exist for the guest. vsysbed_fdargs[nr] says which
 * arguments of syscall nr are fd numbers (bits 0-5: a1..a6) and whether its
 * result is a new fd (FD_RESULT; FD_RESULT_DUPFD: only for fcntl's
 * F_DUPFD/F_DUPFD_CLOEXEC). Every fd at or above vsysbed_hostfd_base is
 * the host's unless the guest made it (a result, a dup2 target), which
 * vsysbed_guest_high records for [base, base + GUEST_HIGH_FDS); numbers
 * above that span are the guest's (the host allocates the lowest free
 * numbers from its base and holds far fewer). Filled by Go.
 */
#define FD_ARGS_MASK 0x3f
#define FD_RESULT 0x40
#define FD_RESULT_DUPFD 0x80
#define GUEST_HIGH_FDS 65536
extern uint8_t vsysbed_fdargs[CB_NR_MAX];
extern int32_t vsysbed_hostfd_base;
extern uint64_t vsysbed_guest_high[GUEST_HIGH_FDS / 64];
int vsysbed_is_host_fd(int32_t fd);

/*
 * Timed calls (sleeps, poll, epoll_wait): the fast route notes when they
 * began (cb->call_start), so that kernelsim can restart one a host signal
 * interrupted for nothing with what is left of its timeout. The clock is
 * the host vDSO's clock_gettime (no TLS), or the syscall without it.
 */
extern uint8_t vsysbed_timed[CB_NR_MAX];
extern void *vsysbed_host_clock_gettime;
void vsysbed_set_host_clock(uintptr_t addr);
void vsysbed_mark_guest_fd(int32_t fd, int guest);
extern int32_t vsysbed_fd_high;
void vsysbed_raise_fd_high(int32_t fd);
void vsysbed_mark_signalfd(int32_t fd, int on);
void vsysbed_go_siginfo(int sig, void *out);
uint64_t vsysbed_go_seen(int sig);
void vsysbed_set_relay_tid(int32_t tid);
void vsysbed_set_exe_ino(uint64_t ino);
void vsysbed_set_proc_dev(uint64_t dev);
int vsysbed_checked_call(long nr, const long a[6], long *ret);
void vsysbed_count(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind);
/* count_timed() and timing_end() around spin iterations of a loop, for
 * tls's TestTimingAccumulates: the entry's timing without a guest. */
void vsysbed_timed_count(struct vsysbed_cb *cb, uint64_t nr, uint64_t site, uint32_t kind, uint32_t col, int spin);
int vsysbed_is_host_command(const char *arg);

/*
 * The host signal kernelsim sends a guest thread to make it look at a
 * pending guest signal (one of the real-time signals glibc leaves free).
 */
#define VSYSBED_KICK_SIG 62

/*
 * The standard signals a host process takes on its guest threads only,
 * through the relay, never through os/signal: blocked on every one of
 * Go's threads from the first (tls/inherit.c) and relayed on a guest
 * thread even inside kernelsim. The job-control signals, so that they are
 * taken in the order they came; and the ones the supervisor forwards, so
 * that each copy keeps its own siginfo: os/signal passes on the number
 * only, and a signal sent to the group reaches a host process twice at
 * once (directly and forwarded), which kernelsim tells apart by their
 * siginfos (kernelsim/jobctl.go). Bit sig-1.
 */
#define VSYSBED_SIGBIT(s) (1ull << ((s) - 1))
#define VSYSBED_RELAY_ONLY                                                                          \
	(VSYSBED_SIGBIT(SIGTSTP) | VSYSBED_SIGBIT(SIGTTIN) | VSYSBED_SIGBIT(SIGTTOU) |                  \
	 VSYSBED_SIGBIT(SIGCONT) | VSYSBED_SIGBIT(SIGHUP) | VSYSBED_SIGBIT(SIGINT) |                    \
	 VSYSBED_SIGBIT(SIGQUIT) | VSYSBED_SIGBIT(SIGUSR1) | VSYSBED_SIGBIT(SIGUSR2) |                  \
	 VSYSBED_SIGBIT(SIGTERM))

/* Guest signal dispositions the C handlers act on. */
#define GUEST_SIG_DEFAULT 0
#define GUEST_SIG_IGNORE 1
#define GUEST_SIG_HANDLER 2
extern uint8_t vsysbed_guest_disposition[65];

/* Go's CPU profiler is on (--cpuprofile): SIGPROF is Go's, not the guest's. */
extern int vsysbed_go_profiling;
/* The signal state this process was started with (inherit.c). */
extern uint64_t vsysbed_start_ignored;
extern uint64_t vsysbed_start_mask;
extern int vsysbed_start_recorded;
extern int vsysbed_gosigtab_patched;
extern int vsysbed_relay_blocked;
int vsysbed_gosigtab_blockable(uint64_t sigs, int check);
extern int vsysbed_start_stdio_closed;

int vsysbed_install_handlers(void);
int vsysbed_child_autoreap(int on);
/* vsysbed's own failure (internal/exitstatus.Failed, checked by a test). */
#define VSYSBED_EXIT_FAILED 125
long vsysbed_run(struct vsysbed_cb *cb, int ready_fd);
uint64_t vsysbed_bypass_address(void);
uint64_t vsysbed_patched_entry_address(void);
extern int vsysbed_rewrite;
/* --timing=off clears it: no call is timed (entry.c, timing_begin). */
extern int vsysbed_timing;
uint64_t vsysbed_rdtsc(void);
int vsysbed_poke_add(uint64_t head, uint64_t stub);
void vsysbed_poke_reset(void);
uint64_t vsysbed_region_start_address(void);
uint64_t vsysbed_region_end_address(void);
uint64_t vsysbed_xsave_features(uint32_t *size);
void vsysbed_die_by_signal(int sig);
int vsysbed_stop_by_signal(int sig);
long vsysbed_raw_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
#endif
