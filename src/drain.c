/* What a --drain or --once run reports: progress, the runs still waiting, the runs that failed meanwhile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "drain.h"
#include "text.h"

/* A pending run that keeps --drain running (queue_outlook's "busy"): everything but a parked run. */
#define WAITING "(last_status IS NULL OR attempts > 0 OR next_attempt_at <= now() " \
	"OR last_status IN ('PENDING', 'PROCESSING', 'CANCELLING') " \
	"OR (lease_owner IS NOT NULL AND lease_expires_at > now()))"

static const char sql_progress[] =
	"WITH c AS (SELECT count(*) FILTER (WHERE state = 'pending') AS pending, "
	"  count(*) FILTER (WHERE state = 'done') AS done, count(*) FILTER (WHERE state = 'failed') AS failed, "
	"  count(*) FILTER (WHERE state = 'pending' AND attempts = 0 "
	"                   AND last_status IN ('PENDING', 'PROCESSING', 'CANCELLING')) AS in_motion, "
	"  count(*) FILTER (WHERE state = 'pending' AND attempts = 0 AND priority = 2) AS parked, "
	"  count(*) FILTER (WHERE state = 'pending' AND attempts > 0) AS retrying, "
	"  count(*) FILTER (WHERE state = 'pending' AND " WAITING ") AS waiting, "
	"  count(*) FILTER (WHERE state = 'failed' AND finished_at >= $1::timestamptz) AS failed_since "
	"  FROM sync_queue), "
	"o AS (SELECT run_id, coalesce(last_status, 'never fetched') AS status, "
	"  extract(epoch FROM now() - enqueued_at) AS waited "
	"  FROM sync_queue WHERE state = 'pending' AND " WAITING " ORDER BY enqueued_at, run_id LIMIT 1) "
	"SELECT c.*, o.run_id, o.status, coalesce(o.waited, 0) FROM c LEFT JOIN o ON true";

static const char sql_waiting[] =
	"SELECT run_id, coalesce(last_status, 'never fetched'), attempts, extract(epoch FROM now() - enqueued_at), "
	"  coalesce(last_error, ''), count(*) OVER () "
	"FROM sync_queue WHERE state = 'pending' AND " WAITING " AND $1::timestamptz IS NOT NULL "
	"ORDER BY enqueued_at, run_id LIMIT $2";

static const char sql_failed_since[] =
	"SELECT run_id, coalesce(last_status, 'never fetched'), attempts, extract(epoch FROM now() - enqueued_at), "
	"  coalesce(last_error, ''), count(*) OVER () "
	"FROM sync_queue WHERE state = 'failed' AND finished_at >= $1::timestamptz "
	"ORDER BY finished_at, run_id LIMIT $2";

/* A column into dst as clean UTF-8 on one line, cut between characters. */
static void
copy(char *dst, size_t len, const PGresult *res, int row, int col)
{
	text_clean(dst, len, PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* The progress of a drain; see drain.h. */
int
drain_read_progress(PGconn *conn, const char *since, struct drain_progress *out, char *err, size_t errlen)
{
	PGresult *res = db_exec_params(conn, sql_progress, 1, NULL, &since, NULL, NULL, 0);
	long long *counts[] = { &out->pending, &out->done, &out->failed, &out->in_motion, &out->parked,
				&out->retrying, &out->waiting, &out->failed_since };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	rc = 0;
	for (int i = 0; i < 8; i++)
		*counts[i] = atoll(PQgetvalue(res, 0, i));
	copy(out->oldest_id, sizeof(out->oldest_id), res, 0, 8);
	copy(out->oldest_status, sizeof(out->oldest_status), res, 0, 9);
	out->oldest_waited = atof(PQgetvalue(res, 0, 10));
out:
	PQclear(res);
	return rc;
}

/* A list of runs of a drain; see drain.h. */
int
drain_read_runs(PGconn *conn, enum drain_list which, const char *since, struct drain_run *out, int max,
		long long *total, char *err, size_t errlen)
{
	char limit[16];
	const char *params[2] = { since, limit };
	PGresult *res;
	int n = -1;

	*total = 0;
	snprintf(limit, sizeof(limit), "%d", max);
	res = db_exec_params(conn, which == DRAIN_WAITING ? sql_waiting : sql_failed_since, 2, NULL, params, NULL,
			     NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		copy(out[i].run_id, sizeof(out[i].run_id), res, i, 0);
		copy(out[i].last_status, sizeof(out[i].last_status), res, i, 1);
		out[i].attempts = atoi(PQgetvalue(res, i, 2));
		out[i].waited = atof(PQgetvalue(res, i, 3));
		copy(out[i].last_error, sizeof(out[i].last_error), res, i, 4);
		*total = atoll(PQgetvalue(res, i, 5));
	}
out:
	PQclear(res);
	return n;
}
