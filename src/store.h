/* Writes one run's rows and its queue row in one transaction. */
#ifndef EXTEND_SYNCD_STORE_H
#define EXTEND_SYNCD_STORE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "normalize.h"
#include "queue.h"

/* What the queue row becomes after a successful fetch. */
struct store_next {
	const char *state;	/* "done" or "pending" */
	double delay;		/* seconds until due again, when pending */
	int polls;		/* consecutive in-motion fetches with this status */
	int priority;		/* claim order: 1 in motion, 2 parked */
};

/* Prepare the statements on a new connection; returns 0 or -1 with err set. */
int store_prepare(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

/* store_write_run() failed in a way the same rows would fail again (db_error_recurs). */
#define STORE_RECURS (-2)

/* store_write_run() waited lock_timeout for a row another session holds: try again later, as it was. */
#define STORE_LOCKED (-3)

/*
 * In one transaction: check that owner still holds the lease on c, update
 * the queue row as next says, upsert the run and replace all its child
 * rows.  Returns 1 when written, 0 when the lease was lost (nothing
 * written), or -1 with err set (nothing written), STORE_RECURS when
 * writing the same rows again would fail alike.
 */
int store_write_run(PGconn *conn, const struct run_rows *rr, const struct claim *c, const char *owner,
		    const struct store_next *next, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
