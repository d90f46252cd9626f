/* How the loop ends: a signal or --timeout begins a graceful stop, whose grace ends it; and with what exit code. */
#ifndef EXTEND_SYNCD_STOP_H
#define EXTEND_SYNCD_STOP_H

#include <stdbool.h>

struct stop {
	bool stopping;		/* claiming nothing more, finishing what is in flight */
	double deadline;	/* when stopping: release what is still in flight after this */
	double timeout;		/* --timeout in seconds, 0 for none */
	double timeout_at;	/* monotonic time to give up at */
	bool timed_out;		/* stopped because --timeout expired */
	bool interrupted;	/* stopped by SIGTERM or SIGINT */
	int exit_code;
	double grace;		/* a stop waits this long for what is in flight: STOP_GRACE, or a shorter api.timeout */
};

/* What stop_check() found. */
#define STOP_BEGAN 0x1		/* a graceful stop began: give back what is not sent yet */
#define STOP_NOW 0x2		/* a second signal, or the grace is over: give back everything and end */

/* Set st up at now: --timeout seconds from now (0: none). */
void stop_init(struct stop *st, double timeout, double now);

/* The grace for api.timeout (at start, and after a reload). */
void stop_configure(struct stop *st, double api_timeout);

/*
 * The signals heard (wait.h) and --timeout, at now: begin a graceful stop
 * (its grace counted from the signal, which may have come during a
 * database call), or end now.  Returns STOP_BEGAN and STOP_NOW or'ed, or 0.
 */
int stop_check(struct stop *st, double now);

/*
 * How long a database call may wait in all (wait.h's limit; arg: a struct
 * stop), waited seconds after it began: DB_WAIT_MAX, less once a stop
 * began or a signal came (the grace), DB_WAIT_EXITING after a second
 * signal or past the grace.  An abandoned call loses nothing: what it was
 * writing is written again later, or its lease expires.
 */
double stop_call_limit(void *arg, double now, double waited);

#endif
