/* entry.h — C entry points shared by entry.c, entry.S and the cgo side. */
#ifndef VSYSBED_ENTRY_H
#define VSYSBED_ENTRY_H
#include <stdint.h>
#include "cb.h"

/* Routes the C side knows; every other route is Go's business. */
#define ROUTE_FAST 0
#define ROUTE_KERNEL 1

extern uint8_t vsysbed_routes[CB_NR_MAX];

/*
 * The host signal kernelsim sends a guest thread to make it look at a
 * pending guest signal (one of the real-time signals glibc leaves free).
 */
#define VSYSBED_KICK_SIG 62

/* Guest signal dispositions the C handlers act on. */
#define GUEST_SIG_DEFAULT 0
#define GUEST_SIG_IGNORE 1
#define GUEST_SIG_HANDLER 2
extern uint8_t vsysbed_guest_disposition[65];

/* The signal state this process was started with (inherit.c). */
extern uint64_t vsysbed_start_ignored;
extern uint64_t vsysbed_start_mask;
extern int vsysbed_start_recorded;
extern int vsysbed_start_stdio_closed;

int vsysbed_install_handlers(void);
int vsysbed_child_autoreap(int on);
long vsysbed_run(struct vsysbed_cb *cb);
uint64_t vsysbed_bypass_address(void);
uint64_t vsysbed_region_start_address(void);
uint64_t vsysbed_region_end_address(void);
uint64_t vsysbed_xsave_features(uint32_t *size);
void vsysbed_die_by_signal(int sig);
long vsysbed_raw_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
#endif
