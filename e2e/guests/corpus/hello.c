/* hello - write, uname and the clocks: what every program touches. */
#define _GNU_SOURCE
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "corpus.h"

int main(void)
{
	corpus_name = "hello";
	static const char msg[] = "hello: write(2) to stdout\n";
	errno = 0;
	CHECK(write(1, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1), "write");

	struct utsname u;
	CHECK(uname(&u) == 0, "uname");
	CHECK(strcmp(u.sysname, "Linux") == 0, "uname sysname is Linux");
	CHECK(strcmp(u.machine, "x86_64") == 0, "uname machine is x86_64");

	struct timespec m1, m2, r, res;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &m1) == 0, "clock_gettime MONOTONIC");
	CHECK(clock_gettime(CLOCK_REALTIME, &r) == 0, "clock_gettime REALTIME");
	CHECK(clock_gettime(CLOCK_MONOTONIC, &m2) == 0, "clock_gettime MONOTONIC again");
	CHECK(m2.tv_sec > m1.tv_sec || (m2.tv_sec == m1.tv_sec && m2.tv_nsec >= m1.tv_nsec),
	      "CLOCK_MONOTONIC never goes back");
	CHECK(r.tv_sec > 1600000000, "CLOCK_REALTIME is after 2020");
	CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0,
	      "clock_getres");

	struct timeval tv;
	CHECK(gettimeofday(&tv, NULL) == 0, "gettimeofday");
	CHECK(tv.tv_sec >= r.tv_sec - 1, "gettimeofday agrees with CLOCK_REALTIME");
	time_t t = time(NULL);
	CHECK(t >= r.tv_sec - 1, "time agrees with CLOCK_REALTIME");

	struct timespec nap = {0, 1000000};
	CHECK(nanosleep(&nap, NULL) == 0, "nanosleep");
	CHECK(getpid() > 0, "getpid");
	corpus_ok();
	return 0;
}
