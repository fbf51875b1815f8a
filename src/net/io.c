/*
 * Blocking writes to a descriptor that may be a pipe: a signal can cut a
 * write short or interrupt it before any byte went (EINTR), and neither
 * is a failure.  (libuv retries its own calls; this is for stdout.)
 */
#include <errno.h>
#include <unistd.h>

#include "net.h"

int
tnet_write_all(int fd, const void *p, size_t n)
{
	const char *at = p;
	ssize_t w;
	int tries = 0;

	while (n > 0) {
		if ((w = write(fd, at, n)) < 0) {
			/* Bounded: a descriptor that only says EINTR fails. */
			if (errno == EINTR && ++tries < 1000)
				continue;
			return -1;
		}
		at += w;
		n -= (size_t)w;
	}
	return 0;
}
