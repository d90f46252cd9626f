/* What a --drain or --once run reports: progress, the runs still waiting, the runs that failed meanwhile. */
#ifndef EXTEND_SYNCD_DRAIN_H
#define EXTEND_SYNCD_DRAIN_H

#include <libpq-fe.h>

/* The queue as a drain sees it. */
struct drain_progress {
	long long pending, done, failed;	/* runs by state */
	long long in_motion, parked, retrying;	/* of the pending ones */
	long long waiting;			/* pending runs that keep --drain running */
	long long failed_since;			/* runs that became failed since the drain began */
	char oldest_id[160];			/* the longest-waiting run ("" when none waits) */
	char oldest_status[40];			/* its last status, or "never fetched" */
	double oldest_waited;			/* seconds since it was enqueued */
};

/* One run of a list. */
struct drain_run {
	char run_id[160];
	char last_status[40];	/* or "never fetched" */
	int attempts;
	double waited;		/* seconds since it was enqueued */
	char last_error[512];	/* "" when none */
};

enum drain_list {
	DRAIN_WAITING,		/* pending runs that keep --drain running, oldest enqueued first */
	DRAIN_FAILED_SINCE,	/* runs that became failed since the drain began, in that order */
};

/*
 * Read the progress of a drain that began at since (the database's time,
 * RFC 3339).  Returns 0 or -1 with err set.
 */
int drain_read_progress(PGconn *conn, const char *since, struct drain_progress *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Up to max runs of the list which, for a drain that began at since, into
 * out (max entries, the caller's); *total gets how many there are in all.
 * Returns how many were written, or -1 with err set.
 */
int drain_read_runs(PGconn *conn, enum drain_list which, const char *since, struct drain_run *out, int max,
		    long long *total, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
