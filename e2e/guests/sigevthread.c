/*
 * timer_create with SIGEV_THREAD: the libc runs the callback on a thread
 * of its own when the timer's signal arrives (glibc: a helper thread in
 * sigwaitinfo on SIGTIMER, then a new thread per expiry; musl: one thread
 * waiting in sigtimedwait). Under vsysbed that signal is a host signal
 * relayed to the guest thread the kernel picked (SIGEV_THREAD_ID).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static atomic_int fired;
static atomic_int value_ok = 1;

static void on_expiry(union sigval v)
{
	if (v.sival_int != 42)
		atomic_store(&value_ok, 0);
	atomic_fetch_add(&fired, 1);
}

int main(void)
{
	struct sigevent sev = {0};
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = on_expiry;
	sev.sigev_value.sival_int = 42;
	timer_t t;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0) {
		perror("FAIL sigevthread: timer_create");
		return 1;
	}
	struct itimerspec its = {{0, 10 * 1000 * 1000}, {0, 10 * 1000 * 1000}};
	if (timer_settime(t, 0, &its, NULL) != 0) {
		perror("FAIL sigevthread: timer_settime");
		return 1;
	}
	/* Up to 10 s for three expiries: generous for a loaded machine. */
	for (int i = 0; i < 1000 && atomic_load(&fired) < 3; i++)
		usleep(10 * 1000);
	timer_delete(t);
	if (atomic_load(&fired) < 3) {
		fprintf(stderr, "FAIL sigevthread: %d expiries in 10 s\n", atomic_load(&fired));
		return 1;
	}
	if (!atomic_load(&value_ok)) {
		fprintf(stderr, "FAIL sigevthread: the callback saw a wrong sigev_value\n");
		return 1;
	}
	puts("OK sigevthread");
	return 0;
}
