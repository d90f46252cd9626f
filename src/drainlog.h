/* What --drain and --once say: a progress line, the closing lists of runs, and the verdict as an exit code. */
#ifndef EXTEND_SYNCD_DRAINLOG_H
#define EXTEND_SYNCD_DRAINLOG_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "dbconn.h"
#include "log.h"

/* How a --drain or --once ended, for drainlog_verdict(). */
struct drainlog_end {
	bool drain;		/* --drain (else --once) */
	bool timed_out;		/* --timeout expired */
	bool interrupted;	/* SIGTERM or SIGINT */
};

/*
 * Log where a drain that began at since (the database's time) stands, in
 * one line, read on db's connection (none: nothing said); in_flight:
 * requests in flight.  A failure on a connection that is fine lasts in
 * failing.
 */
void drainlog_progress(struct dbconn *db, const char *since, bool drain, size_t in_flight,
		       struct log_lasting *failing);

/*
 * How a --drain or --once ends, as an exit code: LOOP_EXIT_TIMEOUT when
 * --timeout expired and LOOP_EXIT_INTERRUPTED when a signal stopped it
 * (the runs still waiting named), LOOP_EXIT_FAILED_RUNS when runs of a
 * --drain ended failed (named), else 0.  conn NULL: the lists cannot be
 * read, and say so.
 */
int drainlog_verdict(PGconn *conn, const char *since, const struct drainlog_end *end);

#endif
