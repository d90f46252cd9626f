/* Retention: run_status_history rows older than sync.history_days go, a bounded batch at a time. */
#ifndef EXTEND_SYNCD_RETENTION_H
#define EXTEND_SYNCD_RETENTION_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "dbconn.h"

/* History rows one statement examines at most (it deletes those of them that are old and not the latest). */
#define RETENTION_BATCH 1000

/* A round starts at most this often (seconds); its batches follow one a second while they find old rows. */
#define RETENTION_EVERY 60.0

/*
 * Rows a round passes over stay behind it (the latest of a run, which may
 * later have a newer one); a round from the first row picks them up this
 * often (seconds), and at every start.
 */
#define RETENTION_RESCAN 86400.0

/* Where pruning stands, in one daemon; zeroed, it starts from the first row at once. */
struct retention {
	long long cursor;	/* rows up to this id were examined by the rounds since rescan_at */
	double next_at;		/* monotonic time of the next batch */
	double rescan_at;	/* monotonic time when the rounds start from the first row again (0: now) */
};

/* Whether a batch is due at now; never when days is 0 (history kept for ever). */
bool retention_due(const struct retention *r, int days, double now);

/*
 * Run one batch: of the next RETENTION_BATCH history rows after r->cursor,
 * delete those observed more than days ago that are not the latest of
 * their run, and move the cursor on (to the first young row when it
 * reached them: the round is over).  Sets r->next_at.  Returns the rows
 * deleted, or -1 with err set (the next batch then waits a round).
 */
long long retention_run(struct retention *r, PGconn *conn, int days, double now, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * retention_run() on db's connection, for the loop: the rows deleted are
 * logged (debug) and returned; a failure is logged, and the connection
 * dropped when it is gone (then 0).
 */
unsigned long long retention_prune(struct retention *r, struct dbconn *db, int days, double now);

#endif
