/* corpus.h - what every corpus guest shares: a check that names the
 * failed step and exits non-zero, and the final "OK <name>" line the
 * e2e suite looks for. */
#ifndef CORPUS_H
#define CORPUS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *corpus_name = "corpus";

/* CHECK stops the guest at the first failure, with errno's text: a guest
 * that limps on would hide which syscall went wrong. */
#define CHECK(cond, what) do { \
	if (!(cond)) { \
		int e_ = errno; \
		fprintf(stderr, "FAIL %s: %s (%s:%d): %s\n", corpus_name, (what), \
			__FILE__, __LINE__, e_ ? strerror(e_) : "no errno"); \
		exit(1); \
	} \
} while (0)

static void corpus_ok(void)
{
	printf("OK %s\n", corpus_name);
	fflush(stdout);
}

#endif
