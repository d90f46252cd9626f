/* The monotonic clock in seconds: what every timer of the daemon counts in. */
#ifndef EXTEND_SYNCD_CLOCK_H
#define EXTEND_SYNCD_CLOCK_H

#include <time.h>

static inline double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
