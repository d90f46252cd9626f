/* Sweeps: the periodic task that lists each discovery source page by page through the fetcher. */
#ifndef EXTEND_SYNCD_SWEEP_H
#define EXTEND_SYNCD_SWEEP_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "config.h"
#include "fetch.h"

enum sweep_mode {
	SWEEP_DAEMON,		/* every source every discover.interval, forever, as the sources' schedule says */
	SWEEP_DRAIN,		/* --drain: every source now, then again (at the active poll's pace) only while
				   runs it listed are in motion */
	SWEEP_DISCOVER,		/* the same, for --discover */
	SWEEP_ENQUEUE,		/* --enqueue-workflow/--enqueue-batch: list, enqueue everything, no source state */
};

/* What a finished list request meant for the caller. */
enum sweep_outcome {
	SWEEP_OK,
	SWEEP_AUTH,		/* the API refused the key (401, 402, 403): pause like fetches do */
	SWEEP_DB,		/* a statement failed: the connection may be gone */
};

struct sweeper;

/*
 * A sweeper for cfg's discovery sources (or, with SWEEP_ENQUEUE, for the
 * nids workflow or batch IDs in ids, which must be valid), leasing
 * sources as owner.  cfg and owner are borrowed and must outlive it (see
 * sweep_configure()).  Returns NULL when out of memory.
 */
struct sweeper *sweep_new(const struct config *cfg, const char *owner, enum sweep_mode mode, char *const *ids,
			  int nids, bool batches) __attribute__((warn_unused_result));

void sweep_free(struct sweeper *s);

/* A reloaded configuration: sources added or gone take effect once no sweep is running. */
void sweep_configure(struct sweeper *s, const struct config *cfg);

/*
 * Start the sweeps that are due (taking their source's lease) and submit
 * their first pages to f.  Returns the monotonic time at which to call it
 * again (INFINITY: nothing left to start).
 */
double sweep_poll(struct sweeper *s, PGconn *conn, struct fetcher *f, double now);

/* Handle a finished list request (r->kind FETCH_LIST), submitting the next page; r stays the caller's. */
enum sweep_outcome sweep_take(struct sweeper *s, PGconn *conn, struct fetcher *f, const struct fetch_result *r);

/*
 * Malformed list summaries read since the last call (for a metric); a
 * NULL s has none.
 */
unsigned long long sweep_count_malformed(struct sweeper *s);

/* A list request taken back unsent or aborted (data from its result): its sweep is over, to be retried. */
void sweep_cancelled(void *data);

/* True when every source of a one-time sweeper was swept once (or gave up). */
bool sweep_finished(const struct sweeper *s);

/* True when a source gave up (one-time sweepers only). */
bool sweep_failed(const struct sweeper *s);

/* A sweep is waiting for a list request. */
bool sweep_running(const struct sweeper *s);

/*
 * The list requests the sweeps could send in the next second: for each
 * source sweeping now (but the page the fetcher holds) or due to start
 * within horizon seconds, one page after another, as many as its pages
 * take to come back (at least one); only one while another daemon holds
 * its lease (it may end any moment, or not for minutes).  A NULL s wants
 * none.  It counts in the daemon's demand for the shared
 * budget: a sweep counted as one request would be dealt one token, one
 * page a second, beside a busy daemon.
 */
long sweep_demand(const struct sweeper *s, double now, double horizon);

/* Stopping: give back the leases of sweeps still running (their high-water marks stay). */
void sweep_stop(struct sweeper *s, PGconn *conn);

/*
 * --discover, --enqueue-workflow, --enqueue-batch: sweep with a fetcher of
 * its own, print the result on stdout, return the exit status (0, or 2).
 */
int sweep_oneshot(const struct config *cfg, enum sweep_mode mode, char *const *ids, int nids, bool batches,
		  PGconn *conn) __attribute__((warn_unused_result));

/* What to check about a source (its name, "workflow:<id>" ...) that has never listed a run; static text. */
const char *sweep_silent_hint(const char *source);

#endif
