/* What a run's finished request means in its queue row: stored, tried again later, given up, deleted at Extend. */
#ifndef EXTEND_SYNCD_OUTCOME_H
#define EXTEND_SYNCD_OUTCOME_H

#include <stdbool.h>

#include "config.h"
#include "dbconn.h"
#include "fetch.h"
#include "metrics.h"
#include "normalize.h"
#include "queue.h"
#include "store.h"

/* Whose outcomes: the loop's connection (dropped when gone), its lease owner, its counters, its configuration. */
struct outcome_ctx {
	struct dbconn *db;
	const char *owner;
	struct metrics *m;
	const struct config *cfg;
};

/*
 * Record a failed attempt, retrying later or giving up (failed), and log
 * it.  Returns -1 when the database went away or the row is locked before
 * it was recorded (the caller keeps the result), else 0.
 */
int outcome_failure(const struct outcome_ctx *o, struct claim *c, bool permanent, double retry_after,
		    long http_status, const char *error);

/*
 * A 404 for a run: a stored run was deleted at Extend (its rows stay, its
 * queue row is done), said once, when it is first marked.  Returns 1 when
 * that was so, 0 when the run was never stored (the 404 is a failure, as
 * before), -1 when the database went away or the row is locked before it
 * was recorded.
 */
int outcome_deleted(const struct outcome_ctx *o, struct claim *c);

/* When a fetched run is due again, and in what state its queue row is left. */
struct store_next outcome_next(const struct config *cfg, const struct claim *c, const struct run_rows *rr);

/* What a write means for its run, logged and counted; -1 when its result must wait (database away, row locked). */
int outcome_stored(const struct outcome_ctx *o, const struct store_item *it);

/*
 * The answer to a run's request, but for a refused key (the loop's): a
 * failure recorded, a deletion recorded, or its rows read.  Returns 1 with
 * *rrp the rows to write (the caller's), 0 when the run is done with (the
 * caller frees r and its claim), -1 when r must wait for the database.
 */
int outcome_answer(const struct outcome_ctx *o, struct fetch_result *r, struct run_rows **rrp);

/* Give a claimed run back to the queue, due now (shutdown, a paused key, a request never made); c is freed. */
void outcome_release(const struct outcome_ctx *o, struct claim *c);

/*
 * For fetch_cancel_queued() and fetch_cancel_all(), arg an outcome_ctx: a
 * run's request is given back (outcome_release()), a sweep's page retried.
 */
void outcome_release_cb(const char *run_id, void *data, void *arg);

#endif
