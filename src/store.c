/* Writes one run's rows and its queue row in one transaction. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "store.h"

/*
 * The compare-and-set on the lease comes first: it locks the queue row, so
 * a daemon whose lease was taken over writes nothing.  A newer enqueue()
 * (enqueue_gen moved on) keeps the run pending and due now.
 */
static const char sql_queue[] =
	"UPDATE sync_queue SET "
	"  state = CASE WHEN enqueue_gen = $2::bigint THEN $3 ELSE 'pending' END, "
	"  next_attempt_at = CASE WHEN enqueue_gen = $2::bigint THEN now() + make_interval(secs => $4::float8) "
	"    ELSE now() END, "
	"  finished_at = CASE WHEN enqueue_gen = $2::bigint AND $3 = 'done' THEN now() END, "
	"  polls = $5::int, attempts = 0, last_status = $6, last_error = NULL, last_http_status = 200, "
	"  priority = CASE WHEN enqueue_gen = $2::bigint THEN $8::smallint ELSE 0 END, "
	"  last_synced_at = now(), lease_owner = NULL, lease_expires_at = NULL "
	"WHERE run_id = $1 AND lease_owner = $7 AND lease_expires_at = $9::timestamptz";

/* A history row when the run is new, or its status is not the last one recorded. */
static const char sql_history[] =
	"INSERT INTO run_status_history (run_id, status) SELECT $1, $2 "
	"WHERE (SELECT status FROM run_status_history WHERE run_id = $1 ORDER BY id DESC LIMIT 1) "
	"  IS DISTINCT FROM $2";

/* The stored snapshot is this one already (same content hash): nothing but the queue row changes. */
static const char sql_unchanged[] = "SELECT 1 FROM workflow_runs WHERE id = $1 AND content_hash = $2";

/* Deleting these three cascades to every other child table. */
static const char *const parents[] = { "workflow_run_files", "processor_runs", "step_runs" };

/* INSERT for table t, named "store_<table>"; the run itself is an upsert. */
static int
prepare_insert(PGconn *conn, enum table_id t, char *err, size_t errlen)
{
	const struct table_def *def = &normalize_tables[t];
	char name[96];
	struct buf sql;
	PGresult *res;
	int rc = -1;

	buf_init(&sql, 16384);
	if (buf_append_str(&sql, "INSERT INTO ") || buf_append_str(&sql, def->name) || buf_append_str(&sql, " ("))
		goto oom;
	for (int i = 0; i < def->ncols; i++) {
		if ((i > 0 && buf_append_str(&sql, ", ")) || buf_append_str(&sql, def->cols[i]))
			goto oom;
	}
	if (buf_append_str(&sql, ") VALUES ("))
		goto oom;
	for (int i = 0; i < def->ncols; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%s$%d", i > 0 ? ", " : "", i + 1);
		if (buf_append_str(&sql, p))
			goto oom;
	}
	if (buf_append_str(&sql, ")"))
		goto oom;
	if (t == T_RUNS) {
		/* every column but the key, and synced_at */
		if (buf_append_str(&sql, " ON CONFLICT (id) DO UPDATE SET synced_at = now()"))
			goto oom;
		for (int i = 1; i < def->ncols; i++) {
			if (buf_append_str(&sql, ", ") || buf_append_str(&sql, def->cols[i]) ||
			    buf_append_str(&sql, " = EXCLUDED.") || buf_append_str(&sql, def->cols[i]))
				goto oom;
		}
	}
	snprintf(name, sizeof(name), "store_%s", def->name);
	res = db_prepare_statement(conn, name, sql.data, 0, NULL);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rc = 0;
	else
		db_error(conn, res, err, errlen);
	PQclear(res);
	buf_free(&sql);
	return rc;
oom:
	snprintf(err, errlen, "out of memory");
	buf_free(&sql);
	return -1;
}

static int
prepare_one(PGconn *conn, const char *name, const char *sql, char *err, size_t errlen)
{
	PGresult *res = db_prepare_statement(conn, name, sql, 0, NULL);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc < 0)
		db_error(conn, res, err, errlen);
	PQclear(res);
	return rc;
}

int
store_prepare(PGconn *conn, char *err, size_t errlen)
{
	char name[64], sql[128];

	if (prepare_one(conn, "store_queue", sql_queue, err, errlen) < 0 ||
	    prepare_one(conn, "store_history", sql_history, err, errlen) < 0 ||
	    prepare_one(conn, "store_unchanged", sql_unchanged, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		snprintf(name, sizeof(name), "store_delete_%zu", i);
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE run_id = $1", parents[i]);
		if (prepare_one(conn, name, sql, err, errlen) < 0)
			return -1;
	}
	for (int t = 0; t < T_COUNT; t++) {
		if (prepare_insert(conn, (enum table_id)t, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/*
 * Execute a prepared statement that returns no rows; rows affected, or -1
 * with err set on failure (STORE_RECURS when it would fail again alike).
 */
static int
exec_prepared(PGconn *conn, const char *name, int n, const char *const *params, char *err, size_t errlen)
{
	PGresult *res = db_exec_prepared(conn, name, n, params, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rc = atoi(PQcmdTuples(res));
	else
		db_error(conn, res, err, errlen);
	if (rc < 0 && db_error_recurs(res))
		rc = STORE_RECURS;
	if (rc < 0 && db_error_locked(res))
		rc = STORE_LOCKED;
	PQclear(res);
	return rc;
}

#ifdef LIBPQ_HAS_PIPELINING
/*
 * A run's deletes and inserts go out in pipeline mode: one round trip per
 * PIPELINE_CHUNK statements instead of one each.  Results are read at every
 * chunk, so neither side's socket buffer fills up (libpq's deadlock warning).
 */
#define PIPELINE_CHUNK 256

struct pipeline {
	PGconn *conn;
	int queued;		/* statements sent, results not read yet */
	char *err;
	size_t errlen;
	bool failed;
	bool recurs;		/* the first error will recur with the same rows */
	bool locked;		/* the first error was a lock held elsewhere */
};

/* Send a sync and read the results of everything queued; the first error goes to err. */
static int
pipeline_flush(struct pipeline *p)
{
	PGresult *res;

	if (p->queued == 0)
		return p->failed ? -1 : 0;
	if (PQpipelineSync(p->conn) != 1) {
		if (!p->failed)
			db_error(p->conn, NULL, p->err, p->errlen);
		p->failed = true;
		return -1;
	}
	while (p->queued > 0) {
		res = db_get_result(p->conn);
		if (res == NULL && db_broken(p->conn)) {
			if (!p->failed)
				db_error(p->conn, NULL, p->err, p->errlen);
			p->failed = true;
			return -1;
		}
		if (res == NULL) {
			p->queued--;	/* one statement's results are over */
			continue;
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !p->failed) {
			/* later statements only say "aborted": keep the first, real reason */
			db_error(p->conn, res, p->err, p->errlen);
			p->failed = true;
			p->recurs = db_error_recurs(res);
			p->locked = db_error_locked(res);
		}
		PQclear(res);
		if (PQstatus(p->conn) == CONNECTION_BAD) {
			if (!p->failed)
				db_error(p->conn, NULL, p->err, p->errlen);
			return -1;
		}
	}
	res = db_get_result(p->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !p->failed) {
		db_error(p->conn, res, p->err, p->errlen);
		p->failed = true;
	}
	PQclear(res);
	return p->failed ? -1 : 0;
}

static int
pipeline_send(struct pipeline *p, const char *name, int n, const char *const *params)
{
	if (PQsendQueryPrepared(p->conn, name, n, params, NULL, NULL, 0) != 1) {
		if (!p->failed)
			db_error(p->conn, NULL, p->err, p->errlen);
		p->failed = true;
		return -1;
	}
	if (++p->queued >= PIPELINE_CHUNK)
		return pipeline_flush(p);
	return 0;
}

static int
write_rows(PGconn *conn, const struct run_rows *rr, char *err, size_t errlen)
{
	struct pipeline p = { conn, 0, err, errlen, false, false, false };
	char name[96];
	int rc = 0;

	if (PQenterPipelineMode(conn) != 1) {
		db_error(conn, NULL, err, errlen);
		return -1;
	}
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]) && rc == 0; i++) {
		snprintf(name, sizeof(name), "store_delete_%zu", i);
		rc = pipeline_send(&p, name, 1, &rr->id);
	}
	for (int t = 0; t < T_COUNT && rc == 0; t++) {
		const struct table_def *def = &normalize_tables[t];

		snprintf(name, sizeof(name), "store_%s", def->name);
		for (size_t r = 0; r < rr->t[t].nrows && rc == 0; r++) {
			const char *const *row = (const char *const *)rr->t[t].cells + r * (size_t)def->ncols;

			rc = pipeline_send(&p, name, def->ncols, row);
		}
	}
	if (pipeline_flush(&p) < 0)
		rc = -1;
	/*
	 * Only possible once every result is read.  When it is not, the caller
	 * sees a connection still in pipeline mode and replaces it (db_gone).
	 */
	if (PQexitPipelineMode(conn) != 1 && rc == 0) {
		db_error(conn, NULL, err, errlen);
		rc = -1;
	}
	if (rc < 0 && p.recurs)
		return STORE_RECURS;
	return rc < 0 && p.locked ? STORE_LOCKED : rc;
}
#else
static int
write_rows(PGconn *conn, const struct run_rows *rr, char *err, size_t errlen)
{
	char name[96];
	int rc;

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		snprintf(name, sizeof(name), "store_delete_%zu", i);
		rc = exec_prepared(conn, name, 1, &rr->id, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (int t = 0; t < T_COUNT; t++) {
		const struct table_def *def = &normalize_tables[t];

		snprintf(name, sizeof(name), "store_%s", def->name);
		for (size_t r = 0; r < rr->t[t].nrows; r++) {
			const char *const *row = (const char *const *)rr->t[t].cells + r * (size_t)def->ncols;

			rc = exec_prepared(conn, name, def->ncols, row, err, errlen);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}
#endif

/* Write one run in one transaction; see store.h. */
int
store_write_run(PGconn *conn, const struct run_rows *rr, const struct claim *c, const char *owner,
		const struct store_next *next, char *err, size_t errlen)
{
	char delay_s[32], polls_s[16], prio_s[8], why[DB_ERR_SIZE];
	const char *params[9] = { c->run_id, c->gen, next->state, delay_s, polls_s, rr->status, owner, prio_s,
				  c->lease };
	int n;

	snprintf(delay_s, sizeof(delay_s), "%.3f", next->delay);
	snprintf(polls_s, sizeof(polls_s), "%d", next->polls);
	snprintf(prio_s, sizeof(prio_s), "%d", next->priority);
	if (db_exec(conn, "BEGIN", err, errlen) < 0)
		return -1;
	n = exec_prepared(conn, "store_queue", 9, params, err, errlen);
	if (n <= 0)
		goto rollback;
	{
		const char *same[2] = { rr->id, normalize_cell(rr, T_RUNS, 0, normalize_col(T_RUNS, "content_hash")) };
		PGresult *res = db_exec_prepared(conn, "store_unchanged", 2, same, NULL, NULL, 0);
		int found = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;

		if (found < 0)
			db_error(conn, res, err, errlen);
		PQclear(res);
		if (found < 0) {
			n = -1;
			goto rollback;
		}
		if (found > 0)
			goto commit;
	}
	{
		const char *hist[2] = { rr->id, rr->status };

		n = exec_prepared(conn, "store_history", 2, hist, err, errlen);
		if (n < 0)
			goto rollback;
	}
	n = write_rows(conn, rr, err, errlen);
	if (n < 0)
		goto rollback;
commit:
	if (db_exec(conn, "COMMIT", err, errlen) < 0)
		return -1;
	return 1;
rollback:
	(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	return n;
}
