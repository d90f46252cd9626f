/* The daemon's clock in seconds, which counts a suspend of the machine: what every timer of the daemon counts in. */
#ifndef EXTEND_SYNCD_CLOCK_H
#define EXTEND_SYNCD_CLOCK_H

#include <time.h>

/*
 * CLOCK_BOOTTIME where there is one: monotonic like CLOCK_MONOTONIC, but it
 * goes on while the machine is suspended, as the database's and the API's
 * clocks do.  The budget needs it: a share is valid until a time that the
 * other daemons count on the database's clock, and a daemon resumed from a
 * suspend must find its share over, not the rest of it still to spend
 * while the others took it over.  Every other timer counts in it too, so
 * that any two of the daemon's times compare (the fetcher's window and the
 * share's end, a lease and a claim): after a suspend a back-off, a poll or
 * a server's Retry-After is over as it is for the rest of the world, a
 * database call waiting since before it is abandoned (its connection is
 * likely dead), and --timeout counts the time the machine slept.  Only
 * curl's own timeouts (api.timeout) stay on curl's monotonic clock.
 */
static inline double
now_mono(void)
{
	struct timespec ts;

#ifdef CLOCK_BOOTTIME
	clock_gettime(CLOCK_BOOTTIME, &ts);
#else
	clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
