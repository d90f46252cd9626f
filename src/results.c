/* Fetched results on their way to the database: gathered, handed to the writer, written, kept, given back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "extracted.h"
#include "log.h"
#include "outcome.h"
#include "results.h"
#include "timing.h"
#include "wait.h"
#include "writer.h"

/* A finished request waiting for the database to come back. */
struct deferred {
	struct deferred *next;
	struct fetch_result *r;
	int tries;		/* writes lost with the connection */
	size_t bytes;		/* counted in held_bytes */
};

/* Fetched runs written together: one transaction, one statement per table, for up to STORE_BATCH runs. */
#define STORE_BATCH 64

struct batch_entry {
	struct fetch_result *r;
	struct run_rows *rr;
	int tries;		/* as in struct deferred */
	size_t bytes;		/* as in struct deferred */
};

/*
 * The batches and what waits.  A batch is handed to the writer thread at
 * the end of the pass of the loop in which its runs arrived, or, while the
 * writer writes the one before, gathered for the next.  The writer has a
 * connection of its own (not connected: the loop writes them itself).
 */
struct results {
	const struct outcome_ctx *oc;	/* the loop's connection, owner, counters, configuration */
	struct dbconn *db;	/* oc->db */
	struct metrics *m;	/* oc->m */
	const char *owner;	/* oc->owner */
	bool (*take)(void *arg, struct fetch_result *r, int tries);
	void *arg;

	/*
	 * Bytes of the fetched results held in memory (the batches and
	 * deferred): with three times api.max_response_size for each transfer
	 * in flight, kept under sync.max_pending_bytes (claims.c's transfer_room()).
	 */
	size_t held_bytes;

	/* results kept while the database is away, or a row locked: written again at next_deferred */
	struct deferred *deferred;
	double next_deferred;

	struct batch_entry pending[STORE_BATCH];
	struct store_item batch[STORE_BATCH];
	size_t nbatch;
	double batch_since;	/* when the batch's first run came */

	struct writer *writer;
	struct dbconn wdb;	/* the writer's connection */
	double writer_since;	/* when the writer was handed its batch */
	struct batch_entry wpending[STORE_BATCH];
	struct store_item wbatch[STORE_BATCH];
	size_t nwbatch;

	/*
	 * The extractor versions known to be recorded (extracted views): a run
	 * of one of them costs no statement; one of another is noted in the
	 * transaction that stores it, and joins the set once that commits.
	 */
	struct extracted_set *known;
	char *view_schema;	/* database.extracted_schema, for the life of the loop */
	bool views_refreshed;	/* the missing views made (or tried to be): views_refresh() */
	int views_refresh_tries;	/* refreshes cut short by the connection's loss */
	bool views_loaded;	/* known read from the database (results_views_sync()) */
	double views_retry_at;	/* when to read it again, until it was */
	struct log_lasting views_failing;
};

/* The writer thread's connection: told apart in pg_stat_activity, its statements prepared. */
static int
wconn_setup(PGconn *conn, void *arg, char *err, size_t errlen)
{
	(void)arg;
	/* "extend-syncd (writer)", or the conninfo's own name so marked */
	if (db_exec(conn, "SELECT set_config('application_name', "
		    "left(current_setting('application_name'), 54) || ' (writer)', false)", err, errlen) < 0)
		return -1;
	return store_prepare(conn, err, errlen);
}

/* The writer's connection; see results.h. */
int
results_connect(struct results *rs, const struct config *cfg)
{
	if (rs->writer == NULL || rs->wdb.conn != NULL)
		return 0;
	return dbconn_open(&rs->wdb, cfg);
}

/* The memory a fetched result holds while it waits to be written: its body, as allocated. */
static size_t
result_bytes(const struct fetch_result *r)
{
	return sizeof(*r) + r->body.cap;
}

/* Count a batch written in the metrics, and say why a group was written one by one. */
static void
batch_written(struct results *rs, const struct store_item *items, size_t n, int together, const char *err,
	      double seconds, bool lost)
{
	if (together == 1) {
		rs->m->store_transactions++;
	} else {
		if (n > 1 && err[0] != '\0' && !lost)
			log_debug("%zu runs written one by one, as together they failed: %s", n, err);
		for (size_t i = 0; i < n; i++)
			rs->m->store_transactions += items[i].rc > 0;
	}
	for (size_t i = 0; i < n; i++)
		metrics_store(rs->m, seconds / (double)n);
}

/*
 * Give it a note for each processor run of an extractor version not in
 * rs->known (the first time it is stored), so that the store records the
 * version and rebuilds the extractor's views in the same transaction.
 */
static void
new_versions(struct results *rs, struct store_item *it)
{
	const struct table_rows *pr = &it->rr->t[T_PROCESSOR_RUNS];
	int c_type = normalize_col(T_PROCESSOR_RUNS, "type");
	int c_id = normalize_col(T_PROCESSOR_RUNS, "processor_id");
	int c_version = normalize_col(T_PROCESSOR_RUNS, "processor_version_id");

	it->notes = NULL;
	it->nnotes = 0;
	it->view_schema = rs->view_schema;
	if (rs->known == NULL)
		return;
	for (size_t row = 0; row < pr->nrows; row++) {
		const char *type = normalize_cell(it->rr, T_PROCESSOR_RUNS, row, c_type);
		const char *id = normalize_cell(it->rr, T_PROCESSOR_RUNS, row, c_id);
		const char *version = normalize_cell(it->rr, T_PROCESSOR_RUNS, row, c_version);
		struct store_note *grown;

		if (type == NULL || strcmp(type, "EXTRACT") != 0 || id == NULL || version == NULL ||
		    extracted_set_has(rs->known, id, version))
			continue;
		grown = realloc(it->notes, (it->nnotes + 1) * sizeof(*it->notes));
		if (grown == NULL) {
			/* the run goes in without it: its view is made at its next run, or at the next start */
			log_run(LOG_LEVEL_WARNING, it->c->run_id, "out of memory: extractor version \"%s\" not noted",
				version);
			return;
		}
		it->notes = grown;
		it->notes[it->nnotes++] = (struct store_note){ .row = row };
	}
}

/* After its write: the versions it noted join rs->known once its transaction committed; the notes are freed. */
static void
versions_noted(struct results *rs, struct store_item *it)
{
	int c_id = normalize_col(T_PROCESSOR_RUNS, "processor_id");
	int c_version = normalize_col(T_PROCESSOR_RUNS, "processor_version_id");

	for (size_t i = 0; i < it->nnotes && it->rc == 1; i++) {
		const struct store_note *nt = &it->notes[i];
		const char *id = normalize_cell(it->rr, T_PROCESSOR_RUNS, nt->row, c_id);
		const char *version = normalize_cell(it->rr, T_PROCESSOR_RUNS, nt->row, c_version);

		if (nt->rc < 0) {
			log_run(LOG_LEVEL_WARNING, it->c->run_id, "could not update the extracted views of extractor "
				"\"%s\" (version \"%s\"): %s; the run is stored, the views are tried again at the "
				"version's next run", id, version, nt->err);
			continue;
		}
		if (nt->rc == 0)
			continue;
		if (nt->view[0] != '\0')
			log_run(LOG_LEVEL_INFO, it->c->run_id, "extracted view \"%s.%s\" now covers version \"%s\" "
				"of extractor \"%s\"", rs->view_schema, nt->view, version, id);
		if (extracted_set_add(rs->known, id, version) < 0)
			log_warning("out of memory: extractor version \"%s\" will be noted again", version);
	}
	free(it->notes);
	it->notes = NULL;
	it->nnotes = 0;
}

/*
 * What became of each run of a batch written; lost: the connection it was
 * written on went away.  Returns how many results were kept while the
 * loop's connection is up: because a row was locked.
 */
static int
batch_outcomes(struct results *rs, struct batch_entry *entries, struct store_item *items, size_t n,
	       bool by_writer, bool lost)
{
	int locked = 0;

	for (size_t i = 0; i < n; i++) {
		struct batch_entry *e = &entries[i];
		struct store_item *it = &items[i];

		rs->held_bytes -= e->bytes;
		versions_noted(rs, it);
		if (it->rc == STORE_UNTRIED) {
			/* the connection went away before its turn: it failed nothing */
			results_keep(rs, e->r, e->tries);
		} else if (lost && it->rc < 0 && it->rc != STORE_LOCKED) {
			/* its write went with the writer's connection: a result that keeps doing so is dropped */
			results_keep(rs, e->r, e->tries + 1);
		} else if (outcome_stored(rs->oc, it) == 0) {
			queue_claim_free(e->r->data);
			fetch_result_free(e->r);
		} else {
			locked += rs->db->conn != NULL;
			/* a write that lost the loop's connection counts: a result that keeps doing so is dropped */
			results_keep(rs, e->r,
				     e->tries + (!by_writer && it->rc != STORE_LOCKED && rs->db->conn == NULL));
		}
		normalize_free(e->rr);
	}
	return locked;
}

/*
 * Write the runs the batch holds, together when the database takes them
 * (group commit): hand them to the writer thread, or, when it is busy,
 * keep gathering them for its next batch.  The loop writes them itself
 * when now (it needs to know at once what became of them), when the
 * batch is full while the writer is busy, or without a writer connection.
 * Returns how many results were kept because a row was locked (0 when
 * the writer took them).
 */
int
results_flush(struct results *rs, bool now, bool more, bool stopping)
{
	size_t n = rs->nbatch;
	char err[DB_ERR_SIZE];
	double started;
	int together;

	if (n == 0)
		return 0;
	if (!now && rs->writer != NULL && rs->db->conn != NULL && rs->wdb.conn != NULL) {
		double t = now_mono();

		if (!writer_busy(rs->writer)) {
			if (n < STORE_BATCH / 2 && t < rs->batch_since + BATCH_GATHER && more && !stopping)
				return 0;	/* more answers are on their way: gathered a moment longer */
			memcpy(rs->wpending, rs->pending, n * sizeof(rs->pending[0]));
			memcpy(rs->wbatch, rs->batch, n * sizeof(rs->batch[0]));
			rs->nwbatch = n;
			rs->nbatch = 0;
			rs->writer_since = t;
			writer_submit(rs->writer, rs->wdb.conn, rs->wbatch, n, rs->owner);
			return 0;
		}
		/* handed over when the writer is done, unless full, stopping, or the writer stalls */
		if (n < STORE_BATCH && !stopping && t < rs->writer_since + WRITER_PATIENCE)
			return 0;
	}
	rs->nbatch = 0;
	if (rs->db->conn == NULL) {
		/* nothing tried: every result waits for the database, no write lost it */
		for (size_t i = 0; i < n; i++) {
			rs->held_bytes -= rs->pending[i].bytes;
			results_keep(rs, rs->pending[i].r, rs->pending[i].tries);
			free(rs->batch[i].notes);
			normalize_free(rs->pending[i].rr);
		}
		return 0;
	}
	started = now_mono();
	together = store_write_batch(rs->db->conn, rs->batch, n, rs->owner, err, sizeof(err));
	batch_written(rs, rs->batch, n, together, err, now_mono() - started, !db_usable(rs->db->conn));
	return batch_outcomes(rs, rs->pending, rs->batch, n, false, false);
}

/* The writer is done with its batch: decide what each write means. */
void
results_collect(struct results *rs)
{
	size_t n = rs->nwbatch;
	char err[DB_ERR_SIZE];
	double seconds;
	int together;
	bool lost;

	if (rs->writer == NULL || !writer_collect(rs->writer, &together, &lost, err, sizeof(err), &seconds))
		return;
	rs->nwbatch = 0;
	if (lost) {
		/* the reason is the thread's: an abandoned call is known there only */
		const char *why = err;

		for (size_t i = 0; i < n && why[0] == '\0'; i++)
			why = rs->wbatch[i].err;
		dbconn_lost(&rs->wdb, why);
	}
	batch_written(rs, rs->wbatch, n, together, err, seconds, lost);
	(void)batch_outcomes(rs, rs->wpending, rs->wbatch, n, true, lost);
}

/* Whether results are gathered or being written; see results.h. */
bool
results_writing(const struct results *rs)
{
	return rs->nbatch > 0 || (rs->writer != NULL && writer_busy(rs->writer));
}

/* Add a fetched run to the batch; it is written at the end of this pass of the loop, or when the batch is full. */
void
results_add(struct results *rs, struct fetch_result *r, struct run_rows *rr, int tries, struct store_next next)
{
	struct claim *c = r->data;
	struct store_item *it;

	for (size_t i = 0; i < rs->nbatch; i++) {
		/* a run twice (a result that waited, and a new one): the older goes first */
		if (strcmp(rs->batch[i].c->run_id, c->run_id) == 0) {
			(void)results_flush(rs, true, false, false);
			break;
		}
	}
	if (rs->nbatch == STORE_BATCH)
		(void)results_flush(rs, false, false, false);
	if (rs->nbatch == 0)
		rs->batch_since = now_mono();
	rs->pending[rs->nbatch] = (struct batch_entry){ r, rr, tries, result_bytes(r) + normalize_size(rr) };
	rs->held_bytes += rs->pending[rs->nbatch].bytes;
	it = &rs->batch[rs->nbatch++];
	it->rr = rr;
	it->c = c;
	it->next = next;
	new_versions(rs, it);
}

/*
 * Keep r until the database is back or the row is free.  tries counts the
 * writes of it that lost the connection: one that keeps doing so (a
 * crashing backend?) is dropped, and its run fetched again after its lease.
 */
void
results_keep(struct results *rs, struct fetch_result *r, int tries)
{
	struct deferred *d;

	if (tries >= DEFERRED_TRIES) {
		log_run(LOG_LEVEL_ERROR, ((struct claim *)r->data)->run_id, "dropping a result whose write lost the "
			"database connection %d times; the run is fetched again when its lease ends", tries);
		queue_claim_free(r->data);
		fetch_result_free(r);
		return;
	}
	d = malloc(sizeof(*d));
	if (d == NULL) {
		/* its lease expires and the run is fetched again: nothing is lost */
		queue_claim_free(r->data);
		fetch_result_free(r);
		return;
	}
	d->r = r;
	d->tries = tries;
	d->bytes = result_bytes(r);
	rs->held_bytes += d->bytes;
	d->next = rs->deferred;
	rs->deferred = d;
	/* kept for a locked row (or a lost connection): tried again soon, not at once */
	if (rs->next_deferred < now_mono())
		rs->next_deferred = now_mono() + LOCKED_RETRY;
}

/*
 * The database is back, or a row was locked a while ago: write what waits,
 * one at a time (a result that lost the connection goes alone, so that
 * only a result that itself breaks it is ever dropped).  A row still locked
 * ends the round (each try waits lock_timeout): that one goes last, the
 * others are tried at the next round, the loop goes on.
 */
void
results_retry(struct results *rs)
{
	struct deferred *d = rs->deferred, *keep = NULL, **tail = &keep;
	unsigned long long synced = rs->m->synced;
	bool locked = false;
	int n;

	/* what fails again is kept anew, behind what is not tried this round */
	rs->deferred = NULL;
	while (d != NULL) {
		struct deferred *next = d->next;
		struct fetch_result *r = d->r;
		int tries = d->tries;

		d->next = NULL;
		if (locked || rs->db->conn == NULL) {
			*tail = d;
			tail = &d->next;
			d = next;
			continue;
		}
		rs->held_bytes -= d->bytes;
		free(d);
		if (!rs->take(rs->arg, r, tries)) {
			locked = rs->db->conn != NULL;	/* kept with the connection up: a row locked elsewhere */
			results_keep(rs, r, tries);
		} else if (results_flush(rs, true, false, false) > 0) {
			locked = true;
		}
		d = next;
	}
	*tail = rs->deferred;
	rs->deferred = keep;
	n = (int)(rs->m->synced - synced);
	if (n > 0)
		log_info("wrote %d result%s that waited for the database (away, or a row locked)", n,
			 n == 1 ? "" : "s");
	rs->next_deferred = now_mono() + LOCKED_RETRY;
}

/* Give a claimed run back to the queue (at the end). */
static void
release(struct results *rs, struct claim *c)
{
	outcome_release(rs->oc, c);
}

static void
free_batch(struct results *rs)
{
	for (size_t i = 0; i < rs->nbatch; i++) {
		rs->held_bytes -= rs->pending[i].bytes;
		release(rs, rs->pending[i].r->data);
		fetch_result_free(rs->pending[i].r);
		free(rs->batch[i].notes);
		normalize_free(rs->pending[i].rr);
	}
	rs->nbatch = 0;
}

static void
free_deferred(struct results *rs)
{
	while (rs->deferred != NULL) {
		struct deferred *d = rs->deferred;

		rs->deferred = d->next;
		rs->held_bytes -= d->bytes;
		/* given back while the connection serves (its calls are short at the end), else left to its lease */
		release(rs, d->r->data);
		fetch_result_free(d->r);
		free(d);
	}
}

/* The extracted views' state; see results.h. */
int
results_views_start(struct results *rs, const char *schema)
{
	rs->view_schema = strdup(schema);
	rs->known = extracted_set_new();
	if (rs->view_schema == NULL || rs->known == NULL) {
		log_error("out of memory");
		return -1;
	}
	return 0;
}

/*
 * The extracted views at the loop's first connection: their schema made
 * when missing (a role that may not is warned of), the versions of the
 * stored runs not yet recorded recorded (a store that could not note one),
 * and the views of extractors stored before (an upgrade), dropped, whose
 * last rebuild failed or that lack a recorded version made anew.  A refresh
 * that fails is logged: the runs matter more than their views, and
 * --refresh-views, a later start or each version's next run makes them.
 * One cut short by the connection's loss is made again on the next, up to
 * VIEWS_REFRESH_TRIES times (a refresh that itself ends its session, as an
 * out-of-memory kill, is not made for ever).  Returns false when the
 * connection was lost.
 */
static bool
views_refresh(struct results *rs)
{
	PGconn *conn = rs->db->conn;
	const char *schema = rs->view_schema;
	char err[DB_ERR_SIZE];
	PGresult *res = NULL;

	if (extracted_create_schema(conn, schema, err, sizeof(err)) < 0) {
		/* an upgrade under a roles.sql from before the views: the runs go on, their views wait */
		log_warning("%s; runs are synced all the same, and their views made once the schema exists "
			    "(extend-syncd --refresh-views, or a restart)", err);
	}
	/* recorded in a transaction of their own first: refresh_extracted_views() says why */
	if (extracted_record_versions(conn, false, err, sizeof(err)) < 0 && !db_broken(conn))
		log_warning("could not record the extractor versions of the runs stored: %s; their views are made "
			    "at the next start (or by extend-syncd --refresh-views)", err);
	if (!db_broken(conn))
		res = extracted_refresh(conn, schema, true, NULL, err, sizeof(err));
	if (res == NULL && db_broken(conn) && ++rs->views_refresh_tries < VIEWS_REFRESH_TRIES)
		return false;
	rs->views_refreshed = true;
	if (res == NULL) {
		log_error("could not make the missing extracted views in schema \"%s\": %s; runs are synced all the "
			  "same (extend-syncd --refresh-views tries again)", schema, err);
		return !db_broken(conn);
	}
	for (int i = 0; i < PQntuples(res); i++)
		log_info("extracted view \"%s.%s\" made for extractor \"%s\" (%s columns, %s child views, %s "
			 "versions)", schema, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 2),
			 PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	PQclear(res);
	return true;
}

/*
 * The extracted views on the loop's connection: refreshed at its first
 * connection (views_refresh()), then, until it succeeds, the versions they
 * cover read.  A read that fails (a session holding the table, the
 * connection lost) is a lasting failure, tried again on the next
 * connection and every VIEWS_RETRY, each version's next run noting it
 * meanwhile.  Nothing here stops the daemon.
 */
void
results_views_sync(struct results *rs)
{
	char err[DB_ERR_SIZE];

	if (rs->views_loaded || rs->db->conn == NULL)
		return;
	if (!rs->views_refreshed && !views_refresh(rs))
		return;
	if (extracted_load(rs->db->conn, rs->known, err, sizeof(err)) < 0) {
		rs->views_retry_at = now_mono() + VIEWS_RETRY;
		if (!db_broken(rs->db->conn))
			log_lasting_fail(&rs->views_failing, "could not read the extractor versions known to the "
					 "extracted views: %s; runs are synced all the same, each version noted by its "
					 "next run (read again every %.0fs)", err, VIEWS_RETRY);
		return;
	}
	rs->views_loaded = true;
	log_lasting_ok(&rs->views_failing, "the extractor versions known to the extracted views read");
	log_debug("%zu extractor versions known to the extracted views", extracted_set_count(rs->known));
}

/* The writer's pipe as a source of the wait: readable once its batch is written. */
static int
writer_source(void *arg, short *events)
{
	*events = WAIT_IN;
	return results_writer_fd(arg);
}

/* A batch gathering for the writer, or waiting for a writer that may stall, as a timer of the wait. */
static double
batch_timer(void *arg, double now)
{
	(void)now;
	return results_next(arg);
}

/* A results module; see results.h. */
struct results *
results_new(const struct outcome_ctx *oc, bool (*take)(void *arg, struct fetch_result *r, int tries), void *arg)
{
	struct results *rs = calloc(1, sizeof(*rs));
	char err[256];

	if (rs == NULL)
		return NULL;
	rs->oc = oc;
	rs->db = oc->db;
	rs->m = oc->m;
	rs->owner = oc->owner;
	rs->take = take;
	rs->arg = arg;
	dbconn_init(&rs->wdb, DBCONN_WRITER, wconn_setup, NULL);
	if (wait_add_source(writer_source, NULL, rs, 0) < 0 || wait_add_timer(batch_timer, rs, 0) < 0) {
		free(rs);
		return NULL;
	}
	rs->writer = writer_start(err, sizeof(err));
	if (rs->writer == NULL)
		log_warning("%s; runs are written by the loop", err);
	return rs;
}

/* The end of it; see results.h. */
void
results_free(struct results *rs)
{
	if (rs == NULL)
		return;
	writer_stop(rs->writer);
	dbconn_close(&rs->wdb);
	free_deferred(rs);
	extracted_set_free(rs->known);
	free(rs->view_schema);
	free(rs);
}

/* Periodic; see results.h. */
void
results_poll(struct results *rs, const struct config *cfg, double now)
{
	if (!rs->views_loaded && now >= rs->views_retry_at)
		results_views_sync(rs);
	if (rs->writer != NULL && dbconn_due(&rs->wdb, now))
		(void)results_connect(rs, cfg);
	else if (rs->deferred != NULL && now >= rs->next_deferred)
		results_retry(rs);
}

/* Whether results are kept; see results.h. */
bool
results_kept(const struct results *rs)
{
	return rs->deferred != NULL;
}

/* Whether the writer stalls; see results.h. */
bool
results_stalled(const struct results *rs, double now)
{
	return rs->writer != NULL && writer_busy(rs->writer) && now >= rs->writer_since + WRITER_PATIENCE;
}

/* Bytes held; see results.h. */
size_t
results_held(const struct results *rs)
{
	return rs->held_bytes;
}

/* A batch gathering for the writer, or waiting for a writer that may stall; see results.h. */
double
results_next(const struct results *rs)
{
	if (rs->nbatch == 0 || rs->writer == NULL)
		return INFINITY;
	return writer_busy(rs->writer) ? rs->writer_since + WRITER_PATIENCE : rs->batch_since + BATCH_GATHER;
}

/* The writer's pipe; see results.h. */
int
results_writer_fd(const struct results *rs)
{
	return rs->writer != NULL && writer_busy(rs->writer) ? writer_fd(rs->writer) : -1;
}

/* At the end; see results.h. */
void
results_stop(struct results *rs)
{
	if (rs->writer != NULL) {
		/* past the grace, or a second signal: its call is abandoned, its runs fetched again later */
		writer_wait(rs->writer);
		results_collect(rs);
	}
	/* gathered for the writer when the loop had to end: written now (its calls are short then), or left to
	   their leases */
	if (rs->db->conn != NULL && db_usable(rs->db->conn))
		(void)results_flush(rs, true, false, false);
	free_batch(rs);
}
