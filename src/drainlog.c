/* What --drain and --once say: a progress line, the closing lists of runs, and the verdict as an exit code. */
#include <stdio.h>

#include "db.h"
#include "drain.h"
#include "drainlog.h"
#include "log.h"
#include "loop.h"

/* At most this many runs are named in a closing list. */
#define DRAIN_LIST_MAX 10

/* Where the drain stands; see drainlog.h. */
void
drainlog_progress(struct dbconn *db, const char *since, bool drain, size_t in_flight, struct log_lasting *failing)
{
	struct drain_progress p;
	char err[DB_ERR_SIZE], oldest[300] = "";

	if (db->conn == NULL)
		return;
	if (drain_read_progress(db->conn, since, &p, err, sizeof(err)) < 0) {
		if (!dbconn_gone(db))
			log_lasting_fail(failing, "could not read the queue: %s", err);
		return;
	}
	if (p.oldest_id[0] != '\0')
		snprintf(oldest, sizeof(oldest), "; oldest waiting: run \"%s\" (%s) for %.0fs", p.oldest_id,
			 p.oldest_status, p.oldest_waited);
	log_info("%s: %lld waiting (%lld in motion, %lld retrying, %zu in flight), %lld parked, %lld failed "
		 "during this %s; queue: %lld pending, %lld done, %lld failed%s",
		 drain ? "draining" : "once", p.waiting, p.in_motion, p.retrying, in_flight,
		 p.parked, p.failed_since, drain ? "drain" : "run", p.pending, p.done, p.failed, oldest);
}

/* Log the runs of a list (at most DRAIN_LIST_MAX) under a heading; returns how many there are, or -1. */
static long long
log_runs(PGconn *conn, const char *since, enum drain_list which, enum log_level level, const char *heading)
{
	struct drain_run runs[DRAIN_LIST_MAX];
	char err[DB_ERR_SIZE];
	long long total;
	int n;

	if (conn == NULL) {
		log_error("%s: cannot list them, the database is unreachable", heading);
		return -1;
	}
	n = drain_read_runs(conn, which, since, runs, DRAIN_LIST_MAX, &total, err, sizeof(err));
	if (n < 0) {
		log_error("%s: could not list them: %s", heading, err);
		return -1;
	}
	if (total == 0)
		return 0;
	log_msg(level, "%s: %lld run%s%s", heading, total, total == 1 ? "" : "s",
		total > n ? (which == DRAIN_WAITING ? ", the oldest ten:" : ", the first ten:") : "");
	for (int i = 0; i < n; i++)
		log_run(level, runs[i].run_id, "%s %.0fs ago, last status %s, %d failed attempt%s%s%s",
			which == DRAIN_WAITING ? "waiting, enqueued" : "failed, enqueued", runs[i].waited,
			runs[i].last_status, runs[i].attempts, runs[i].attempts == 1 ? "" : "s",
			runs[i].last_error[0] != '\0' ? ": " : "", runs[i].last_error);
	return total;
}

/* How it ends; see drainlog.h. */
int
drainlog_verdict(PGconn *conn, const char *since, const struct drainlog_end *end)
{
	long long failed = 0;

	/* named however the drain ends; a list that cannot be read counts as failures */
	if (end->drain)
		failed = log_runs(conn, since, DRAIN_FAILED_SINCE, LOG_LEVEL_ERROR,
				  "runs that ended failed during this drain");
	if (end->timed_out || end->interrupted) {
		(void)log_runs(conn, since, DRAIN_WAITING, LOG_LEVEL_WARNING,
			       end->timed_out ? "--timeout expired with runs still waiting" :
			       "interrupted with runs still waiting");
		return end->timed_out ? LOOP_EXIT_TIMEOUT : LOOP_EXIT_INTERRUPTED;
	}
	return failed != 0 ? LOOP_EXIT_FAILED_RUNS : 0;
}
