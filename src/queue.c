/* The queue table: claiming due runs under a lease, and recording what became of them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "pgarray.h"
#include "budget.h"
#include "queue.h"
#include "text.h"

/*
 * Due runs by claim_key(): when each was due, plus 0 s for never fetched,
 * 60 s in motion, 600 s parked (sql/009), so new runs go first without
 * starving the others.  The index on claim_key() is read in order; every
 * due run has a key before now() + 600 s, which bounds the scan.  A
 * claimed row's next_attempt_at moves to the end of its lease, when it is
 * due again if the daemon never said what became of it; a daemon known
 * to be dead loses its runs sooner (ORPHANED).
 */
#define CLAIMABLE(before) \
	"WHERE state = 'pending' AND next_attempt_at <= now() " \
	"  AND claim_key(priority, next_attempt_at) <= now() + interval '600 s' " \
	"  AND (" before "::timestamptz IS NULL OR next_attempt_at <= " before "::timestamptz) " \
	"ORDER BY claim_key(priority, next_attempt_at)"
/*
 * Runs leased to a daemon that died (kill -9, a host lost): its budget row
 * is renewed every second, so its claims need not wait out sync.lease.
 * A row expires within seconds (budget_lease()), but a live daemon's row
 * expires too while the database restarts, or while a statement of 4 to
 * 30 s holds the loop's connection; its transfers in flight still end
 * and their results are written when it is back.  So a daemon counts as
 * gone only BUDGET_GONE_AFTER its row expired, when the renewals sweep
 * its row.  sync_queue_leased (sql/019) holds only leased rows.
 */
#define ORPHANED \
	"WHERE lease_owner IS NOT NULL AND state = 'pending' AND lease_expires_at > now() " \
	"  AND NOT EXISTS (SELECT 1 FROM sync_budget b WHERE b.owner = sync_queue.lease_owner " \
	"    AND b.expires_at > now() - interval '" BUDGET_GONE_AFTER "')"
static const char sql_claim[] =
	"UPDATE sync_queue q SET lease_owner = $1, "
	"  lease_expires_at = now() + make_interval(secs => $2::float8), "
	"  next_attempt_at = now() + make_interval(secs => $2::float8), "
	"  fetched_updated_at = listed_updated_at "
	"WHERE q.run_id = ANY ((ARRAY(SELECT run_id FROM sync_queue " ORPHANED " AND lease_owner <> $1 "
	"    LIMIT $3 FOR UPDATE SKIP LOCKED) "
	"  || ARRAY(SELECT run_id FROM sync_queue " CLAIMABLE("$4") " LIMIT $3 FOR UPDATE SKIP LOCKED))[1:$3]) "
	"RETURNING q.run_id, q.enqueue_gen, q.last_status, q.polls, q.attempts, q.lease_expires_at, "
	"  q.workflow_id, q.listed_updated_at IS NOT NULL, q.listed_status, q.listed_rechecks";

/* The runs queue_claim() would claim now, up to $1: what a daemon could send if it had the tokens. */
static const char sql_count_due[] =
	"SELECT least($1::bigint, (SELECT count(*) FROM (SELECT 1 FROM sync_queue " ORPHANED " LIMIT $1) o) "
	"  + (SELECT count(*) FROM (SELECT 1 FROM sync_queue " CLAIMABLE("$2") " LIMIT $1) due))";

/* A newer enqueue() (enqueue_gen moved on) turns giving up into "pending, due now". */
static const char sql_failure[] =
	"UPDATE sync_queue SET "
	"  state = CASE WHEN $3::bool AND enqueue_gen = $2::bigint THEN 'failed' ELSE 'pending' END, "
	"  attempts = CASE WHEN enqueue_gen = $2::bigint THEN attempts + 1 ELSE 0 END, "
	"  priority = CASE WHEN enqueue_gen = $2::bigint THEN 1 ELSE 0 END, "
	"  next_attempt_at = CASE WHEN enqueue_gen = $2::bigint THEN now() + make_interval(secs => $4::float8) "
	"    ELSE now() END, "
	"  finished_at = CASE WHEN $3::bool AND enqueue_gen = $2::bigint THEN now() END, "
	"  last_error = $5, last_http_status = $6::int, "
	"  lease_owner = NULL, lease_expires_at = NULL "
	"WHERE run_id = $1 AND lease_owner = $7 AND lease_expires_at = $8::timestamptz";

/*
 * A 404 for a run that is stored: it was deleted at Extend.  Its queue row
 * is done (pending and due now after a newer enqueue()), and deleted_at is
 * set the first time only.  A run never stored changes nothing here (nor
 * does a lost lease): its 404 is a failure as before.  The answer is 0
 * (nothing changed), 1 (deleted_at was set already) or 2 (set now).
 */
static const char sql_deleted[] =
	"WITH q AS ("
	"  UPDATE sync_queue SET "
	"    state = CASE WHEN enqueue_gen = $2::bigint THEN 'done' ELSE 'pending' END, "
	"    finished_at = CASE WHEN enqueue_gen = $2::bigint THEN now() END, "
	"    priority = CASE WHEN enqueue_gen = $2::bigint THEN priority ELSE 0 END, "
	"    next_attempt_at = now(), attempts = 0, last_error = NULL, last_http_status = 404, "
	"    lease_owner = NULL, lease_expires_at = NULL "
	"  WHERE run_id = $1 AND lease_owner = $3 AND lease_expires_at = $4::timestamptz "
	"    AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = $1) "
	"  RETURNING run_id), "
	"w AS (UPDATE workflow_runs SET deleted_at = now() "
	"  WHERE id = $1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM q) RETURNING id) "
	"SELECT (SELECT count(*) FROM q) + (SELECT count(*) FROM w)";

static const char sql_release[] =
	"UPDATE sync_queue SET lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = now() "
	"WHERE run_id = $1 AND lease_owner = $2 AND lease_expires_at = $3::timestamptz";

static const char sql_enqueue[] = "SELECT enqueue($1)";

/*
 * enqueue() for many IDs in one statement, with the effect of one call per
 * ID: a new ID is pending and due now; a known one becomes pending, never
 * fetched first, due now unless a daemon holds its lease, and its
 * enqueue_gen moves on by one per time it is given (one row may be changed
 * only once per statement, hence the GROUP BY).  The statement trigger
 * notifies once.
 */
static const char sql_enqueue_many[] =
	"INSERT INTO sync_queue AS q (run_id, enqueue_gen) "
	"SELECT id, count(*) - 1 FROM unnest($1::text[]) AS u (id) GROUP BY id "
	"ON CONFLICT (run_id) DO UPDATE "
	"SET state = 'pending', priority = 0, attempts = 0, polls = 0, finished_at = NULL, "
	"  enqueued_at = now(), enqueue_gen = q.enqueue_gen + EXCLUDED.enqueue_gen + 1, "
	"  next_attempt_at = CASE WHEN q.lease_owner IS NOT NULL AND q.lease_expires_at > now() "
	"    THEN q.next_attempt_at ELSE now() END";

/*
 * --retry-failed: failed runs (all, or those named) pending and due now,
 * counted from attempt 0 as after an enqueue, their last_error kept until
 * the next attempt writes its own (a success clears it).  The first row
 * says how many; each further row is a named ID that was not failed, with
 * its state (NULL: not queued), in the order given.
 */
static const char sql_retry_failed[] =
	"WITH retried AS ("
	"  UPDATE sync_queue SET state = 'pending', attempts = 0, polls = 0, priority = 0, finished_at = NULL, "
	"    next_attempt_at = now(), enqueue_gen = enqueue_gen + 1 "
	"  WHERE state = 'failed' AND ($1::text[] IS NULL OR run_id = ANY ($1::text[])) "
	"  RETURNING run_id) "
	"SELECT 0::bigint AS n, NULL AS run_id, NULL AS state, (SELECT count(*) FROM retried) AS retried "
	"UNION ALL "
	"SELECT u.n, u.id, q.state, NULL FROM unnest($1::text[]) WITH ORDINALITY AS u (id, n) "
	"  LEFT JOIN sync_queue q ON q.run_id = u.id "
	"WHERE NOT EXISTS (SELECT 1 FROM retried r WHERE r.run_id = u.id) "
	"ORDER BY 1";

/* The trigger wakes the daemons after an INSERT only. */
static const char sql_wake[] = "SELECT pg_catalog.pg_notify(pg_catalog.current_schema() || '.sync_queue', '')";

/* A pending run that keeps --drain running. */
#define BUSY "(last_status IS NULL OR attempts > 0 OR next_attempt_at <= now() " \
	"OR last_status IN ('PENDING', 'PROCESSING', 'CANCELLING') " \
	"OR (lease_owner IS NOT NULL AND lease_expires_at > now()) " \
	"OR listed_rechecks BETWEEN 1 AND 5)"

/*
 * Busy for --drain: never fetched, in motion, waiting for a retry, due
 * now, or waiting to re-check a status the list showed otherwise (1 to
 * QUEUE_LISTED_RECHECKS); a run parked after NEEDS_REVIEW (or an unknown status) is not.
 * Asked in three steps, each read from sync_queue_due in its order (the
 * ORDER BY keeps the planner from filtering the claim index instead), the
 * next asked only when the one before found nothing: a run of priority 0
 * or 1 (never parked) that is busy, which is almost always the first such
 * run; a parked run (priority 2) due now, found at the start of its range;
 * and only then a parked run that is busy otherwise (being fetched), which
 * reads each parked run once.  The next due time takes the earliest of
 * each priority (a skip scan over the index), not a scan of every pending
 * run.
 */
#define IN_DUE_ORDER "ORDER BY priority, next_attempt_at LIMIT 1"

static const char sql_outlook[] =
	"WITH RECURSIVE prio (p) AS ("
	"  SELECT min(priority) FROM sync_queue WHERE state = 'pending' "
	"  UNION ALL "
	"  SELECT (SELECT min(priority) FROM sync_queue WHERE state = 'pending' AND priority > prio.p) "
	"  FROM prio WHERE prio.p IS NOT NULL) "
	"SELECT (coalesce("
	"    (SELECT 1 FROM sync_queue WHERE state = 'pending' AND priority < 2 AND " BUSY " " IN_DUE_ORDER "), "
	"    (SELECT 1 FROM sync_queue WHERE state = 'pending' AND priority = 2 AND next_attempt_at <= now() "
	"     " IN_DUE_ORDER "), "
	"    (SELECT 1 FROM sync_queue WHERE state = 'pending' AND priority >= 2 AND " BUSY " " IN_DUE_ORDER ")"
	"  ) IS NOT NULL)::int, "
	"  extract(epoch FROM (SELECT min((SELECT min(next_attempt_at) FROM sync_queue "
	"    WHERE state = 'pending' AND priority = prio.p)) FROM prio WHERE prio.p IS NOT NULL) - now())";

/* Up to this many queue rows, done runs are counted; beyond, estimated. */
#define QUEUE_COUNT_EXACT_MAX 100000

/*
 * Pending runs and failed ones only: the partial indexes answer it (the
 * claim's, sync_queue_failed), however many runs are done.  With 100,000
 * rows, 5,000 of them pending and 5,000 failed: 2.9 ms (median of 300), the
 * pending runs alone 2.3 ms.
 */
static const char sql_stats[] =
	"SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= now()), "
	"  coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0), "
	"  (SELECT count(*) FROM sync_queue WHERE state = 'failed') "
	"FROM sync_queue WHERE state = 'pending'";

/*
 * The done ones: a scan of the whole table (10.5 ms, median of 300, at
 * 100,000 rows), so asked for rarely, and only of a small queue.
 */
static const char sql_stats_done[] = "SELECT count(*) FROM sync_queue WHERE state = 'done'";

/*
 * A large queue's rows, estimated as the planner does, without reading the
 * table: reltuples scaled to its size now; -1 before the first ANALYZE.
 */
static const char sql_stats_estimate[] =
	"SELECT CASE WHEN c.relpages > 0 "
	"    THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8) "
	"    ELSE c.reltuples END "
	"FROM pg_class c WHERE c.oid = 'sync_queue'::regclass";

static const struct db_statement statements[] = {
	{ "queue_claim", sql_claim },
	{ "queue_failure", sql_failure },
	{ "queue_release", sql_release },
	{ "queue_enqueue", sql_enqueue },
	{ "queue_enqueue_many", sql_enqueue_many },
	{ "queue_outlook", sql_outlook },
	{ "queue_count_due", sql_count_due },
	{ "queue_stats", sql_stats },
	{ "queue_stats_done", sql_stats_done },
	{ "queue_stats_estimate", sql_stats_estimate },
};

int
queue_prepare(PGconn *conn, char *err, size_t errlen)
{
	return db_prepare(conn, statements, sizeof(statements) / sizeof(statements[0]), err, errlen);
}

static char *
dup_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

/* Claim due runs; see queue.h. */
int
queue_claim(PGconn *conn, const char *owner, double lease, int limit, const char *due_before,
	    struct claim ***out, char *err, size_t errlen)
{
	char lease_s[32], limit_s[16];
	const char *params[4] = { owner, lease_s, limit_s, due_before };
	struct claim **c = NULL;
	PGresult *res;
	int n = -1;

	*out = NULL;
	snprintf(lease_s, sizeof(lease_s), "%.3f", lease);
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	res = db_exec_prepared(conn, "queue_claim", 4, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	n = PQntuples(res);
	if (n == 0)
		goto out;
	c = calloc((size_t)n, sizeof(*c));
	if (c == NULL)
		goto oom;
	for (int i = 0; i < n; i++) {
		c[i] = calloc(1, sizeof(**c));
		if (c[i] == NULL)
			goto oom;
		c[i]->run_id = dup_value(res, i, 0);
		c[i]->gen = dup_value(res, i, 1);
		c[i]->last_status = dup_value(res, i, 2);
		c[i]->polls = atoi(PQgetvalue(res, i, 3));
		c[i]->attempts = atoi(PQgetvalue(res, i, 4));
		c[i]->lease = dup_value(res, i, 5);
		c[i]->workflow_id = dup_value(res, i, 6);
		c[i]->listed = strcmp(PQgetvalue(res, i, 7), "t") == 0;
		c[i]->listed_status = dup_value(res, i, 8);
		c[i]->listed_rechecks = atoi(PQgetvalue(res, i, 9));
		if (c[i]->run_id == NULL || c[i]->gen == NULL || c[i]->lease == NULL ||
		    (c[i]->listed_status == NULL && !PQgetisnull(res, i, 8)) ||
		    (c[i]->last_status == NULL && !PQgetisnull(res, i, 2)) ||
		    (c[i]->workflow_id == NULL && !PQgetisnull(res, i, 6)))
			goto oom;
	}
	*out = c;
	goto out;
oom:
	/* the rows stay leased until their lease ends: nothing is lost */
	snprintf(err, errlen, "out of memory");
	for (int i = 0; c != NULL && i < n; i++)
		queue_claim_free(c[i]);
	free(c);
	n = -1;
out:
	PQclear(res);
	return n;
}

void
queue_claim_free(struct claim *c)
{
	if (c == NULL)
		return;
	free(c->run_id);
	free(c->gen);
	free(c->last_status);
	free(c->lease);
	free(c->workflow_id);
	free(c->listed_status);
	free(c);
}

/* Run a prepared UPDATE; returns rows changed, or -1 (QUEUE_LOCKED: a lock held elsewhere) with err set. */
static int
exec_update(PGconn *conn, const char *name, int nparams, const char *const *params, char *err, size_t errlen)
{
	PGresult *res = db_exec_prepared(conn, name, nparams, params, NULL, NULL, 0);
	int n = -1;

	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		n = atoi(PQcmdTuples(res));
	else
		db_error(conn, res, err, errlen);
	if (n < 0 && db_error_locked(res))
		n = QUEUE_LOCKED;
	PQclear(res);
	return n;
}

/* Record a failed attempt; see queue.h. */
int
queue_record_failure(PGconn *conn, const struct claim *c, const char *owner, bool failed,
		     double delay, const char *error, long http_status, char *err, size_t errlen)
{
	char delay_s[32], http_s[16], text[1024];
	const char *params[8] = { c->run_id, c->gen, failed ? "true" : "false", delay_s, text,
				  http_status > 0 ? http_s : NULL, owner, c->lease };

	/* PostgreSQL refuses ill-formed UTF-8: an error quoting the API must not lose the run */
	text_clean(text, sizeof(text), error);
	snprintf(delay_s, sizeof(delay_s), "%.3f", delay);
	snprintf(http_s, sizeof(http_s), "%ld", http_status);
	return exec_update(conn, "queue_failure", 8, params, err, errlen);
}

/* Record a 404 for a stored run as its deletion at Extend; see queue.h. */
int
queue_record_deleted(PGconn *conn, const struct claim *c, const char *owner, char *err, size_t errlen)
{
	const char *params[4] = { c->run_id, c->gen, owner, c->lease };
	/*
	 * Not prepared with the others at connect: preparing an UPDATE of
	 * workflow_runs takes its lock, and a session holding that table (a
	 * LOCK TABLE, a long index build) must not stop every connection.
	 */
	PGresult *res = db_exec_params(conn, sql_deleted, 4, NULL, params, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		rc = atoi(PQgetvalue(res, 0, 0));
	} else {
		db_error(conn, res, err, errlen);
		if (db_error_locked(res))
			rc = QUEUE_LOCKED;
	}
	PQclear(res);
	return rc;
}

int
queue_release(PGconn *conn, const struct claim *c, const char *owner, char *err, size_t errlen)
{
	const char *params[3] = { c->run_id, owner, c->lease };

	return exec_update(conn, "queue_release", 3, params, err, errlen) < 0 ? -1 : 0;
}

int
queue_enqueue(PGconn *conn, const char *run_id, char *err, size_t errlen)
{
	return exec_update(conn, "queue_enqueue", 1, &run_id, err, errlen) < 0 ? -1 : 0;
}

/* enqueue() many IDs in one statement; see queue.h. */
int
queue_enqueue_many(PGconn *conn, const char *const *run_ids, size_t n, char *err, size_t errlen)
{
	struct buf ids;
	int rc;

	if (n == 0)
		return 0;
	buf_init(&ids, (size_t)1 << 30);
	if (pgarray_append(&ids, run_ids, n, 1) < 0) {
		snprintf(err, errlen, "out of memory");
		buf_free(&ids);
		return -1;
	}
	rc = exec_update(conn, "queue_enqueue_many", 1, (const char *const *)&ids.data, err, errlen) < 0 ? -1 : 0;
	buf_free(&ids);
	return rc;
}

/* Make failed runs pending again; see queue.h. */
PGresult *
queue_retry_failed(PGconn *conn, const char *const *run_ids, size_t n, char *err, size_t errlen)
{
	struct buf ids;
	PGresult *res = NULL;
	const char *param = NULL;

	buf_init(&ids, (size_t)1 << 30);
	if (n > 0) {
		if (pgarray_append(&ids, run_ids, n, 1) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		param = ids.data;
	}
	res = db_exec_params(conn, sql_retry_failed, 1, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
		db_error(conn, res, err, errlen);
		PQclear(res);
		res = NULL;
		goto out;
	}
	/* the runs are pending already: a daemon that misses the wake-up finds them at its next scan */
	if (atoll(PQgetvalue(res, 0, 3)) > 0)
		(void)db_exec(conn, sql_wake, err, errlen);
out:
	buf_free(&ids);
	return res;
}

/* ANALYZE after a bulk enqueue; see queue.h. */
void
queue_analyze_after(PGconn *conn, long long n)
{
	char err[DB_ERR_SIZE];

	if (n < QUEUE_ANALYZE_AFTER || !db_usable(conn))
		return;
	fflush(stdout);		/* what the command printed shows now, not after the ANALYZE */
	/* SKIP_LOCKED: another ANALYZE or VACUUM of the queue under way does as well, and is not waited for */
	if (db_exec(conn, "ANALYZE (SKIP_LOCKED) sync_queue", err, sizeof(err)) < 0)
		log_warning("enqueued %lld runs, but could not ANALYZE the queue (autovacuum will): %s", n, err);
}

int
queue_outlook(PGconn *conn, struct queue_outlook *out, char *err, size_t errlen)
{
	PGresult *res = db_exec_prepared(conn, "queue_outlook", 0, NULL, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	out->busy = atoll(PQgetvalue(res, 0, 0));
	out->next_due = PQgetisnull(res, 0, 1) ? -1 : atof(PQgetvalue(res, 0, 1));
	if (out->next_due < 0 && !PQgetisnull(res, 0, 1))
		out->next_due = 0;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int
queue_db_now(PGconn *conn, char *out, size_t outlen, char *err, size_t errlen)
{
	PGresult *res = db_exec_query(conn,
				      "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		db_error(conn, res, err, errlen);
	}
	PQclear(res);
	return rc;
}

int
queue_stats(PGconn *conn, struct queue_stats *out, bool done, char *err, size_t errlen)
{
	PGresult *res = db_exec_prepared(conn, "queue_stats", 0, NULL, NULL, NULL, 0);
	double rows;
	int rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	out->pending = atoll(PQgetvalue(res, 0, 0));
	out->due = atoll(PQgetvalue(res, 0, 1));
	out->oldest_due = atof(PQgetvalue(res, 0, 2));
	out->failed = atoll(PQgetvalue(res, 0, 3));
	if (done) {
		PQclear(res);
		res = db_exec_prepared(conn, "queue_stats_estimate", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			db_error(conn, res, err, errlen);
			goto out;
		}
		rows = atof(PQgetvalue(res, 0, 0));
		if (rows > QUEUE_COUNT_EXACT_MAX) {
			out->done = llround(rows) - out->pending - out->failed;
			if (out->done < 0)
				out->done = 0;
			rc = 0;
			goto out;
		}
		PQclear(res);
		res = db_exec_prepared(conn, "queue_stats_done", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			db_error(conn, res, err, errlen);
			goto out;
		}
		out->done = atoll(PQgetvalue(res, 0, 0));
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* The runs due that could be claimed; see queue.h. */
int
queue_count_due(PGconn *conn, int limit, const char *due_before, long *out, char *err, size_t errlen)
{
	char lim[16];
	const char *params[2] = { lim, due_before };
	PGresult *res;
	int rc = -1;

	snprintf(lim, sizeof(lim), "%d", limit);
	res = db_exec_prepared(conn, "queue_count_due", 2, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	*out = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* A lease owner's name; see queue.h. */
void
queue_make_owner(char *owner, size_t len)
{
	char host[64] = "localhost";
	unsigned int nonce;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	nonce = (unsigned int)random();
	snprintf(owner, len, "%s:%ld:%08x", host, (long)getpid(), nonce);
}
