/* Discovery: list requests, list pages, the stop rule, and the queue changes and source state of a sweep. */
#ifndef EXTEND_SYNCD_DISCOVER_H
#define EXTEND_SYNCD_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"

/*
 * One WorkflowRunSummary, as much of it as a sweep needs.  A summary with a
 * valid ID but no usable status or updatedAt is kept for what it says (its
 * run is enqueued, and its fetch tells the truth) and marked malformed.
 */
struct run_summary {
	char *id;		/* a valid run ID */
	char *status;		/* NULL when absent or not valid */
	char *workflow_id;	/* NULL when absent or not a valid ID */
	char *updated_at;	/* as the API wrote it (RFC 3339); NULL when absent or not valid */
	int64_t updated_us;	/* the same, microseconds since the epoch; INT64_MAX (newest) without one */
	const char *malformed;	/* NULL, or what is wrong with the summary (a static string) */
};

/* A summary without a valid ID: nothing of it is applied. */
struct skipped_summary {
	char *id;		/* its "id" cleaned and cut for a log line, NULL when it is not a string */
	const char *why;	/* a static string */
	uint64_t key;		/* discover_summary_key() of its "id", or of its JSON text without one */
};

/* One page of GET /workflow_runs. */
struct list_page {
	struct run_summary *runs;
	size_t nruns;
	struct skipped_summary *skipped;
	size_t nskipped;
	size_t nmalformed;	/* summaries of runs[] marked malformed, plus nskipped */
	char *next_token;	/* NULL on the last page */
};

#define DISCOVER_ERR_SIZE 256

/*
 * Parse an RFC 3339 time ("2025-05-01T12:00:00.123Z", "...+02:00") into
 * microseconds since the epoch.  Returns 0, or -1 when s is not one.
 */
int discover_parse_time(const char *s, int64_t *us) __attribute__((warn_unused_result));

/* us as RFC 3339 in UTC with microseconds into out (at least 32 bytes). */
void discover_format_time(int64_t us, char *out, size_t outlen);

/*
 * The path and query of a list request, newest updatedAt first, into out:
 * workflow_id and batch_id filter when not NULL, token pages.  Every value
 * is URL-encoded.  Returns 0, or -1 when out is too small.
 */
int discover_list_path(char *out, size_t outlen, int page_size, const char *workflow_id, const char *batch_id,
		       const char *token) __attribute__((warn_unused_result));

/*
 * Parse body (len bytes) as a list page into a new page the caller frees
 * with discover_page_free().  Returns 0, -EINVAL with a reason in err when
 * it is not a whole, well-formed page, or -ENOMEM.  One malformed summary
 * does not make the page malformed: one without a valid ID (or that is not
 * an object) goes to skipped[], one with a valid ID to runs[] with what it
 * lacks in malformed; both are counted in nmalformed.
 */
int discover_parse_page(const char *body, size_t len, struct list_page **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void discover_page_free(struct list_page *p);

/* A 64-bit fingerprint (FNV-1a) of the n bytes at s, to tell malformed summaries apart. */
uint64_t discover_summary_key(const char *s, size_t n);

/*
 * The stop rule: how many summaries of p, from the first, are newer than
 * cutoff_us (INT64_MIN: no cutoff); one without a usable updatedAt counts
 * as newest, so it never ends a sweep.  A result below p->nruns means the
 * sweep ends on this page.
 */
size_t discover_page_cut(const struct list_page *p, int64_t cutoff_us);

/*
 * Where a sweep stops: high_water - overlap, or since when that is later;
 * INT64_MIN when neither is set (list to the end).
 */
int64_t discover_cutoff(bool has_high_water, int64_t high_water_us, double overlap, bool has_since,
			int64_t since_us);

/* True when a run of workflow_id (NULL: unknown) is covered by cfg's discovery sources. */
bool discover_covers(const struct config *cfg, const char *workflow_id);

/* True when cfg names at least one discovery source. */
bool discover_enabled(const struct config *cfg);

/* The state of a source, as read when its lease was taken. */
struct source_state {
	bool has_high_water;
	int64_t high_water_us;
	int failures;
};

/* What a page changed in the queue. */
struct apply_counts {
	long long enqueued;	/* new runs */
	long long made_due;	/* known runs the summary shows changed */
	long long total;	/* distinct runs applied */
	long long deferred;	/* queued runs another session held: not changed, to be read again */
	char first_deferred[160];	/* the least run ID of them, "" for none */
	bool deferred_untimed;	/* one of them was listed without a usable updatedAt */
	int64_t deferred_min_us;	/* the oldest listed updatedAt of them (when deferred > 0) */
};

/* Prepare the statements on a new connection; returns 0 or -1 with err set. */
int discover_prepare(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Take the lease of source for owner, for lease seconds, when nobody else
 * holds it and (unless force) its next sweep is due.  Returns 1 with *st
 * filled, 0 when not now (*wait: seconds until worth asking again), or -1
 * with err set.
 */
int discover_acquire(PGconn *conn, const char *source, const char *owner, double lease, bool force,
		     struct source_state *st, double *wait, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* How a whole sweep ends, recorded with its last page. */
struct sweep_end {
	bool has_new_high;	/* new_high_us holds the newest updatedAt the sweep saw */
	int64_t new_high_us;
	long long runs_listed;
	long long malformed;	/* malformed summaries the whole sweep read */
	double interval;	/* the next sweep is due after this many seconds ... */
	double deferred_interval;	/* ... or this many when a row held by another session was deferred */
};

/* The malformed summaries of a page, as a source records them. */
struct malformed_note {
	long long count;	/* how many the page had */
	const char *last;	/* what was wrong with one of them, naming its run ID when it had one */
};

/*
 * In one transaction: renew owner's lease of source (when source is not
 * NULL), count bad (when not NULL, with a count) in the source's
 * malformed_summaries, and apply the first n summaries of p to the queue: new runs are
 * enqueued, queued runs whose summary shows another status or a later
 * updatedAt than at their last fetch are made due (done and failed ones
 * included), others only get listed_status and listed_updated_at.  A
 * queued run whose row another session holds is not waited for: it is
 * left as it is and counted in counts->deferred.  With force, every
 * listed run is enqueued as enqueue() does (waiting for held rows).  With end (the
 * sweep's last page), also move high_water forward (never back), record
 * the time, runs_listed and last_sweep_malformed, clear the error, schedule the next sweep and
 * drop the lease.  Returns 1, 0 when the lease was lost (nothing changed),
 * or -1 with err set (nothing changed).
 */
int discover_apply(PGconn *conn, const char *source, const char *owner, double lease, const struct list_page *p,
		   size_t n, bool force, const struct malformed_note *bad, const struct sweep_end *end,
		   struct apply_counts *counts, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * A sweep of source failed: record error, count the failure, schedule the
 * next try after delay seconds, drop the lease; high_water is untouched.
 * Returns 0 or -1 with err set.
 */
int discover_fail(PGconn *conn, const char *source, const char *owner, const char *error, double delay,
		  char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * --drain: whether a pending run a sweep listed (of workflow_id; NULL: of
 * any workflow) is in motion, by its newest summary and by its last fetch
 * if it had one.  Returns 0 with *moving set, or -1 with err set.
 */
int discover_in_motion(PGconn *conn, const char *workflow_id, bool *moving, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Drop owner's lease of source, changing nothing else (a stop); returns 0 or -1 with err set. */
int discover_release(PGconn *conn, const char *source, const char *owner, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
