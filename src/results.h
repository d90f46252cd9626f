/*
 * Fetched results on their way to the database: gathered into a batch,
 * handed to the writer thread (which has a connection of its own), written
 * by the loop when the writer stalls or when the outcome is needed at once,
 * kept for later while the database is away or a row is locked, and given
 * back when the daemon stops.
 */
#ifndef EXTEND_SYNCD_RESULTS_H
#define EXTEND_SYNCD_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dbconn.h"
#include "fetch.h"
#include "metrics.h"
#include "normalize.h"
#include "outcome.h"
#include "queue.h"
#include "store.h"

struct results;

/*
 * The results of the loop whose connection, lease owner, counters and
 * configuration oc names (outcome_stored() says what each write means);
 * take(arg) decides again what a result kept for later means (false: keep
 * it once more).  The writer thread is started (without it the loop
 * writes, and says so), its pipe and the batch's deadline registered with
 * the wait.  NULL when out of memory.
 */
struct results *results_new(const struct outcome_ctx *oc, bool (*take)(void *arg, struct fetch_result *r, int tries),
			    void *arg);

/* Stop the writer, close its connection, give back what is kept (through release), free rs; accepts NULL. */
void results_free(struct results *rs);

/* The extracted views of schema, for the life of rs: 0, or -1 when out of memory (logged). */
int results_views_start(struct results *rs, const char *schema);

/*
 * The extracted views once connected: their schema made when missing, the
 * views of extractors stored before made anew, and the versions they cover
 * loaded, so that a result of a new version is noted as it is written.
 * Failures are logged and stop nothing; until the versions were read, each
 * new connection of the loop's tries again, and the loop's connection
 * every VIEWS_RETRY (results_poll()).  Once read, it does nothing.
 */
void results_views_sync(struct results *rs);

/* Open the writer's connection when there is a writer and it has none; 0 or -1 (logged, tried again later). */
int results_connect(struct results *rs, const struct config *cfg);

/*
 * Periodic: open the writer's connection when due, else write what was
 * kept for later when due (the loop's connection is up).
 */
void results_poll(struct results *rs, const struct config *cfg, double now);

/* A fetched run with its rows (rs's from now on), due again as next: gathered into the batch. */
void results_add(struct results *rs, struct fetch_result *r, struct run_rows *rr, int tries, struct store_next next);

/* Keep r (rs's from now on) until the database is back or its row is free; tries: writes that lost it. */
void results_keep(struct results *rs, struct fetch_result *r, int tries);

/*
 * Write the batch (see results.c); now: at once, on the loop's connection.
 * more: more answers are on their way; stopping: the loop is stopping.
 * Returns how many results were kept because a row was locked.
 */
int results_flush(struct results *rs, bool now, bool more, bool stopping);

/* Take the writer's outcome, when it is done. */
void results_collect(struct results *rs);

/* Write what was kept for later, one at a time (the database is back, or a row was locked a while ago). */
void results_retry(struct results *rs);

/* Whether results are gathered or being written. */
bool results_writing(const struct results *rs);

/* Whether results are kept for later. */
bool results_kept(const struct results *rs);

/* Whether the writer has been busy longer than WRITER_PATIENCE. */
bool results_stalled(const struct results *rs, double now);

/* Bytes of the results held in memory (the batches and those kept). */
size_t results_held(const struct results *rs);

/* When the batch must be looked at again (gathered long enough, or the writer stalling); INFINITY: never. */
double results_next(const struct results *rs);

/* The writer's pipe while it writes (readable once done), else -1. */
int results_writer_fd(const struct results *rs);

/*
 * At the end: wait for the writer (its call abandoned past the grace),
 * write what gathered if the loop's connection serves, and give back the
 * rest.
 */
void results_stop(struct results *rs);

#endif
