/* The queue table: claiming due runs under a lease, and recording what became of them. */
#ifndef EXTEND_SYNCD_QUEUE_H
#define EXTEND_SYNCD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* A queue row this daemon holds the lease of. */
struct claim {
	char *run_id;		/* as stored: not yet validated */
	char *gen;		/* enqueue_gen when claimed, as text */
	char *last_status;	/* NULL before the first successful fetch */
	int polls;
	int attempts;
	char *lease;		/* lease_expires_at as claimed: this claim's token */
	char *workflow_id;	/* as a list summary gave it; NULL when never listed */
	bool listed;		/* a sweep has seen the run */
	char *listed_status;	/* the status its newest list summary showed; NULL when none did */
	int listed_rechecks;	/* fetches in a row that did not agree with listed_status */
};

/*
 * Fetches in a row that may disagree with the list's status (each followed
 * by another soon) before the status fetched is taken as it is; a run that
 * got that far has listed_rechecks QUEUE_LISTED_RECHECKS + 1 until a GET
 * agrees or a newer listing comes.  (Written out in the SQL of queue.c.)
 */
#define QUEUE_LISTED_RECHECKS 5

/* What the queue looks like, for --drain and for the idle wait. */
struct queue_outlook {
	long long busy;		/* pending runs that keep --drain running */
	double next_due;	/* seconds until the next pending run is due (<= 0: now; -1: none) */
};

/* What the queue looks like, read now and then for the status line and the metrics. */
struct queue_stats {
	long long pending, done, failed, due;
	double oldest_due;	/* seconds the longest-waiting due run is late, 0 when none */
};

/* Prepare the queue's statements on a new connection; returns 0 or -1 with err set. */
int queue_prepare(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Claim up to limit due runs for owner, for lease seconds: first the runs
 * leased to a daemon whose budget row has expired (it died), then the due
 * ones, oldest due first; with due_before (an RFC 3339 time), only due
 * runs due before it.  Returns how
 * many were claimed, each a new struct claim in the new array *out (the
 * caller frees each with queue_claim_free() and the array with free()), or
 * -1 with err set.
 */
int queue_claim(PGconn *conn, const char *owner, double lease, int limit, const char *due_before,
		struct claim ***out, char *err, size_t errlen) __attribute__((warn_unused_result));

void queue_claim_free(struct claim *c);

/* This process's name as a lease owner, unique among the daemons: "host:pid:nonce" (random() must be seeded). */
void queue_make_owner(char *owner, size_t len);

/* An update found the row locked by another session for lock_timeout (SQLSTATE 55P03). */
#define QUEUE_LOCKED (-3)

/*
 * Every update of a claimed row checks the claim's token (owner and lease
 * expiry): a claim that expired and was taken again, even by this daemon,
 * changes nothing.
 *
 * Record a failed attempt.  failed: give up (state failed), else stay
 * pending and be due after delay seconds.  http_status 0 means no answer.
 * Returns 1, 0 when the lease was lost meanwhile, QUEUE_LOCKED when
 * another session holds the row (lock_timeout), or -1 with err set.
 */
int queue_record_failure(PGconn *conn, const struct claim *c, const char *owner, bool failed,
			 double delay, const char *error, long http_status, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * A 404 for c's run: when the run is stored (workflow_runs), it was deleted
 * at Extend.  Then its queue row becomes done (its rows stay) and
 * workflow_runs.deleted_at is set, the first time only.  Returns 2 when
 * deleted_at was set now, 1 when it was set already, 0 when the run was
 * never stored or the lease was lost (nothing changed: record the 404 as a
 * failure), QUEUE_LOCKED, or -1 with err set.
 */
int queue_record_deleted(PGconn *conn, const struct claim *c, const char *owner, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Give back the lease of c, due now (shutdown, or a fetch not made); returns 0 or -1 with err set. */
int queue_release(PGconn *conn, const struct claim *c, const char *owner, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* enqueue(run_id): add it, or make it pending and due now; returns 0 or -1 with err set. */
int queue_enqueue(PGconn *conn, const char *run_id, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * enqueue() each of the n IDs, in one statement (the caller validated them
 * and sends them in chunks it chooses).  Returns 0 or -1 with err set.
 */
int queue_enqueue_many(PGconn *conn, const char *const *run_ids, size_t n, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * A one-shot command that enqueued this many runs or more (--enqueue,
 * --discover and the like) has ANALYZE read the queue again before it
 * exits: without statistics, as in a first backfill, the claim's plan sorts
 * every due row for each claim instead of reading the claim index in order.
 */
#define QUEUE_ANALYZE_AFTER 10000

/*
 * ANALYZE the queue when n >= QUEUE_ANALYZE_AFTER, outside any transaction,
 * standard output flushed first.  Speed only: a failure (a table held, a
 * role that is not its owner) is logged as a warning.
 */
void queue_analyze_after(PGconn *conn, long long n);

/* The database's current time as RFC 3339 text in out (at least 40 bytes); returns 0 or -1 with err set. */
int queue_db_now(PGconn *conn, char *out, size_t outlen, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Counts of the queue: pending, due and failed runs always (cheap, by the
 * partial indexes), done ones when done is true: counted in a queue of up
 * to 100,000 rows, estimated from the planner's statistics in a larger one
 * (no scan of millions of finished runs).  Returns 0 or -1 with err set.
 */
int queue_stats(PGconn *conn, struct queue_stats *out, bool done, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * How many runs queue_claim() would claim now (due before due_before when
 * it is not NULL), counted up to limit, into *out: the demand of a daemon
 * that has no tokens to claim them with.  Returns 0 or -1 with err set.
 */
int queue_count_due(PGconn *conn, int limit, const char *due_before, long *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * --retry-failed: make the failed runs among run_ids (every failed run when
 * n is 0) pending and due now, attempts counted from 0; last_error and
 * last_http_status stay until the next attempt.  Wakes idle daemons.
 * Returns a result the caller PQclear()s: row 0, column 3 is how many runs
 * were made pending; each further row is a given ID that was not failed
 * (column 1) and its state (column 2, NULL when not queued), in the order
 * given.  NULL with err set on failure.
 */
PGresult *queue_retry_failed(PGconn *conn, const char *const *run_ids, size_t n, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* How much work is left; returns 0 or -1 with err set. */
int queue_outlook(PGconn *conn, struct queue_outlook *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
