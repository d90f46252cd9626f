/* How the loop ends: a signal or --timeout begins a graceful stop, whose grace ends it; and with what exit code. */
#include <math.h>

#include "log.h"
#include "notify.h"
#include "stop.h"
#include "timing.h"
#include "wait.h"

/* Set up; see stop.h. */
void
stop_init(struct stop *st, double timeout, double now)
{
	st->timeout = timeout;
	st->timeout_at = now + timeout;
}

/* The grace; see stop.h. */
void
stop_configure(struct stop *st, double api_timeout)
{
	st->grace = fmin(STOP_GRACE, api_timeout);
}

/* A graceful stop: claim nothing more, let what is in flight finish within the grace. */
static void
begin(struct stop *st, double now)
{
	(void)notify_send("STOPPING=1");
	st->stopping = true;
	/* the grace counts from the signal, which may have come while a database call waited */
	st->deadline = (wait_stops() > 0 && wait_signal_at() > 0 ? wait_signal_at() : now) + st->grace;
}

/* Signals and --timeout; see stop.h. */
int
stop_check(struct stop *st, double now)
{
	int found = 0;

	if (wait_stops() > 0 && !st->stopping) {
		st->interrupted = true;
		begin(st, now);
		found |= STOP_BEGAN;
	}
	if (st->timeout > 0 && !st->stopping && now >= st->timeout_at) {
		log_warning("--timeout of %gs expired: stopping", st->timeout);
		st->timed_out = true;
		begin(st, now);
		found |= STOP_BEGAN;
	}
	if (wait_stops() > 1 || (st->stopping && now >= st->deadline))
		found |= STOP_NOW;
	return found;
}

/* A database call's limit; see stop.h. */
double
stop_call_limit(void *arg, double now, double waited)
{
	const struct stop *st = arg;
	double grace = st->grace, signal_at = wait_signal_at();
	int stops = wait_stops();

	if (stops > 1 || (st->stopping && now >= st->deadline) || (stops > 0 && !st->stopping &&
								     now >= signal_at + grace))
		return DB_WAIT_EXITING;
	if (st->stopping)
		return fmin(DB_WAIT_MAX, waited + st->deadline - now);
	if (stops > 0)
		return fmin(DB_WAIT_MAX, waited + signal_at + grace - now);
	return DB_WAIT_MAX;
}
