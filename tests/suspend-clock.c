/* A test shim (LD_PRELOAD): the monotonic clocks stop while the machine "sleeps", as on a suspended host. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * CLOCK_MONOTONIC (and its raw and coarse kinds) run behind the real one
 * by the seconds written in the file $SUSPEND_CLOCK_FILE; CLOCK_BOOTTIME
 * and CLOCK_REALTIME are left as they are.  A test stops the process
 * (SIGSTOP), writes how long it was stopped into the file and lets it go
 * on (SIGCONT): to the process, the monotonic clock did not move meanwhile
 * and the others did, as after a suspend of the machine.  The file is read
 * again at most every 10 ms of real time, and always first after a stop.
 */
static double offset;
static double read_at = -1;

static double
seconds(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static void
read_offset(double real)
{
	const char *path = getenv("SUSPEND_CLOCK_FILE");
	FILE *f;
	double v;

	if (read_at >= 0 && real - read_at < 0.01)
		return;
	read_at = real;
	if (path == NULL)
		return;
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fscanf(f, "%lf", &v) == 1 && v >= offset)
		offset = v;
	fclose(f);
}

int clock_gettime(clockid_t id, struct timespec *ts);

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	double t;

	if (syscall(SYS_clock_gettime, id, ts) != 0)
		return -1;
	if (id != CLOCK_MONOTONIC && id != CLOCK_MONOTONIC_RAW && id != CLOCK_MONOTONIC_COARSE)
		return 0;
	read_offset(seconds(ts));
	t = seconds(ts) - offset;
	ts->tv_sec = (time_t)t;
	ts->tv_nsec = (long)((t - (double)ts->tv_sec) * 1e9);
	return 0;
}
