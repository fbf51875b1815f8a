/*
 * The wall clock the core is given.  TRIPKI_CLOCK_OFFSET_MS shifts it, so
 * tests can run a peer whose clock is off without faking the system time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "net.h"

static int64_t clock_offset_ms;

int
tnet_clock_init(char *err, size_t errlen)
{
	const char *s = getenv("TRIPKI_CLOCK_OFFSET_MS");
	char *end;
	long long v;

	clock_offset_ms = 0;
	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	/* More than ten years either way is a typo, not a test. */
	if (errno != 0 || *end != '\0' || v > 315360000000LL ||
	    v < -315360000000LL) {
		snprintf(err, errlen, "TRIPKI_CLOCK_OFFSET_MS=\"%s\" is not "
		    "a number of milliseconds", s);
		return -1;
	}
	clock_offset_ms = v;
	return 0;
}

int64_t
tnet_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    clock_offset_ms;
}

uint64_t
tnet_backoff_ms(unsigned n)
{
	uint64_t base = 100;
	unsigned i;

	for (i = 1; i < n && base < 5000; i++)
		base *= 2;
	if (base > 5000)
		base = 5000;
	/* Jitter keeps many peers that lost one CA from knocking in step. */
	return base * 3 / 4 + (uint64_t)(rand() % (int)(base / 2 + 1));
}
