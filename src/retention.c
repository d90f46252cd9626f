/* Retention: run_status_history rows older than sync.history_days go, a bounded batch at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "retention.h"

/*
 * One batch.  The window is the next $3 rows by id after the cursor (the
 * primary key, read in order: bounded, whatever the table's size); of them,
 * the rows observed before the cutoff that have a newer row of their run
 * (the index of sql/012) are deleted, so the latest row of each run always
 * stays.  The answer: rows deleted; where the next batch starts (before
 * the first young row of the window, else after its last row); whether the
 * round is over (a young row, or fewer rows than asked).
 */
static const char sql_prune[] =
	"WITH c AS (SELECT id, run_id, observed_at < now() - make_interval(days => $1::int) AS old "
	"  FROM run_status_history WHERE id > $2::bigint ORDER BY id LIMIT $3::int), "
	"d AS (DELETE FROM run_status_history h USING c "
	"  WHERE h.id = c.id AND c.old "
	"    AND EXISTS (SELECT 1 FROM run_status_history n WHERE n.run_id = c.run_id AND n.id > c.id) "
	"  RETURNING h.id) "
	"SELECT (SELECT count(*) FROM d), "
	"  coalesce((SELECT min(id) - 1 FROM c WHERE NOT old), (SELECT max(id) FROM c), $2::bigint), "
	"  (SELECT count(*) FROM c WHERE NOT old) > 0 OR (SELECT count(*) FROM c) < $3::int";

bool
retention_due(const struct retention *r, int days, double now)
{
	return days > 0 && now >= r->next_at;
}

/* One batch of pruning; see retention.h. */
long long
retention_run(struct retention *r, PGconn *conn, int days, double now, char *err, size_t errlen)
{
	char days_s[16], cursor_s[32], batch_s[16];
	const char *params[3] = { days_s, cursor_s, batch_s };
	PGresult *res;
	long long deleted = -1;

	if (now >= r->rescan_at) {
		r->cursor = 0;
		r->rescan_at = now + RETENTION_RESCAN;
	}
	snprintf(days_s, sizeof(days_s), "%d", days);
	snprintf(cursor_s, sizeof(cursor_s), "%lld", r->cursor);
	snprintf(batch_s, sizeof(batch_s), "%d", RETENTION_BATCH);
	r->next_at = now + RETENTION_EVERY;
	res = db_exec_params(conn, sql_prune, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	deleted = atoll(PQgetvalue(res, 0, 0));
	r->cursor = atoll(PQgetvalue(res, 0, 1));
	/* more old rows may follow: the next batch in a second, not at once (the loop has runs to write) */
	if (strcmp(PQgetvalue(res, 0, 2), "f") == 0)
		r->next_at = now + 1;
out:
	PQclear(res);
	return deleted;
}

/* A batch, for the loop; see retention.h. */
unsigned long long
retention_prune(struct retention *r, struct dbconn *db, int days, double now)
{
	char err[DB_ERR_SIZE];
	long long n = retention_run(r, db->conn, days, now, err, sizeof(err));

	if (n < 0) {
		if (!dbconn_gone(db))
			log_warning("could not prune run_status_history (sync.history_days): %s", err);
		return 0;
	}
	if (n > 0)
		log_debug("run_status_history: %lld row%s older than %d days deleted", n, n == 1 ? "" : "s", days);
	return (unsigned long long)n;
}
