/* Writes runs' rows and their queue rows: several runs per transaction, each all or nothing. */
#ifndef EXTEND_SYNCD_STORE_H
#define EXTEND_SYNCD_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "db.h"
#include "normalize.h"
#include "queue.h"

/* What the queue row becomes after a successful fetch. */
struct store_next {
	const char *state;	/* "done" or "pending" */
	double delay;		/* seconds until due again, when pending */
	int polls;		/* consecutive in-motion fetches with this status */
	int priority;		/* claim order: 1 in motion, 2 parked */
	int listed_rechecks;	/* fetches in a row whose status was not the listed one (0: it agreed) */
};

/* Prepare the statements on a new connection; returns 0 or -1 with err set. */
int store_prepare(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

/* A write failed in a way the same rows would fail again (db_error_recurs). */
#define STORE_RECURS (-2)

/* A write waited lock_timeout for a row another session holds: try again later, as it was. */
#define STORE_LOCKED (-3)

/* A write not tried: the connection went away before its turn came (it failed nothing). */
#define STORE_UNTRIED (-4)

/*
 * A processor run of an extractor version the loop has not seen recorded:
 * note_extractor_version() records it, and rebuilds the extractor's views,
 * in the transaction that stores the run.  A failure there is the note's
 * alone (rolled back to a savepoint): the run is stored all the same.
 */
struct store_note {
	size_t row;		/* the run's processor_runs row (T_PROCESSOR_RUNS) */
	int rc;			/* 1 recorded (or known there already), -1 failed (err), 0 not tried */
	char view[64];		/* the view it made or changed; "" when it changed none */
	char err[DB_ERR_SIZE];
};

/* One run to write, and what became of it. */
struct store_item {
	const struct run_rows *rr;
	const struct claim *c;
	struct store_next next;
	int rc;			/* 1 written, 0 lease lost (nothing written), else -1, STORE_RECURS, STORE_LOCKED or
				   STORE_UNTRIED */
	bool unchanged;		/* written, and the stored snapshot was this one already: only the queue row changed */
	char err[DB_ERR_SIZE];	/* why, when rc < 0 */
	struct store_note *notes;	/* versions to record when the run's rows are written (the caller's) */
	size_t nnotes;
	const char *view_schema;	/* database.extracted_schema, when nnotes > 0 */
};

/*
 * Write n runs, each all or nothing: check that owner still holds the
 * lease on each claim, update its queue row as its next says, and, when
 * its content changed, upsert the run and replace all its child rows.
 * Together in one transaction (one statement per table) when they all go
 * in; when the database refuses that, each in a transaction of its own, so
 * that a run it refuses (or a row locked elsewhere) fails alone.  Sets
 * every item's rc (and err).  Returns 1 when they went in together, else 0
 * (err says why the group failed, when a group was tried).
 */
int store_write_batch(PGconn *conn, struct store_item *items, size_t n, const char *owner, char *err,
		      size_t errlen);

#endif
