/* Writes one run's rows and its queue row in one transaction. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "pgarray.h"
#include "store.h"

/*
 * The compare-and-set on the lease comes first: it locks the queue row, so
 * a daemon whose lease was taken over writes nothing.  The snapshot is the run as it is now unless something newer happened
 * meanwhile: a newer enqueue() (enqueue_gen moved on), or a sweep that
 * listed the run updated after the summary known when it was claimed
 * (listed_updated_at past fetched_updated_at).  Then the run stays pending
 * and is due now, so that change is fetched too.
 */
#define SNAPSHOT_CURRENT \
	"(enqueue_gen = $2::bigint AND (listed_updated_at IS NULL OR listed_updated_at <= fetched_updated_at))"

static const char sql_queue[] =
	"UPDATE sync_queue SET "
	"  state = CASE WHEN " SNAPSHOT_CURRENT " THEN $3 ELSE 'pending' END, "
	"  next_attempt_at = CASE WHEN " SNAPSHOT_CURRENT " THEN now() + make_interval(secs => $4::float8) "
	"    ELSE now() END, "
	"  finished_at = CASE WHEN " SNAPSHOT_CURRENT " AND $3 = 'done' THEN now() END, "
	"  polls = $5::int, attempts = 0, last_status = $6, last_error = NULL, last_http_status = 200, "
	"  priority = CASE WHEN " SNAPSHOT_CURRENT " THEN $8::smallint ELSE 0 END, "
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

/* Append "col1, col2, ..." of def; returns 0 or a negative errno. */
static int
append_columns(struct buf *sql, const struct table_def *def)
{
	for (int i = 0; i < def->ncols; i++) {
		if ((i > 0 && buf_append_str(sql, ", ")) || buf_append_str(sql, def->cols[i]))
			return -ENOMEM;
	}
	return 0;
}

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
	if (buf_append_str(&sql, "INSERT INTO ") || buf_append_str(&sql, def->name) || buf_append_str(&sql, " (") ||
	    append_columns(&sql, def) < 0)
		goto oom;
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

/*
 * Bulk INSERT for child table t, named "store_bulk_<table>": every row of a
 * run in one statement, a text[] parameter per column, unnested in step and
 * cast to the column's type, as the row-at-a-time INSERT's parameters were.
 * The casts come from the catalog (format_type), never from data.
 */
static int
prepare_bulk(PGconn *conn, enum table_id t, char *err, size_t errlen)
{
	static const char sql_types[] =
		"SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
		"WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped";
	const struct table_def *def = &normalize_tables[t];
	const char *relname = def->name;
	char name[96], p[32];
	struct buf sql;
	PGresult *types;
	int rc = -1;

	buf_init(&sql, 16384);
	types = db_exec_params(conn, sql_types, 1, NULL, &relname, NULL, NULL, 0);
	if (PQresultStatus(types) != PGRES_TUPLES_OK) {
		db_error(conn, types, err, errlen);
		goto out;
	}
	if (buf_append_str(&sql, "INSERT INTO ") || buf_append_str(&sql, def->name) || buf_append_str(&sql, " (") ||
	    append_columns(&sql, def) < 0)
		goto oom;
	if (buf_append_str(&sql, ") SELECT "))
		goto oom;
	for (int i = 0; i < def->ncols; i++) {
		const char *type = NULL;

		for (int r = 0; r < PQntuples(types) && type == NULL; r++) {
			if (strcmp(PQgetvalue(types, r, 0), def->cols[i]) == 0)
				type = PQgetvalue(types, r, 1);
		}
		if (type == NULL) {
			snprintf(err, errlen, "table \"%s\" has no column \"%s\"", def->name, def->cols[i]);
			goto out;
		}
		if ((i > 0 && buf_append_str(&sql, ", ")) || buf_append_str(&sql, def->cols[i]))
			goto oom;
		if (strcmp(type, "text") != 0 && (buf_append_str(&sql, "::") || buf_append_str(&sql, type)))
			goto oom;
	}
	if (buf_append_str(&sql, " FROM unnest("))
		goto oom;
	for (int i = 0; i < def->ncols; i++) {
		snprintf(p, sizeof(p), "%s$%d::text[]", i > 0 ? ", " : "", i + 1);
		if (buf_append_str(&sql, p))
			goto oom;
	}
	if (buf_append_str(&sql, ") AS u (") || append_columns(&sql, def) < 0 || buf_append_str(&sql, ")"))
		goto oom;
	snprintf(name, sizeof(name), "store_bulk_%s", def->name);
	rc = prepare_one(conn, name, sql.data, err, errlen);
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	PQclear(types);
	buf_free(&sql);
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
	if (prepare_insert(conn, T_RUNS, err, errlen) < 0)
		return -1;
	for (int t = T_RUNS + 1; t < T_COUNT; t++) {
		if (prepare_bulk(conn, (enum table_id)t, err, errlen) < 0)
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

/* The widest table's column count: the bulk statements' parameters. */
#define BULK_MAX_COLS 24

/* A table's rows as one text[] literal per column, ready to be a bulk statement's parameters. */
struct bulk {
	struct buf cols[BULK_MAX_COLS];
	const char *params[BULK_MAX_COLS];
};

/* The largest array literal PostgreSQL takes as one parameter. */
#define BULK_MAX_LITERAL ((size_t)1 << 30)

static void
bulk_init(struct bulk *bk)
{
	for (int i = 0; i < BULK_MAX_COLS; i++)
		buf_init(&bk->cols[i], BULK_MAX_LITERAL);
}

static void
bulk_free(struct bulk *bk)
{
	for (int i = 0; i < BULK_MAX_COLS; i++)
		buf_free(&bk->cols[i]);
}

/* Fill bk->params with the column arrays of table t's rows; returns 0 or -1 with err set. */
static int
bulk_build(struct bulk *bk, const struct run_rows *rr, enum table_id t, char *err, size_t errlen)
{
	const struct table_def *def = &normalize_tables[t];
	const struct table_rows *tr = &rr->t[t];

	if (def->ncols > BULK_MAX_COLS) {
		snprintf(err, errlen, "table \"%s\" has more than %d columns", def->name, BULK_MAX_COLS);
		return -1;
	}
	for (int i = 0; i < def->ncols; i++) {
		buf_reset(&bk->cols[i]);
		if (pgarray_append(&bk->cols[i], (const char *const *)tr->cells + i, tr->nrows,
				   (size_t)def->ncols) < 0) {
			snprintf(err, errlen, "the rows of table \"%s\" are too large to send", def->name);
			return -1;
		}
		bk->params[i] = bk->cols[i].data;
	}
	return 0;
}

/* Row r of the run's own table (one row; upserted by itself, not in bulk). */
static const char *const *
run_row(const struct run_rows *rr, size_t r)
{
	return (const char *const *)rr->t[T_RUNS].cells + r * (size_t)normalize_tables[T_RUNS].ncols;
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
	struct bulk bk;
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
	for (size_t r = 0; r < rr->t[T_RUNS].nrows && rc == 0; r++)
		rc = pipeline_send(&p, "store_workflow_runs", normalize_tables[T_RUNS].ncols, run_row(rr, r));
	/* libpq copies the parameters when sending: the buffers are reused for the next table */
	bulk_init(&bk);
	for (int t = T_RUNS + 1; t < T_COUNT && rc == 0; t++) {
		const struct table_def *def = &normalize_tables[t];

		if (rr->t[t].nrows == 0)
			continue;
		if (bulk_build(&bk, rr, (enum table_id)t, err, errlen) < 0) {
			p.failed = true;
			rc = -1;
			break;
		}
		snprintf(name, sizeof(name), "store_bulk_%s", def->name);
		rc = pipeline_send(&p, name, def->ncols, bk.params);
	}
	bulk_free(&bk);
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
	struct bulk bk;
	char name[96];
	int rc = 0;

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		snprintf(name, sizeof(name), "store_delete_%zu", i);
		rc = exec_prepared(conn, name, 1, &rr->id, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (size_t r = 0; r < rr->t[T_RUNS].nrows; r++) {
		rc = exec_prepared(conn, "store_workflow_runs", normalize_tables[T_RUNS].ncols, run_row(rr, r), err,
				   errlen);
		if (rc < 0)
			return rc;
	}
	bulk_init(&bk);
	for (int t = T_RUNS + 1; t < T_COUNT; t++) {
		const struct table_def *def = &normalize_tables[t];

		if (rr->t[t].nrows == 0)
			continue;
		snprintf(name, sizeof(name), "store_bulk_%s", def->name);
		if (bulk_build(&bk, rr, (enum table_id)t, err, errlen) < 0) {
			rc = -1;
			break;
		}
		rc = exec_prepared(conn, name, def->ncols, bk.params, err, errlen);
		if (rc < 0)
			break;
	}
	bulk_free(&bk);
	return rc;
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
