/* Writes runs' rows and their queue rows: several runs per transaction, each all or nothing. */
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
 * The compare-and-set on the lease comes first: it locks the queue rows, so
 * a daemon whose lease was taken over writes nothing for that run.  The
 * snapshot is the run as it is now unless something newer happened
 * meanwhile: a newer enqueue() (enqueue_gen moved on), or a sweep that
 * listed the run updated after the summary known when it was claimed
 * (listed_updated_at past fetched_updated_at).  Then the run stays pending
 * and is due now, so that change is fetched too.  The same statement says
 * for each run whether its lease held, or its row is locked by another
 * session (skipped: that run waits, the others go on), and which runs are
 * stored already as they are (same content hash): for those nothing but
 * the queue row changes.  The queue rows are found by their keys
 * (run_id = ANY), never by a scan, however long the queue; the stored
 * runs likewise, one key at a time.
 */
#define SNAPSHOT_CURRENT \
	"(q.enqueue_gen = b.gen AND (q.listed_updated_at IS NULL OR q.listed_updated_at <= q.fetched_updated_at))"

static const char sql_queue[] =
	"WITH b AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::int[], "
	"                               $6::text[], $7::smallint[], $8::timestamptz[], $9::text[], $10::smallint[]) "
	"    AS b (run_id, gen, state, delay, polls, status, priority, lease, content_hash, rechecks)), "
	/* a queue row another session holds is skipped, not waited for: that run alone is tried later */
	"l AS (SELECT run_id FROM sync_queue WHERE run_id = ANY ($1::text[]) FOR UPDATE SKIP LOCKED), "
	"u AS ("
	"  UPDATE sync_queue q SET "
	"    state = CASE WHEN " SNAPSHOT_CURRENT " THEN b.state ELSE 'pending' END, "
	"    next_attempt_at = CASE WHEN " SNAPSHOT_CURRENT " THEN now() + make_interval(secs => b.delay) "
	"      ELSE now() END, "
	"    finished_at = CASE WHEN " SNAPSHOT_CURRENT " AND b.state = 'done' THEN now() END, "
	"    polls = b.polls, attempts = 0, last_status = b.status, last_error = NULL, last_http_status = 200, "
	"    priority = CASE WHEN " SNAPSHOT_CURRENT " THEN b.priority ELSE 0 END, "
	"    listed_rechecks = CASE WHEN " SNAPSHOT_CURRENT " THEN b.rechecks ELSE 0 END, "
	"    last_synced_at = now(), lease_owner = NULL, lease_expires_at = NULL "
	"  FROM b "
	"  WHERE q.run_id = ANY ($1::text[]) AND q.run_id = b.run_id AND q.run_id IN (SELECT run_id FROM l) "
	"    AND q.lease_owner = $11 AND q.lease_expires_at = b.lease "
	"  RETURNING q.run_id, b.content_hash), "
	/* a run deleted at Extend that a GET finds again exists again (stored as it is, or not) */
	"d AS (UPDATE workflow_runs w SET deleted_at = NULL FROM u WHERE w.id = u.run_id AND w.deleted_at IS NOT NULL) "
	"SELECT b.run_id, "
	/* (a row deleted meanwhile may read 'locked' once, and 'lost' at the retry) */
	"  CASE WHEN u.run_id IS NOT NULL THEN 'held' "
	"    WHEN b.run_id NOT IN (SELECT run_id FROM l) "
	"      AND EXISTS (SELECT 1 FROM sync_queue x WHERE x.run_id = b.run_id) THEN 'locked' "
	"    ELSE 'lost' END, "
	/* a scalar subquery, not EXISTS: the planner may hash an EXISTS, reading all of workflow_runs */
	"  coalesce((SELECT w.content_hash = u.content_hash FROM workflow_runs w WHERE w.id = u.run_id), false) "
	"FROM b LEFT JOIN u ON u.run_id = b.run_id";

/* The queue statement's array parameters, in order, and the owner's. */
enum { Q_RUN_ID, Q_GEN, Q_STATE, Q_DELAY, Q_POLLS, Q_STATUS, Q_PRIORITY, Q_LEASE, Q_HASH, Q_RECHECKS, Q_COLS };

/*
 * A history row for each run that is new, or whose status is not the last
 * one recorded.  The last one is the first row at or before the run in the
 * order of the index (run_id, id) of sql/012, read backwards, if it is the
 * run's.  Asked as "run_id = ... ORDER BY id DESC LIMIT 1" the planner may
 * read the primary key backwards instead, and for a run with no history
 * yet that is the whole table; no other index gives this order.
 */
static const char sql_history[] =
	"INSERT INTO run_status_history (run_id, status) "
	"SELECT u.run_id, u.status FROM unnest($1::text[], $2::text[]) AS u (run_id, status) "
	"WHERE (SELECT CASE WHEN h.run_id = u.run_id THEN h.status END FROM run_status_history h "
	"       WHERE h.run_id <= u.run_id ORDER BY h.run_id DESC, h.id DESC LIMIT 1) "
	"  IS DISTINCT FROM u.status";

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

/* Append "<verb> <table> (col1, col2, ...)": the head of an INSERT or a COPY; 0 or a negative errno. */
static int
append_head(struct buf *sql, const char *verb, const struct table_def *def)
{
	if (buf_append_str(sql, verb) || buf_append_str(sql, " ") || buf_append_str(sql, def->name) ||
	    buf_append_str(sql, " (") || append_columns(sql, def) < 0 || buf_append_str(sql, ")"))
		return -ENOMEM;
	return 0;
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

/* The upsert of one run, named "store_workflow_runs": every column but the key, and synced_at. */
static int
prepare_run_upsert(PGconn *conn, char *err, size_t errlen)
{
	const struct table_def *def = &normalize_tables[T_RUNS];
	struct buf sql;
	char p[16];
	int rc = -1;

	buf_init(&sql, 16384);
	if (append_head(&sql, "INSERT INTO", def) < 0 || buf_append_str(&sql, " VALUES ("))
		goto oom;
	for (int i = 0; i < def->ncols; i++) {
		snprintf(p, sizeof(p), "%s$%d", i > 0 ? ", " : "", i + 1);
		if (buf_append_str(&sql, p))
			goto oom;
	}
	if (buf_append_str(&sql, ") ON CONFLICT (id) DO UPDATE SET synced_at = now()"))
		goto oom;
	for (int i = 1; i < def->ncols; i++) {
		if (buf_append_str(&sql, ", ") || buf_append_str(&sql, def->cols[i]) ||
		    buf_append_str(&sql, " = EXCLUDED.") || buf_append_str(&sql, def->cols[i]))
			goto oom;
	}
	rc = prepare_one(conn, "store_workflow_runs", sql.data, err, errlen);
	buf_free(&sql);
	return rc;
oom:
	snprintf(err, errlen, "out of memory");
	buf_free(&sql);
	return -1;
}

/*
 * Bulk INSERT for table t, named "store_bulk_<table>": the rows of every run
 * of a transaction in one statement, a text[] parameter per column, unnested
 * in step and cast to the column's type.  The casts come from the catalog
 * (format_type), never from data.  The runs themselves are upserted: every
 * column but the key, and synced_at.
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
	if (append_head(&sql, "INSERT INTO", def) < 0 || buf_append_str(&sql, " SELECT "))
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

/* The first run of an extractor version: see struct store_note. */
static const char sql_note[] = "SELECT note_extractor_version($1, $2, $3, $4::jsonb, $5)";

int
store_prepare(PGconn *conn, char *err, size_t errlen)
{
	char name[64], sql[128];

	if (prepare_one(conn, "store_queue", sql_queue, err, errlen) < 0 ||
	    prepare_one(conn, "store_history", sql_history, err, errlen) < 0 ||
	    prepare_one(conn, "store_note_version", sql_note, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		snprintf(name, sizeof(name), "store_delete_%zu", i);
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE run_id = $1", parents[i]);
		if (prepare_one(conn, name, sql, err, errlen) < 0)
			return -1;
	}
	if (prepare_run_upsert(conn, err, errlen) < 0)
		return -1;
	for (int t = T_RUNS + 1; t < T_COUNT; t++) {
		if (prepare_bulk(conn, (enum table_id)t, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The widest statement's parameter count: a table's columns, or the queue statement's arrays. */
#define BULK_MAX_COLS 24

/* Rows as one text[] literal per column, ready to be a bulk statement's parameters. */
struct bulk {
	struct buf cols[BULK_MAX_COLS];
	const char *params[BULK_MAX_COLS + 1];
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

/* Start column i's literal over. */
static int
bulk_open(struct bulk *bk, int i)
{
	buf_reset(&bk->cols[i]);
	return buf_append(&bk->cols[i], "{", 1);
}

/* End column i's literal and make it parameter i. */
static int
bulk_close(struct bulk *bk, int i)
{
	int rc = buf_append(&bk->cols[i], "}", 1);

	bk->params[i] = bk->cols[i].data;
	return rc;
}

/* Fill bk->params with the column arrays of table t's rows in the n runs rr; returns 0 or -1 with err set. */
static int
bulk_build(struct bulk *bk, struct run_rows *const *rr, size_t n, enum table_id t, char *err, size_t errlen)
{
	const struct table_def *def = &normalize_tables[t];

	if (def->ncols > BULK_MAX_COLS) {
		snprintf(err, errlen, "table \"%s\" has more than %d columns", def->name, BULK_MAX_COLS);
		return -1;
	}
	for (int i = 0; i < def->ncols; i++) {
		int rc = bulk_open(bk, i);

		for (size_t r = 0; r < n && rc == 0; r++) {
			const struct table_rows *tr = &rr[r]->t[t];

			rc = pgarray_add(&bk->cols[i], (const char *const *)tr->cells + i, tr->nrows,
					 (size_t)def->ncols);
		}
		if (rc != 0 || bulk_close(bk, i) != 0) {
			snprintf(err, errlen, "the rows of table \"%s\" are too large to send", def->name);
			return -1;
		}
	}
	return 0;
}

/*
 * A transaction's statements after the queue's go out in pipeline mode: one
 * round trip per PIPELINE_CHUNK statements instead of one each.  Results are
 * read at every chunk, so neither side's socket buffer fills up (libpq's
 * deadlock warning).  Without pipeline mode in libpq, one at a time.
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

/* Take one statement's result; the first error goes to p->err, later ones only say "aborted". */
static void
pipeline_result(struct pipeline *p, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK && !p->failed) {
		db_error(p->conn, res, p->err, p->errlen);
		p->failed = true;
		p->recurs = db_error_recurs(res);
		p->locked = db_error_locked(res);
	}
	PQclear(res);
}

static void
pipeline_broken(struct pipeline *p)
{
	if (!p->failed)
		db_error(p->conn, NULL, p->err, p->errlen);
	p->failed = true;
}

#ifdef LIBPQ_HAS_PIPELINING
static int
pipeline_begin(struct pipeline *p)
{
	if (PQenterPipelineMode(p->conn) != 1) {
		pipeline_broken(p);
		return -1;
	}
	return 0;
}

/* Send a sync and read the results of everything queued. */
static int
pipeline_flush(struct pipeline *p)
{
	PGresult *res;

	if (p->queued == 0)
		return p->failed ? -1 : 0;
	if (PQpipelineSync(p->conn) != 1) {
		pipeline_broken(p);
		return -1;
	}
	while (p->queued > 0) {
		res = db_get_result(p->conn);
		if (res == NULL && db_broken(p->conn)) {
			pipeline_broken(p);
			return -1;
		}
		if (res == NULL) {
			p->queued--;	/* one statement's results are over */
			continue;
		}
		pipeline_result(p, res);
		if (PQstatus(p->conn) == CONNECTION_BAD) {
			pipeline_broken(p);
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
		pipeline_broken(p);
		return -1;
	}
	if (++p->queued >= PIPELINE_CHUNK)
		return pipeline_flush(p);
	return 0;
}

/*
 * Read what is left and leave pipeline mode.  Only possible once every
 * result is read; when it is not, the caller sees a connection still in
 * pipeline mode and replaces it (db_gone).
 */
static int
pipeline_end(struct pipeline *p)
{
	(void)pipeline_flush(p);
	if (PQexitPipelineMode(p->conn) != 1)
		pipeline_broken(p);
	return p->failed ? -1 : 0;
}
#else
static int
pipeline_begin(struct pipeline *p)
{
	(void)p;
	return 0;
}

static int
pipeline_send(struct pipeline *p, const char *name, int n, const char *const *params)
{
	pipeline_result(p, db_exec_prepared(p->conn, name, n, params, NULL, NULL, 0));
	return p->failed ? -1 : 0;
}

static int
pipeline_end(struct pipeline *p)
{
	return p->failed ? -1 : 0;
}
#endif

/*
 * A table with at least this many rows in a transaction goes in by COPY:
 * one more round trip, but a fraction of the work per row of unnesting
 * arrays (a run with a 3,000-leaf extraction).
 */
#define COPY_MIN_ROWS 500

/* COPY table t's rows of the n runs rr, outside pipeline mode. */
static int
copy_rows(struct pipeline *p, struct run_rows *const *rr, size_t n, enum table_id t)
{
	const struct table_def *def = &normalize_tables[t];
	struct buf sql, data;

	buf_init(&sql, 16384);
	buf_init(&data, BULK_MAX_LITERAL);
	if (append_head(&sql, "COPY", def) < 0 || buf_append_str(&sql, " FROM STDIN")) {
		snprintf(p->err, p->errlen, "out of memory");
		p->failed = true;
	}
	for (size_t r = 0; r < n && !p->failed; r++) {
		const struct table_rows *tr = &rr[r]->t[t];

		if (pgcopy_append_rows(&data, (const char *const *)tr->cells, tr->nrows, (size_t)def->ncols) != 0) {
			snprintf(p->err, p->errlen, "the rows of table \"%s\" are too large to send", def->name);
			p->failed = true;
		}
	}
	if (!p->failed)
		pipeline_result(p, db_copy_in(p->conn, sql.data, data.data, data.len));
	buf_free(&sql);
	buf_free(&data);
	return p->failed ? -1 : 0;
}

/* Replace the rows of the n runs rr: their history, their parents' rows (cascading), the runs, every child. */
static int
write_rows(struct pipeline *p, struct run_rows *const *rr, size_t n)
{
	struct bulk bk;
	char name[96];
	int rc;

	if (pipeline_begin(p) < 0)
		return -1;
	bulk_init(&bk);
	/* libpq copies the parameters when sending: the buffers are reused for the next statement */
	rc = bulk_open(&bk, 0) || bulk_open(&bk, 1) ? -1 : 0;
	for (size_t r = 0; r < n && rc == 0; r++) {
		if (pgarray_add(&bk.cols[0], &rr[r]->id, 1, 1) != 0 || pgarray_add(&bk.cols[1], &rr[r]->status, 1, 1) != 0)
			rc = -1;
	}
	if (rc < 0 || bulk_close(&bk, 0) != 0 || bulk_close(&bk, 1) != 0) {
		snprintf(p->err, p->errlen, "out of memory");
		p->failed = true;
		rc = -1;
	}
	if (rc == 0)
		rc = pipeline_send(p, "store_history", 2, bk.params);
	/* one run at a time: "= ANY ($1)" gets a generic plan that scans the whole table */
	for (size_t r = 0; r < n && rc == 0; r++) {
		for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]) && rc == 0; i++) {
			snprintf(name, sizeof(name), "store_delete_%zu", i);
			rc = pipeline_send(p, name, 1, &rr[r]->id);
		}
	}
	for (size_t r = 0; r < n && rc == 0; r++) {
		rc = pipeline_send(p, "store_workflow_runs", normalize_tables[T_RUNS].ncols,
				   (const char *const *)rr[r]->t[T_RUNS].cells);
	}
	for (int t = T_RUNS + 1; t < T_COUNT && rc == 0; t++) {
		const struct table_def *def = &normalize_tables[t];
		size_t rows = 0;

		for (size_t r = 0; r < n; r++)
			rows += rr[r]->t[t].nrows;
		if (rows == 0)
			continue;
		if (rows >= COPY_MIN_ROWS) {
			/* parents first: what the pipeline holds goes in before */
			rc = pipeline_end(p);
			if (rc == 0)
				rc = copy_rows(p, rr, n, (enum table_id)t);
			if (rc == 0)
				rc = pipeline_begin(p);
			continue;
		}
		if (bulk_build(&bk, rr, n, (enum table_id)t, p->err, p->errlen) < 0) {
			p->failed = true;
			rc = -1;
			break;
		}
		snprintf(name, sizeof(name), "store_bulk_%s", def->name);
		rc = pipeline_send(p, name, def->ncols, bk.params);
	}
	bulk_free(&bk);
	return pipeline_end(p);
}

/*
 * Record the extractor versions it->notes name, each behind a savepoint:
 * one that fails (a view the database refuses, a lock timeout) is rolled
 * back alone, with its err set, and the run goes in all the same.  Three
 * round trips a version, paid only at its first sight.  Returns 0, or -1
 * when the transaction cannot go on (p->err set).
 */
static int
note_versions(struct pipeline *p, struct store_item *it)
{
	static const char *const cols[] = { "processor_id", "processor_version_id", "processor_name", "config" };
	char why[DB_ERR_SIZE];

	for (size_t i = 0; i < it->nnotes; i++) {
		struct store_note *nt = &it->notes[i];
		const char *v[5];
		PGresult *res;

		for (int c = 0; c < 4; c++)
			v[c] = normalize_cell(it->rr, T_PROCESSOR_RUNS, nt->row, normalize_col(T_PROCESSOR_RUNS, cols[c]));
		v[4] = it->view_schema;
		if (db_exec(p->conn, "SAVEPOINT store_note", p->err, p->errlen) < 0) {
			p->failed = true;
			return -1;
		}
		res = db_exec_prepared(p->conn, "store_note_version", 5, v, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
			nt->rc = 1;
			snprintf(nt->view, sizeof(nt->view), "%s", PQgetvalue(res, 0, 0));
			PQclear(res);
			if (db_exec(p->conn, "RELEASE SAVEPOINT store_note", p->err, p->errlen) < 0) {
				p->failed = true;
				return -1;
			}
			continue;
		}
		db_error(p->conn, res, nt->err, sizeof(nt->err));
		nt->rc = -1;
		PQclear(res);
		if (db_exec(p->conn, "ROLLBACK TO SAVEPOINT store_note", why, sizeof(why)) < 0) {
			snprintf(p->err, p->errlen, "%s", nt->err);
			p->failed = true;
			return -1;
		}
	}
	return 0;
}

/*
 * Before the first note of a batch, the locks of the views of every
 * extractor it writes rows of, in one pass in the order of their ids:
 * whole for those it notes, shared for the others (the trigger on
 * processor_runs takes them shared again, a no-op then).  Taken as they
 * come, a batch noting P that writes rows of Q and one noting Q that
 * writes rows of P would each wait for the other.  One round trip, paid
 * only by a batch that notes a version.
 */
static int
lock_views(struct pipeline *p, struct store_item *const *items, size_t n)
{
	static const char sql[] = "SELECT extracted_lock_views($1::text[], $2::text[])";
	int c_id = normalize_col(T_PROCESSOR_RUNS, "processor_id"), c_type = normalize_col(T_PROCESSOR_RUNS, "type");
	struct buf whole, shared;
	const char *params[2];
	int rc = 0;

	buf_init(&whole, BULK_MAX_LITERAL);
	buf_init(&shared, BULK_MAX_LITERAL);
	if (buf_append(&whole, "{", 1) != 0 || buf_append(&shared, "{", 1) != 0)
		rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct run_rows *rr = items[i]->rr;

		if (items[i]->rc != 1 || items[i]->unchanged)
			continue;
		for (size_t j = 0; j < items[i]->nnotes && rc == 0; j++) {
			const char *id = normalize_cell(rr, T_PROCESSOR_RUNS, items[i]->notes[j].row, c_id);

			if (id != NULL && pgarray_add(&whole, &id, 1, 1) != 0)
				rc = -1;
		}
		for (size_t row = 0; row < rr->t[T_PROCESSOR_RUNS].nrows && rc == 0; row++) {
			const char *id = normalize_cell(rr, T_PROCESSOR_RUNS, row, c_id);
			const char *type = normalize_cell(rr, T_PROCESSOR_RUNS, row, c_type);

			if (id != NULL && type != NULL && strcmp(type, "EXTRACT") == 0 && pgarray_add(&shared, &id, 1, 1) != 0)
				rc = -1;
		}
	}
	if (rc != 0 || buf_append(&whole, "}", 1) != 0 || buf_append(&shared, "}", 1) != 0) {
		snprintf(p->err, p->errlen, "out of memory");
		p->failed = true;
		rc = -1;
	} else {
		params[0] = whole.data;
		params[1] = shared.data;
		pipeline_result(p, db_exec_params(p->conn, sql, 2, NULL, params, NULL, NULL, 0));
		rc = p->failed ? -1 : 0;
	}
	buf_free(&whole);
	buf_free(&shared);
	return rc;
}

/* A pipeline's error as store_write_batch() reports it. */
static int
failure(const struct pipeline *p)
{
	return p->recurs ? STORE_RECURS : p->locked ? STORE_LOCKED : -1;
}

/* The queue statement's parameters for the n runs items: the arrays, then the owner. */
static int
queue_params(struct bulk *bk, struct store_item *const *items, size_t n, const char *owner)
{
	int hash_col = normalize_col(T_RUNS, "content_hash");

	for (int i = 0; i < Q_COLS; i++) {
		if (bulk_open(bk, i) != 0)
			return -1;
	}
	for (size_t r = 0; r < n; r++) {
		const struct store_item *it = items[r];
		char delay[32], polls[16], prio[8], rechecks[16];
		const char *v[Q_COLS];

		snprintf(delay, sizeof(delay), "%.3f", it->next.delay);
		snprintf(polls, sizeof(polls), "%d", it->next.polls);
		snprintf(prio, sizeof(prio), "%d", it->next.priority);
		snprintf(rechecks, sizeof(rechecks), "%d", it->next.listed_rechecks);
		v[Q_RECHECKS] = rechecks;
		v[Q_RUN_ID] = it->c->run_id;
		v[Q_GEN] = it->c->gen;
		v[Q_STATE] = it->next.state;
		v[Q_DELAY] = delay;
		v[Q_POLLS] = polls;
		v[Q_STATUS] = it->rr->status;
		v[Q_PRIORITY] = prio;
		v[Q_LEASE] = it->c->lease;
		v[Q_HASH] = normalize_cell(it->rr, T_RUNS, 0, hash_col);
		for (int i = 0; i < Q_COLS; i++) {
			if (pgarray_add(&bk->cols[i], &v[i], 1, 1) != 0)
				return -1;
		}
	}
	for (int i = 0; i < Q_COLS; i++) {
		if (bulk_close(bk, i) != 0)
			return -1;
	}
	bk->params[Q_COLS] = owner;
	return 0;
}

static int
by_run_id(const void *a, const void *b)
{
	const struct store_item *x = *(struct store_item *const *)a, *y = *(struct store_item *const *)b;

	return strcmp(x->c->run_id, y->c->run_id);
}

/*
 * One transaction for the n runs items (sorted by run ID, no two alike):
 * the queue rows, then the rows of the runs whose lease held and whose
 * content changed.  Returns 0 with each item's rc set (1 written, 0 lease
 * lost), or as store_write_batch() sets rc for a failure, with err set
 * and nothing written.
 */
static int
write_group(PGconn *conn, struct store_item *const *items, size_t n, const char *owner, char *err, size_t errlen)
{
	struct pipeline p = { conn, 0, err, errlen, false, false, false };
	struct run_rows **changed = calloc(n, sizeof(*changed));
	size_t nchanged = 0;
	char why[DB_ERR_SIZE];
	struct bulk bk;
	PGresult *res;
	int rc = -1;		/* until the transaction is tried */

	bulk_init(&bk);
	if (changed == NULL || queue_params(&bk, items, n, owner) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (db_exec(conn, "BEGIN", err, errlen) < 0)
		goto out;
	res = db_exec_prepared(conn, "store_queue", Q_COLS + 1, bk.params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pipeline_result(&p, res);
		goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		items[i]->rc = 0;	/* unless the lease held */
		items[i]->unchanged = false;
		for (size_t j = 0; j < items[i]->nnotes; j++)
			items[i]->notes[j].rc = 0;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		struct claim key = { .run_id = PQgetvalue(res, row, 0) };
		struct store_item k = { .c = &key }, *kp = &k, **found;
		const char *fate = PQgetvalue(res, row, 1);

		found = bsearch(&kp, items, n, sizeof(*items), by_run_id);
		if (found == NULL)
			continue;
		if (strcmp(fate, "held") == 0) {
			(*found)->rc = 1;
			(*found)->unchanged = strcmp(PQgetvalue(res, row, 2), "t") == 0;
		} else if (strcmp(fate, "locked") == 0) {
			(*found)->rc = STORE_LOCKED;
			snprintf((*found)->err, sizeof((*found)->err), "its queue row is locked by another session "
				 "(skipped, rather than waiting out the lock timeout)");
		}
	}
	PQclear(res);
	for (size_t i = 0; i < n; i++) {
		if (items[i]->rc == 1 && !items[i]->unchanged)
			changed[nchanged++] = (struct run_rows *)items[i]->rr;
	}
	/*
	 * Before the rows: the typed table of a view rebuilt now is there when
	 * the trigger on processor_runs fills it from them.  Taking the view's
	 * lock before the trigger takes it shared, a transaction never holds it
	 * shared while it waits to take it whole (two daemons meeting the same
	 * new version at once would each wait for the other); lock_views()
	 * takes them all in order first.
	 */
	for (size_t i = 0; i < n; i++) {
		if (items[i]->rc == 1 && !items[i]->unchanged && items[i]->nnotes > 0) {
			if (lock_views(&p, items, n) < 0)
				goto rollback;
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i]->rc == 1 && !items[i]->unchanged && items[i]->nnotes > 0 &&
		    note_versions(&p, items[i]) < 0)
			goto rollback;
	}
	if (nchanged > 0 && write_rows(&p, changed, nchanged) < 0)
		goto rollback;
	/* a failed COMMIT ends the transaction by itself */
	pipeline_result(&p, db_exec_query(conn, "COMMIT"));
	rc = p.failed ? failure(&p) : 0;
	goto out;
rollback:
	/* a connection left in pipeline mode (or lost) serves no ROLLBACK: the loop replaces it */
	if (db_usable(conn))
		(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	rc = failure(&p);
out:
	bulk_free(&bk);
	free(changed);
	return rc;
}

/* Write the n runs items, each all or nothing; see store.h. */
int
store_write_batch(PGconn *conn, struct store_item *items, size_t n, const char *owner, char *err, size_t errlen)
{
	struct store_item **sorted = malloc(n * sizeof(*sorted));
	bool together = n > 1;
	int rc;

	err[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		items[i].rc = -1;
		items[i].unchanged = false;
		items[i].err[0] = '\0';
	}
	if (sorted == NULL) {
		for (size_t i = 0; i < n; i++)
			snprintf(items[i].err, sizeof(items[i].err), "out of memory");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &items[i];
	/* the same order in every transaction: two writers of the same rows lock them alike */
	qsort(sorted, n, sizeof(*sorted), by_run_id);
	for (size_t i = 1; i < n && together; i++)
		together = strcmp(sorted[i - 1]->c->run_id, sorted[i]->c->run_id) != 0;
	if (together) {
		rc = write_group(conn, sorted, n, owner, err, errlen);
		if (rc == 0) {
			free(sorted);
			return 1;
		}
	}
	/* each on its own, so that a run the database refuses (or a locked row) holds up no other */
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = sorted[i];

		if (!db_usable(conn)) {
			snprintf(it->err, sizeof(it->err), "not tried: the connection went away before its turn");
			it->rc = STORE_UNTRIED;
			continue;
		}
		rc = write_group(conn, &sorted[i], 1, owner, it->err, sizeof(it->err));
		if (rc < 0)
			it->rc = rc;
	}
	free(sorted);
	return 0;
}
