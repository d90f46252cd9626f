/* The scheduler: claim due runs, fetch them, store what came back, and decide when each is due again. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "db.h"
#include "discover.h"
#include "drain.h"
#include "fetch.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "normalize.h"
#include "notify.h"
#include "queue.h"
#include "schedule.h"
#include "store.h"
#include "writer.h"
#include "sweep.h"

/* How long a stopping daemon waits for requests in flight before it releases them. */
#define STOP_GRACE 10.0
/* After the API refused the key: first pause, doubling up to the longest. */
#define AUTH_PAUSE_MIN 30.0
#define AUTH_PAUSE_MAX 600.0
/* Reconnecting to the database: first delay, doubling up to the longest. */
#define DB_RETRY_MIN 0.5
#define DB_RETRY_MAX 30.0
/* A database call not answered in this long is abandoned (statement_timeout is 20 s, lock_timeout 2 s). */
#define DB_WAIT_MAX 30.0
/* A call made after a second signal or after the stop's grace: abandoned after this long. */
#define DB_WAIT_EXITING 0.5
/* A result whose queue row another session locked is written again after this long. */
#define LOCKED_RETRY 2.0
/* A failure that lasts is logged again at most this often. */
#define REPEAT_LOG 300.0
/* How often the status (systemd STATUS=, the metrics file) is refreshed, and the summary line logged. */
#define STATUS_EVERY 5.0
#define SUMMARY_EVERY 60.0
/* --drain and --once: a progress line this often, and at most this many runs named in a closing list. */
#define PROGRESS_EVERY 10.0
#define DRAIN_LIST_MAX 10

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_reload;
static int sigpipe_fds[2] = { -1, -1 };

/* A finished request waiting for the database to come back. */
struct deferred {
	struct deferred *next;
	struct fetch_result *r;
	int tries;		/* writes lost with the connection */
};

/* Fetched runs written together: one transaction, one statement per table, for up to STORE_BATCH runs. */
#define STORE_BATCH 64

/*
 * A batch goes to the writer once half full, or this long after its first
 * run came, while more answers are on their way (group commit's
 * commit_delay): a run alone per transaction would cost the database most.
 */
#define BATCH_GATHER 0.01

/* A writer busy this long (a stalled database call): the loop writes what gathered meanwhile itself. */
#define WRITER_PATIENCE 2.0

struct batch_entry {
	struct fetch_result *r;
	struct run_rows *rr;
	int tries;		/* as in struct deferred */
};

/* A result whose write lost the connection this often is dropped: its run is fetched again after its lease. */
#define DEFERRED_TRIES 3

/*
 * A failure that lasts (queue statements failing on a healthy connection,
 * the metrics file not writable): logged when it starts, every REPEAT_LOG
 * while it lasts, and when it ends, never on every pass of the loop.
 */
struct lasting {
	double since;		/* 0: not failing */
	double logged_at;
};

struct loop {
	struct config *cfg;
	const char *config_path;
	enum loop_mode mode;
	char *api_key;
	PGconn *conn;
	struct fetcher *fetch;
	struct budget *budget;	/* this daemon's share of api.rate_limit */
	char owner[160];
	struct sweeper *sweep;	/* NULL: no discovery source (or --once) */
	double next_sweep;	/* monotonic time to start the sweeps that are due */

	double next_claim;	/* monotonic time of the next queue scan */
	double stop_deadline;	/* when stopping: release what is still in flight after this */
	double signal_at;	/* when the first SIGTERM/SIGINT came (it may come during a database call) */
	bool stopping;
	bool claimed_all;	/* the last scan found fewer due runs than it asked for */
	int exit_code;

	/* the API refused the key: nothing is claimed until auth_until */
	bool auth_failed;
	double auth_until, auth_pause;

	/* the database is gone: reconnect at db_retry_at; results wait in deferred */
	bool db_broken;
	double db_retry_at, db_backoff, db_lost_at, db_logged_at, db_restored_at, db_lost_logged_at;
	bool loss_announced;	/* "lost" was logged: "restored" will be too */
	struct deferred *deferred;
	double next_deferred;	/* results kept for a locked row: write them again at this time */

	/*
	 * Fetched runs to write: handed to the writer thread at the end of the
	 * pass of the loop in which they arrived, or, while it writes the
	 * batch before, gathered for the next.  The writer has a connection of
	 * its own (NULL: not connected; then the loop writes them itself).
	 */
	struct batch_entry pending[STORE_BATCH];
	struct store_item batch[STORE_BATCH];
	size_t nbatch;
	double batch_since;	/* when the batch's first run came */
	struct writer *writer;
	PGconn *wconn;
	double wconn_retry_at;
	double writer_since;	/* when the writer was handed its batch */
	struct lasting writer_failing;	/* the writer cannot connect */
	struct batch_entry wpending[STORE_BATCH];
	struct store_item wbatch[STORE_BATCH];
	size_t nwbatch;

	char once_cutoff[40];	/* the database's time at the start: --once claims only runs due before it */
	double timeout;		/* --timeout in seconds, 0 for none */
	double timeout_at;	/* monotonic time to give up at */
	bool timed_out;		/* stopped because --timeout expired */
	bool interrupted;	/* stopped by SIGTERM or SIGINT */
	double next_progress;
	struct metrics m;
	double next_status, next_summary, next_watchdog, next_finished_count;
	unsigned long long status_requests;	/* requests counted at the last status */
	double status_at;
	struct metrics summary_base;	/* the counters at the last summary line */
	struct lasting queue_failing;	/* queue statements failing, the connection fine */
	struct lasting metrics_failing;
	struct lasting budget_failing;
};

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		got_reload = 1;
	else
		got_stop++;
	/* wake curl_multi_poll() */
	(void)!write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/* Install the handlers (once): see loop.h. */
int
loop_setup_signals(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	if (pipe(sigpipe_fds) < 0)
		return -1;
	done = true;
	for (int i = 0; i < 2; i++) {
		fcntl(sigpipe_fds[i], F_SETFL, O_NONBLOCK);
		fcntl(sigpipe_fds[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static void
drain_sigpipe(void)
{
	char buf[64];

	while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
		;
}


/* Server messages on the writer's connection: not logged from its thread (the loop's connection logs them). */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void lasting_fail(struct lasting *f, const char *fmt, ...) LOG_PRINTF(2, 3);
static void lasting_ok(struct lasting *f, const char *what);

/* The writer thread's connection; without it, the loop writes the runs itself.  Returns 0 or -1. */
static int
wconn_open(struct loop *l)
{
	char err[DB_ERR_SIZE];

	if (l->writer == NULL || l->wconn != NULL)
		return 0;
	l->wconn = db_connect(l->cfg->database.conninfo, l->cfg->database.schema, err, sizeof(err));
	if (l->wconn != NULL)
		PQsetNoticeProcessor(l->wconn, quiet_notice, NULL);
	/* told apart in pg_stat_activity: "extend-syncd (writer)", or the conninfo's own name so marked */
	if (l->wconn != NULL &&
	    (db_exec(l->wconn, "SELECT set_config('application_name', "
			       "left(current_setting('application_name'), 54) || ' (writer)', false)", err,
		     sizeof(err)) < 0 ||
	     store_prepare(l->wconn, err, sizeof(err)) < 0)) {
		PQfinish(l->wconn);
		l->wconn = NULL;
	}
	if (l->wconn == NULL) {
		lasting_fail(&l->writer_failing, "could not connect the writer (the loop writes the runs itself "
			     "meanwhile; trying again every %.0fs): %s", DB_RETRY_MAX, err);
		l->wconn_retry_at = now_mono() + DB_RETRY_MAX;
		return -1;
	}
	lasting_ok(&l->writer_failing, "the writer is connected");
	return 0;
}

/* Connect, prepare and LISTEN; on failure the loop tries again later, with backoff. */
static int
db_open(struct loop *l)
{
	char err[DB_ERR_SIZE];
	double now = now_mono();

	l->conn = db_connect(l->cfg->database.conninfo, l->cfg->database.schema, err, sizeof(err));
	if (l->conn == NULL)
		goto fail;
	PQsetNoticeProcessor(l->conn, log_server_message, NULL);
	if (queue_prepare(l->conn, err, sizeof(err)) < 0 || store_prepare(l->conn, err, sizeof(err)) < 0 ||
	    discover_prepare(l->conn, err, sizeof(err)) < 0 ||
	    db_listen(l->conn, l->cfg->database.schema, err, sizeof(err)) < 0) {
		PQfinish(l->conn);
		l->conn = NULL;
		goto fail;
	}
	if (l->db_broken) {
		if (l->loss_announced)
			log_info("database connection restored after %.1fs", now - l->db_lost_at);
		l->db_restored_at = now;
	}
	l->loss_announced = false;
	l->db_broken = false;
	l->next_claim = now;
	(void)wconn_open(l);
	return 0;
fail:
	if (!l->db_broken || now - l->db_logged_at >= REPEAT_LOG) {
		log_error("could not connect to the database: %s", err);
		l->db_logged_at = now;
	}
	if (!l->db_broken)
		l->db_lost_at = now;
	l->db_broken = true;
	l->db_retry_at = now + l->db_backoff;
	l->db_backoff = fmin(l->db_backoff * 2, DB_RETRY_MAX);
	return -1;
}

/*
 * After a failed statement: if the connection itself is gone, drop it so the
 * loop reconnects.  Returns true when it is gone.
 */
static bool
db_gone(struct loop *l)
{
	double now = now_mono();
	bool flapping;

	if (l->conn == NULL)
		return true;
	/* a connection stuck in pipeline mode, or abandoned mid-call, serves no other statement: replace it too */
	if (db_usable(l->conn))
		return false;
	/* lost again soon after it came back: keep backing off, and say so only now and then */
	flapping = now - l->db_restored_at < 10 * DB_RETRY_MAX;
	if (!flapping || now - l->db_lost_logged_at >= REPEAT_LOG) {
		char why[DB_ERR_SIZE];

		db_error(l->conn, NULL, why, sizeof(why));
		log_error("lost the database connection (%s); reconnecting", why);
		l->db_lost_logged_at = now;
		l->loss_announced = true;
	}
	PQfinish(l->conn);
	l->conn = NULL;
	l->db_broken = true;
	l->db_lost_at = now;
	l->db_logged_at = flapping ? now : -REPEAT_LOG;	/* the first failed reconnect says why */
	if (!flapping)
		l->db_backoff = DB_RETRY_MIN;
	l->db_retry_at = flapping ? now + l->db_backoff : now;
	return true;
}

/* A lasting failure: log it when it starts and every REPEAT_LOG while it lasts. */
static void
lasting_fail(struct lasting *f, const char *fmt, ...)
{
	double now = now_mono();
	char msg[1024];
	va_list ap;

	if (f->since != 0 && now - f->logged_at < REPEAT_LOG)
		return;
	if (f->since == 0)
		f->since = now;
	f->logged_at = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
}

/* The failure is over: say so, with how long it lasted, if it was said to begin. */
static void
lasting_ok(struct lasting *f, const char *what)
{
	if (f->since != 0)
		log_info("%s again after %.0fs", what, now_mono() - f->since);
	f->since = 0;
}

static double
jitter(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/* Give a claimed run back to the queue, due now (shutdown, a paused key, a request never made). */
static void
release_claim(struct loop *l, struct claim *c)
{
	char err[DB_ERR_SIZE];

	if (l->conn != NULL && queue_release(l->conn, c, l->owner, err, sizeof(err)) < 0 && !db_gone(l))
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not release lease: %s", err);
	queue_claim_free(c);
}

static void
release_cb(const char *run_id, void *data, void *arg)
{
	if (run_id == NULL)
		sweep_cancelled(data);	/* a list request: its sweep is retried, its lease given back at stop */
	else
		release_claim(arg, data);
}

/*
 * Record a failed attempt, retrying later or giving up (failed), and log it.
 * Returns -1 when the database went away before it was recorded.
 */
static int
record_failure(struct loop *l, struct claim *c, bool permanent, double retry_after, long http_status,
	       const char *error)
{
	char err[DB_ERR_SIZE];
	int attempts = c->attempts + 1;
	bool give_up = permanent || attempts >= l->cfg->sync.max_attempts;
	double delay = 0;
	int rc;

	if (!give_up) {
		delay = schedule_retry_delay(l->cfg->sync.retry_min, l->cfg->sync.retry_max, attempts, jitter());
		if (retry_after > delay)
			delay = retry_after;
	}
	if (l->conn == NULL)
		return -1;
	rc = queue_record_failure(l->conn, c, l->owner, give_up, delay, error, http_status, err, sizeof(err));
	if (rc == QUEUE_LOCKED) {
		/* not an attempt of the run's: the same failure is recorded when the row is free */
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not record failure \"%s\": %s; kept, trying again in "
			"%.0fs", error, err, LOCKED_RETRY);
		return -1;
	}
	if (rc < 0) {
		if (db_gone(l))
			return -1;
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not record failure \"%s\": %s", error, err);
	} else if (rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost before the failure could be recorded: %s", error);
	} else if (give_up) {
		l->m.failed++;
		log_run(LOG_LEVEL_ERROR, c->run_id, "giving up after %d attempt%s: %s", attempts,
			attempts == 1 ? "" : "s", error);
	} else {
		l->m.retries++;
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not fetch (attempt %d of %d, next in %.1fs): %s",
			attempts, l->cfg->sync.max_attempts, delay, error);
	}
	return 0;
}

/* A readable reason for a non-200 answer, with the API's own message when it gave one. */
static void
describe_http_error(const struct fetch_result *r, char *out, size_t outlen)
{
	normalize_http_error(r->http_status, r->body.data, r->body.len, out, outlen);
}

/*
 * 401, 402, 403: the key (or the account) is at fault, not the run.  Stop
 * claiming, give every run back untouched, say so once, and try again after
 * a pause that doubles while the fault lasts (SIGHUP tries at once).
 */
static void
handle_auth_failure(struct loop *l, struct claim *c, const struct fetch_result *r)
{
	char why[300];

	if (c != NULL)
		release_claim(l, c);
	if (l->auth_failed && now_mono() < l->auth_until)
		return;		/* said already: one line per pause, not one per run */
	describe_http_error(r, why, sizeof(why));
	l->auth_pause = l->auth_failed ? fmin(l->auth_pause * 2, AUTH_PAUSE_MAX) : AUTH_PAUSE_MIN;
	l->auth_failed = true;
	l->auth_until = now_mono() + l->auth_pause;
	fetch_cancel_queued(l->fetch, release_cb, l);
	if (l->mode != LOOP_FOREVER) {
		log_error("the Extend API refused the API key (%s): check api.token_file, the extend-api-key "
			  "credential or EXTEND_API_KEY, and api.workspace_id", why);
		l->exit_code = 2;
		l->stopping = true;
		l->stop_deadline = now_mono();
		return;
	}
	log_error("the Extend API refused the API key (%s): check api.token_file, the extend-api-key "
		  "credential or EXTEND_API_KEY, and api.workspace_id; fetching paused, next try in %.0fs "
		  "(or on SIGHUP)", why, l->auth_pause);
}

/* When a fetched run is due again, and in what state its queue row is left. */
static struct store_next
next_fetch(const struct loop *l, const struct claim *c, const struct run_rows *rr)
{
	const struct config *cfg = l->cfg;
	struct store_next next = { "pending", 0, 0, 1 };
	enum run_phase phase = schedule_phase(rr->status);

	switch (phase) {
	case PHASE_FINAL:
		next.state = "done";
		break;
	case PHASE_MOTION:
		if (c->last_status != NULL && strcmp(c->last_status, rr->status) == 0)
			next.polls = c->polls + 1;
		next.delay = schedule_active_delay(cfg->sync.active_poll_min, cfg->sync.active_poll_max, next.polls);
		break;
	case PHASE_PARKED:
		next.delay = cfg->sync.review_poll;
		next.priority = 2;
		break;
	}
	/* a run a sweep watches is fetched when a sweep shows it changed; the timers are only a safety net */
	if (phase != PHASE_FINAL && c->listed && discover_covers(cfg, c->workflow_id))
		next.delay = phase == PHASE_MOTION ? cfg->discover.recheck_active : cfg->discover.recheck_parked;
	return next;
}

/* What a write of the batch means for its run; -1 when its result must wait (database away, row locked). */
static int
handle_stored(struct loop *l, const struct store_item *it)
{
	const struct claim *c = it->c;
	const char *status = it->rr->status;
	enum run_phase phase = schedule_phase(status);

	if (it->rc == STORE_LOCKED) {
		/* another session holds a row: try later, as it is; not an attempt, and no second wait now */
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not store run: %s; kept, trying again in %.0fs", it->err,
			LOCKED_RETRY);
		return -1;
	}
	if (it->rc < 0) {
		char why[DB_ERR_SIZE + 32];

		l->m.store_failures++;
		if (db_gone(l))
			return -1;
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not store run: %s", it->err);
		snprintf(why, sizeof(why), "could not store: %s", it->err);
		/* a value PostgreSQL cannot hold: fetching the same body again would not help */
		return record_failure(l, (struct claim *)c, it->rc == STORE_RECURS, -1, 200, why);
	}
	if (it->rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost while fetching (another daemon took the run over); "
			"result dropped");
		return 0;
	}
	l->m.synced++;
	l->m.unchanged += it->unchanged;
	l->m.last_success = (double)time(NULL);
	if (phase == PHASE_FINAL)
		log_run(LOG_LEVEL_INFO, c->run_id, "synced, status %s: done", status);
	else if (phase == PHASE_PARKED && (c->last_status == NULL || strcmp(c->last_status, status) != 0))
		log_run(LOG_LEVEL_INFO, c->run_id, "synced, status %s: parked, next check in %.0fs", status,
			it->next.delay);
	else
		log_run(LOG_LEVEL_DEBUG, c->run_id, "synced, status %s: next check in %.1fs", status, it->next.delay);
	return 0;
}

static void defer(struct loop *l, struct fetch_result *r, int tries);

/* Count a batch written in the metrics, and say why a group was written one by one. */
static void
batch_written(struct loop *l, const struct store_item *items, size_t n, int together, const char *err,
	      double seconds, bool lost)
{
	if (together == 1) {
		l->m.store_transactions++;
	} else {
		if (n > 1 && err[0] != '\0' && !lost)
			log_debug("%zu runs written one by one, as together they failed: %s", n, err);
		for (size_t i = 0; i < n; i++)
			l->m.store_transactions += items[i].rc > 0;
	}
	for (size_t i = 0; i < n; i++)
		metrics_store(&l->m, seconds / (double)n);
}

/*
 * What became of each run of a batch written; lost: the connection it was
 * written on went away.  Returns how many results were kept while the
 * loop's connection is up: because a row was locked.
 */
static int
batch_outcomes(struct loop *l, struct batch_entry *entries, const struct store_item *items, size_t n,
	       bool by_writer, bool lost)
{
	int locked = 0;

	for (size_t i = 0; i < n; i++) {
		struct batch_entry *e = &entries[i];
		const struct store_item *it = &items[i];

		if (it->rc == STORE_UNTRIED) {
			/* the connection went away before its turn: it failed nothing */
			defer(l, e->r, e->tries);
		} else if (lost && it->rc < 0 && it->rc != STORE_LOCKED) {
			/* its write went with the writer's connection: a result that keeps doing so is dropped */
			defer(l, e->r, e->tries + 1);
		} else if (handle_stored(l, it) == 0) {
			queue_claim_free(e->r->data);
			fetch_result_free(e->r);
		} else {
			locked += l->conn != NULL;
			/* a write that lost the loop's connection counts: a result that keeps doing so is dropped */
			defer(l, e->r, e->tries + (!by_writer && it->rc != STORE_LOCKED && l->conn == NULL));
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
static int
flush_batch(struct loop *l, bool now)
{
	size_t n = l->nbatch;
	char err[DB_ERR_SIZE];
	double started;
	int together;

	if (n == 0)
		return 0;
	if (!now && l->writer != NULL && l->conn != NULL && l->wconn != NULL) {
		double t = now_mono();

		if (!writer_busy(l->writer)) {
			if (n < STORE_BATCH / 2 && t < l->batch_since + BATCH_GATHER && fetch_busy(l->fetch) > 0 &&
			    !l->stopping)
				return 0;	/* more answers are on their way: gathered a moment longer */
			memcpy(l->wpending, l->pending, n * sizeof(l->pending[0]));
			memcpy(l->wbatch, l->batch, n * sizeof(l->batch[0]));
			l->nwbatch = n;
			l->nbatch = 0;
			l->writer_since = t;
			writer_submit(l->writer, l->wconn, l->wbatch, n, l->owner);
			return 0;
		}
		/* handed over when the writer is done, unless full, stopping, or the writer stalls */
		if (n < STORE_BATCH && !l->stopping && t < l->writer_since + WRITER_PATIENCE)
			return 0;
	}
	l->nbatch = 0;
	if (l->conn == NULL) {
		/* nothing tried: every result waits for the database, no write lost it */
		for (size_t i = 0; i < n; i++) {
			defer(l, l->pending[i].r, l->pending[i].tries);
			normalize_free(l->pending[i].rr);
		}
		return 0;
	}
	started = now_mono();
	together = store_write_batch(l->conn, l->batch, n, l->owner, err, sizeof(err));
	batch_written(l, l->batch, n, together, err, now_mono() - started, !db_usable(l->conn));
	return batch_outcomes(l, l->pending, l->batch, n, false, false);
}

/* The writer is done with its batch: decide what each write means. */
static void
collect_writer(struct loop *l)
{
	size_t n = l->nwbatch;
	char err[DB_ERR_SIZE];
	double seconds;
	int together;
	bool lost;

	if (l->writer == NULL || !writer_collect(l->writer, &together, &lost, err, sizeof(err), &seconds))
		return;
	l->nwbatch = 0;
	if (lost) {
		/* the reason is the thread's: an abandoned call is known there only */
		const char *why = err;

		for (size_t i = 0; i < n && why[0] == '\0'; i++)
			why = l->wbatch[i].err;
		log_warning("the writer lost its database connection (%s): its runs wait to be written again; "
			    "reconnecting",
			    why[0] != '\0' ? why : "connection closed");
		PQfinish(l->wconn);
		l->wconn = NULL;
		l->wconn_retry_at = now_mono();
	}
	batch_written(l, l->wbatch, n, together, err, seconds, lost);
	(void)batch_outcomes(l, l->wpending, l->wbatch, n, true, lost);
}

/* Whether fetched runs wait to be written, or are being written by the writer. */
static bool
writing(const struct loop *l)
{
	return l->nbatch > 0 || (l->writer != NULL && writer_busy(l->writer));
}

/* Add a fetched run to the batch; it is written at the end of this pass of the loop, or when the batch is full. */
static void
batch_add(struct loop *l, struct fetch_result *r, struct run_rows *rr, int tries)
{
	struct claim *c = r->data;
	struct store_item *it;

	for (size_t i = 0; i < l->nbatch; i++) {
		/* a run twice (a result that waited, and a new one): the older goes first */
		if (strcmp(l->batch[i].c->run_id, c->run_id) == 0) {
			(void)flush_batch(l, true);
			break;
		}
	}
	if (l->nbatch == STORE_BATCH)
		(void)flush_batch(l, false);
	if (l->nbatch == 0)
		l->batch_since = now_mono();
	l->pending[l->nbatch] = (struct batch_entry){ r, rr, tries };
	it = &l->batch[l->nbatch++];
	it->rr = rr;
	it->c = c;
	it->next = next_fetch(l, c, rr);
}

/* A page of a sweep: the sweeper applies it and asks for the next; the loop minds the key and the database. */
static void
handle_list(struct loop *l, struct fetch_result *r)
{
	enum sweep_outcome o;

	if (l->stopping || l->sweep == NULL) {
		sweep_cancelled(r->data);
		fetch_result_free(r);
		return;
	}
	if (l->auth_failed && r->http_status != 0 && r->http_status != 401 && r->http_status != 402 &&
	    r->http_status != 403) {
		log_info("the Extend API accepts the API key again; fetching resumed");
		l->auth_failed = false;
	}
	o = sweep_take(l->sweep, l->conn, l->fetch, r);
	if (o == SWEEP_AUTH)
		handle_auth_failure(l, NULL, r);
	else if (o == SWEEP_DB)
		(void)db_gone(l);
	fetch_result_free(r);
	/* runs it enqueued or made due are claimed now (an update sends no NOTIFY) */
	l->next_claim = fmin(l->next_claim, now_mono());
	l->next_sweep = fmin(l->next_sweep, now_mono());
}

/*
 * One finished request: decide what it means for its run; a fetched run
 * joins the batch to be written (flush_batch()).  Returns false (keeping r)
 * when the database is away, or a row locked, and r must wait for it.
 */
static bool
handle_result(struct loop *l, struct fetch_result *r, int tries)
{
	struct claim *c = r->data;
	char err[NORMALIZE_ERR_SIZE + 64];
	int rc = 0;

	if (r->kind == FETCH_LIST) {
		handle_list(l, r);
		return true;
	}
	if (l->conn == NULL)
		return false;
	if (r->http_status == 401 || r->http_status == 402 || r->http_status == 403) {
		handle_auth_failure(l, c, r);
		fetch_result_free(r);
		return true;
	}
	if (l->auth_failed && schedule_key_accepted(r->http_status)) {
		log_info("the Extend API accepts the API key again; fetching resumed");
		l->auth_failed = false;
	}
	if (r->error[0] != '\0') {
		/* a body over the cap will not shrink by asking again */
		rc = record_failure(l, c, r->too_big, r->retry_after, r->http_status, r->error);
	} else if (r->http_status != 200) {
		describe_http_error(r, err, sizeof(err));
		rc = record_failure(l, c, !schedule_http_retryable(r->http_status), r->retry_after, r->http_status,
				    err);
	} else {
		struct run_rows *rr = NULL;
		char why[NORMALIZE_ERR_SIZE];

		rc = normalize_body(r->body.data, r->body.len, c->run_id, l->cfg->sync.store_file_contents,
				    &rr, why, sizeof(why));
		if (rc == -ENOMEM) {
			rc = record_failure(l, c, false, -1, r->http_status, "out of memory while reading the response");
		} else if (rc < 0) {
			snprintf(err, sizeof(err), "invalid response: %s", why);
			rc = record_failure(l, c, false, -1, r->http_status, err);
		} else {
			batch_add(l, r, rr, tries);
			return true;
		}
		normalize_free(rr);
	}
	if (rc < 0)
		return false;
	queue_claim_free(c);
	fetch_result_free(r);
	return true;
}

/*
 * Keep r until the database is back or the row is free.  tries counts the
 * writes of it that lost the connection: one that keeps doing so (a
 * crashing backend?) is dropped, and its run fetched again after its lease.
 */
static void
defer(struct loop *l, struct fetch_result *r, int tries)
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
	d->next = l->deferred;
	l->deferred = d;
	/* kept for a locked row (or a lost connection): tried again soon, not at once */
	if (l->next_deferred < now_mono())
		l->next_deferred = now_mono() + LOCKED_RETRY;
}

/* Handle r now (a fetched run joins the batch), or keep it until the database is back. */
static void
take_result(struct loop *l, struct fetch_result *r)
{
	metrics_request(&l->m, r->http_status, r->seconds, r->body.len);
	if (r->http_status == 429) {
		const struct config *cfg = l->cfg;

		fetch_throttle(l->fetch, r->retry_after);
		/* runs waiting to be sent that would outlive their leases go back, for whoever can send them */
		if (schedule_claim_limit(INT_MAX, fetch_current_rate(l->fetch), cfg->sync.lease, cfg->api.timeout,
					 fetch_hold_remaining(l->fetch), 0) < (int)fetch_busy(l->fetch))
			fetch_cancel_queued(l->fetch, release_cb, l);
	}
	if (!handle_result(l, r, 0))
		defer(l, r, 0);
}

/*
 * The database is back, or a row was locked a while ago: write what waits,
 * one at a time (a result that lost the connection goes alone, so that
 * only a result that itself breaks it is ever dropped).  A row still locked
 * ends the round (each try waits lock_timeout): that one goes last, the
 * others are tried at the next round, the loop goes on.
 */
static void
flush_deferred(struct loop *l)
{
	struct deferred *d = l->deferred, *keep = NULL, **tail = &keep;
	unsigned long long synced = l->m.synced;
	bool locked = false;
	int n;

	/* what fails again is kept anew, behind what is not tried this round */
	l->deferred = NULL;
	while (d != NULL) {
		struct deferred *next = d->next;
		struct fetch_result *r = d->r;
		int tries = d->tries;

		d->next = NULL;
		if (locked || l->conn == NULL) {
			*tail = d;
			tail = &d->next;
			d = next;
			continue;
		}
		free(d);
		if (!handle_result(l, r, tries)) {
			locked = l->conn != NULL;	/* kept with the connection up: a row locked elsewhere */
			defer(l, r, tries);
		} else if (flush_batch(l, true) > 0) {
			locked = true;
		}
		d = next;
	}
	*tail = l->deferred;
	l->deferred = keep;
	n = (int)(l->m.synced - synced);
	if (n > 0)
		log_info("wrote %d result%s that waited for the database (away, or a row locked)", n,
			 n == 1 ? "" : "s");
	l->next_deferred = now_mono() + LOCKED_RETRY;
}

static void
free_batch(struct loop *l)
{
	for (size_t i = 0; i < l->nbatch; i++) {
		release_claim(l, l->pending[i].r->data);
		fetch_result_free(l->pending[i].r);
		normalize_free(l->pending[i].rr);
	}
	l->nbatch = 0;
}

static void
free_deferred(struct loop *l)
{
	while (l->deferred != NULL) {
		struct deferred *d = l->deferred;

		l->deferred = d->next;
		/* given back while the connection serves (its calls are short at the end), else left to its lease */
		release_claim(l, d->r->data);
		fetch_result_free(d->r);
		free(d);
	}
}

/*
 * While more runs are due, claim again once the fetcher holds this few: in
 * chunks of half a batch (one statement for many runs, not one per freed
 * slot), but before a request slot could go idle.
 */
static size_t
refill_at(const struct config *cfg)
{
	return (size_t)(cfg->sync.claim_batch / 2 > cfg->api.max_in_flight ? cfg->sync.claim_batch / 2
									      : cfg->api.max_in_flight);
}

/* Claim due runs and hand them to the fetcher; returns how many were claimed, or -1. */
static int
claim_runs(struct loop *l)
{
	const struct config *cfg = l->cfg;
	/* no more than can be sent well within the lease, at the rate allowed now, after the server's wait */
	int limit = schedule_claim_limit(cfg->sync.claim_batch, fetch_current_rate(l->fetch), cfg->sync.lease,
					 cfg->api.timeout, fetch_hold_remaining(l->fetch), fetch_busy(l->fetch));
	struct claim **c = NULL;
	char err[DB_ERR_SIZE];
	int n;

	/* after a refused key, one run probes whether it is accepted again */
	if (l->auth_failed && limit > 1)
		limit = 1;
	if (fetch_current_rate(l->fetch) <= 0) {
		/* no share of the API budget (yet): runs claimed now would only wait; share_budget() calls us back */
		l->claimed_all = false;
		return 0;
	}
	if (limit <= 0) {
		/* full: the next finished request brings the scan forward */
		l->claimed_all = false;
		return 0;
	}
	n = queue_claim(l->conn, l->owner, cfg->sync.lease, limit,
			l->mode == LOOP_ONCE ? l->once_cutoff : NULL, &c, err, sizeof(err));
	if (n < 0) {
		if (!db_gone(l))
			lasting_fail(&l->queue_failing, "could not claim runs: %s", err);
		return -1;
	}
	lasting_ok(&l->queue_failing, "the queue answers");
	l->claimed_all = n < limit;
	for (int i = 0; i < n; i++) {
		if (!schedule_run_id_valid(c[i]->run_id)) {
			(void)record_failure(l, c[i], true, -1, 0,
					     "invalid run ID: it must be 1 to 128 letters, digits, \"_\" or \"-\"");
			queue_claim_free(c[i]);
		} else if (fetch_submit(l->fetch, c[i]->run_id, c[i]) < 0) {
			release_claim(l, c[i]);
		} else {
			log_run(LOG_LEVEL_DEBUG, c[i]->run_id, "claimed (attempts %d, last status %s)",
				c[i]->attempts, c[i]->last_status != NULL ? c[i]->last_status : "none");
		}
	}
	free(c);
	return n;
}

/* SIGHUP: a new configuration and key, or the old ones kept with the reason logged. */
static void
reload(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct config *cfg;
	char *key;

	(void)notify_send("RELOADING=1");
	cfg = config_load(l->config_path, err, sizeof(err));
	/* whatever happens, the daemon goes on: ready again */
	(void)notify_send("READY=1");
	if (cfg == NULL) {
		log_error("configuration not reloaded, keeping the old one: %s", err);
		return;
	}
	key = config_load_api_key(cfg, err, sizeof(err));
	if (key == NULL) {
		log_error("configuration not reloaded, keeping the old one: %s", err);
		config_free(cfg);
		return;
	}
	if (fetch_configure(l->fetch, cfg, key, err, sizeof(err)) < 0) {
		log_error("configuration not reloaded, keeping the old one: %s", err);
		explicit_bzero(key, strlen(key));
		free(key);
		config_free(cfg);
		return;
	}
	if (strcmp(cfg->database.conninfo, l->cfg->database.conninfo) != 0 ||
	    strcmp(cfg->database.schema, l->cfg->database.schema) != 0) {
		/* the schema must be migrated and the connection made anew: that is a restart */
		log_warning("database.conninfo and database.schema change only at restart; keeping the old ones");
		config_keep_database(cfg, l->cfg);
	}
	log_set_level(cfg->log.level);
	if (l->sweep != NULL)
		sweep_configure(l->sweep, cfg);
	else if (l->mode == LOOP_FOREVER && discover_enabled(cfg))
		l->sweep = sweep_new(cfg, l->owner, SWEEP_DAEMON, NULL, 0, false);
	l->next_sweep = now_mono();
	config_free(l->cfg);
	l->cfg = cfg;
	explicit_bzero(l->api_key, strlen(l->api_key));
	free(l->api_key);
	l->api_key = key;
	/* a new key may be the fixed one: try at once */
	l->auth_until = 0;
	l->next_claim = now_mono();
	log_info("configuration reloaded from \"%s\" (rate limit %.1f/s, %d in flight)", l->config_path,
		 cfg->api.rate_limit, cfg->api.max_in_flight);
}

/* Whether --drain or --once may stop now. */
static bool
nothing_left(struct loop *l)
{
	struct queue_outlook o;
	char err[DB_ERR_SIZE];

	if (fetch_busy(l->fetch) > 0 || !l->claimed_all || l->conn == NULL || l->deferred != NULL || writing(l))
		return false;
	/* --drain sweeps every discovery source once before it may end */
	if (l->sweep != NULL && (!sweep_finished(l->sweep) || sweep_running(l->sweep)))
		return false;
	if (l->mode == LOOP_ONCE)
		return true;
	if (queue_outlook(l->conn, &o, err, sizeof(err)) < 0) {
		if (!db_gone(l))
			lasting_fail(&l->queue_failing, "could not read the queue: %s", err);
		return false;
	}
	if (o.busy == 0)
		return true;
	/* wait for whichever comes first: the next due run, or a notification */
	if (o.next_due > 0)
		l->next_claim = fmin(l->next_claim, now_mono() + o.next_due);
	return false;
}

static void
make_owner(struct loop *l)
{
	char host[64] = "localhost";
	unsigned int nonce;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	nonce = (unsigned int)random();
	snprintf(l->owner, sizeof(l->owner), "%s:%ld:%08x", host, (long)getpid(), nonce);
}

static int db_wait(void *arg, int fd, bool want_write, double waited);

static int
loop_init(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned int)(ts.tv_nsec ^ ts.tv_sec ^ getpid()));
	make_owner(l);
	l->budget = budget_new(l->owner);
	if (l->budget == NULL) {
		log_error("out of memory");
		return -1;
	}
	l->db_backoff = DB_RETRY_MIN;
	l->db_restored_at = l->db_lost_logged_at = -1e9;
	if (loop_setup_signals() < 0) {
		log_error("could not set up signal handling: %s", strerror(errno));
		return -1;
	}
	l->api_key = config_load_api_key(l->cfg, err, sizeof(err));
	if (l->api_key == NULL) {
		log_error("%s", err);
		return -1;
	}
	l->fetch = fetch_new(l->cfg, l->api_key, err, sizeof(err));
	if (l->fetch == NULL) {
		log_error("could not set up HTTP: %s", err);
		return -1;
	}
	/* from here on, no database call blocks the loop (db.h) */
	db_set_wait_hook(db_wait, l);
	l->writer = writer_start(err, sizeof(err));
	if (l->writer == NULL)
		log_warning("%s; runs are written by the loop", err);
	if (db_open(l) < 0)
		return -1;
	if (l->mode != LOOP_ONCE && discover_enabled(l->cfg)) {
		l->sweep = sweep_new(l->cfg, l->owner, l->mode == LOOP_DRAIN ? SWEEP_DRAIN : SWEEP_DAEMON, NULL, 0,
				     false);
		if (l->sweep == NULL) {
			log_error("out of memory");
			return -1;
		}
	}
	if (l->mode != LOOP_FOREVER &&
	    queue_db_now(l->conn, l->once_cutoff, sizeof(l->once_cutoff), err, sizeof(err)) < 0) {
		log_error("could not read the database clock: %s", err);
		return -1;
	}
	return 0;
}

/* Refresh the queue counts, systemd's STATUS=, the metrics file; log the summary line when due. */
static void
report(struct loop *l, double now)
{
	char err[DB_ERR_SIZE];
	unsigned long long requests = metrics_requests_total(&l->m);
	double rate = now > l->status_at ? (double)(requests - l->status_requests) / (now - l->status_at) : 0;

	/* done and failed runs only grow: counting them (a full scan) once a minute is enough */
	if (l->conn != NULL &&
	    queue_stats(l->conn, &l->m.queue, now >= l->next_finished_count, err, sizeof(err)) < 0) {
		if (!db_gone(l))
			lasting_fail(&l->queue_failing, "could not count the queue: %s", err);
	} else if (now >= l->next_finished_count) {
		l->next_finished_count = now + SUMMARY_EVERY;
	}
	l->m.in_flight = (double)fetch_busy(l->fetch);
	l->m.key_refused = l->auth_failed;
	l->m.rate = fetch_current_rate(l->fetch);
	l->status_requests = requests;
	l->status_at = now;
	(void)notify_send("STATUS=%s%llu snapshots written, %.0f in flight, %lld due, %llu failed, %.1f requests/s",
			  l->conn == NULL ? "database unreachable; " : l->auth_failed ? "API key refused; " : "",
			  l->m.synced, l->m.in_flight, l->m.queue.due, l->m.failed, rate);
	if (l->cfg->log.metrics_file[0] != '\0') {
		if (metrics_write(&l->m, l->cfg->log.metrics_file) < 0)
			lasting_fail(&l->metrics_failing, "could not write log.metrics_file \"%s\": %s",
				     l->cfg->log.metrics_file, strerror(errno));
		else
			lasting_ok(&l->metrics_failing, "log.metrics_file written");
	}
	if (now >= l->next_summary) {
		const struct metrics *b = &l->summary_base;

		log_info("last minute: %llu snapshots written, %llu requests, %llu retries, %llu failed; queue: "
			 "%lld pending (%lld due, the oldest %.0fs late), %lld done, %lld failed",
			 l->m.synced - b->synced, requests - metrics_requests_total(b), l->m.retries - b->retries,
			 l->m.failed - b->failed, l->m.queue.pending, l->m.queue.due, l->m.queue.oldest_due,
			 l->m.queue.done, l->m.queue.failed);
		l->summary_base = l->m;
		l->next_summary = now + SUMMARY_EVERY;
	}
}

/* --drain, --once: where the drain stands, in one line. */
static void
progress(struct loop *l)
{
	struct drain_progress p;
	char err[DB_ERR_SIZE], oldest[300] = "";

	if (l->conn == NULL)
		return;
	if (drain_read_progress(l->conn, l->once_cutoff, &p, err, sizeof(err)) < 0) {
		if (!db_gone(l))
			lasting_fail(&l->queue_failing, "could not read the queue: %s", err);
		return;
	}
	if (p.oldest_id[0] != '\0')
		snprintf(oldest, sizeof(oldest), "; oldest waiting: run \"%s\" (%s) for %.0fs", p.oldest_id,
			 p.oldest_status, p.oldest_waited);
	log_info("%s: %lld waiting (%lld in motion, %lld retrying, %zu in flight), %lld parked, %lld failed "
		 "during this %s; queue: %lld pending, %lld done, %lld failed%s",
		 l->mode == LOOP_DRAIN ? "draining" : "once", p.waiting, p.in_motion, p.retrying, fetch_busy(l->fetch),
		 p.parked, p.failed_since, l->mode == LOOP_DRAIN ? "drain" : "run", p.pending, p.done, p.failed,
		 oldest);
}

/* Log the runs of a list (at most DRAIN_LIST_MAX) under a heading; returns how many there are, or -1. */
static long long
log_drain_runs(struct loop *l, enum drain_list which, enum log_level level, const char *heading)
{
	struct drain_run runs[DRAIN_LIST_MAX];
	char err[DB_ERR_SIZE];
	long long total;
	int n;

	if (l->conn == NULL) {
		log_error("%s: cannot list them, the database is unreachable", heading);
		return -1;
	}
	n = drain_read_runs(l->conn, which, l->once_cutoff, runs, DRAIN_LIST_MAX, &total, err, sizeof(err));
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

/*
 * How a --drain or --once ends, as an exit code: 3 when --timeout expired
 * and 5 when a signal stopped it (the runs still waiting named), 4 when
 * runs of a --drain ended failed (named), else 0.  A runtime failure (2)
 * stands.
 */
static int
drain_verdict(struct loop *l)
{
	long long failed = 0;

	if (l->exit_code != 0)
		return l->exit_code;
	/* named however the drain ends; a list that cannot be read counts as failures */
	if (l->mode == LOOP_DRAIN)
		failed = log_drain_runs(l, DRAIN_FAILED_SINCE, LOG_LEVEL_ERROR,
					"runs that ended failed during this drain");
	if (l->timed_out || l->interrupted) {
		(void)log_drain_runs(l, DRAIN_WAITING, LOG_LEVEL_WARNING,
				     l->timed_out ? "--timeout expired with runs still waiting" :
				     "interrupted with runs still waiting");
		return l->timed_out ? LOOP_EXIT_TIMEOUT : LOOP_EXIT_INTERRUPTED;
	}
	return failed != 0 ? LOOP_EXIT_FAILED_RUNS : 0;
}

/*
 * Renew this daemon's place in the shared API budget when due and hand its
 * share to the fetcher.  Without the database the share runs out by itself.
 */
static void
share_budget(struct loop *l, double now)
{
	struct budget_view before = l->budget->view;
	double had = fetch_current_rate(l->fetch);
	char err[DB_ERR_SIZE];
	int rc = 0;

	if (l->conn != NULL)
		rc = budget_renew(l->budget, l->conn, l->cfg->api.rate_limit, now, err, sizeof(err));
	if (rc < 0 && !db_gone(l))
		lasting_fail(&l->budget_failing, "could not renew this daemon's share of the API budget: %s", err);
	if (rc > 0) {
		const struct budget_view *v = &l->budget->view;

		lasting_ok(&l->budget_failing, "the API budget is renewed");
		if (v->fresh && v->others_active > 0)
			log_info("sharing the API budget with %ld other daemon%s: sending from %.1fs from now",
				 v->others_active, v->others_active == 1 ? "" : "s", l->budget->valid_from - now);
		else if (v->others != before.others || v->rate_limit != before.rate_limit)
			log_info("API budget %.4g requests/s shared by %ld daemon%s: this one's share %.4g/s",
				 v->rate_limit, v->others + 1, v->others == 0 ? "" : "s", l->budget->share);
	}
	fetch_set_share(l->fetch, budget_share(l->budget, now), budget_window_margin(l->budget),
			l->budget->valid_until);
	/* a share (back) after none: claim at once */
	if (had <= 0 && fetch_current_rate(l->fetch) > 0)
		l->next_claim = fmin(l->next_claim, now);
}

/* Tell systemd the loop is alive, when it is due. */
static void
ping_watchdog(struct loop *l, double now)
{
	if (notify_watchdog_interval() > 0 && now >= l->next_watchdog) {
		(void)notify_send("WATCHDOG=1");
		l->next_watchdog = now + notify_watchdog_interval();
	}
}

/*
 * The wait of every database call (db_set_wait_hook()): the loop's own
 * wait, minus taking results.  Transfers go on (a finished one waits in
 * the fetcher until the loop takes it, after the call), the watchdog is
 * pinged, and signals are heard: the call is abandoned after a second
 * signal, when the stop's grace is over, or after DB_WAIT_MAX without an
 * answer.  An abandoned call loses nothing: what it was writing is written
 * again later, or its lease expires.
 */
static int
db_wait(void *arg, int fd, bool want_write, double waited)
{
	struct loop *l = arg;
	struct curl_waitfd fds[2];
	double now = now_mono(), limit = DB_WAIT_MAX, wait;
	char err[256];

	if (got_stop > 0 && l->signal_at == 0)
		l->signal_at = now;
	/* past the grace (counted from the signal, also when it came during this call) or a second signal */
	if (got_stop > 1 || (l->stopping && now >= l->stop_deadline) ||
	    (got_stop > 0 && !l->stopping && now >= l->signal_at + fmin(STOP_GRACE, l->cfg->api.timeout)))
		limit = DB_WAIT_EXITING;
	else if (l->stopping)
		limit = fmin(limit, waited + l->stop_deadline - now);
	else if (got_stop > 0)
		limit = fmin(limit, waited + l->signal_at + fmin(STOP_GRACE, l->cfg->api.timeout) - now);
	if (waited >= limit)
		return -1;
	ping_watchdog(l, now);
	wait = fmin(limit - waited, 1.0);
	if (notify_watchdog_interval() > 0)
		wait = fmin(wait, fmax(l->next_watchdog - now, 0));
	fds[0].fd = sigpipe_fds[0];
	fds[0].events = CURL_WAIT_POLLIN;
	fds[0].revents = 0;
	fds[1].fd = fd;
	fds[1].events = (short)(CURL_WAIT_POLLIN | (want_write ? CURL_WAIT_POLLOUT : 0));
	fds[1].revents = 0;
	if (fetch_drive(l->fetch, fds, 2, (int)ceil(wait * 1000), err, sizeof(err)) < 0) {
		/* curl itself failed: the loop's own wait says so; do not spin here meanwhile */
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
		return 1;
	}
	if (fds[0].revents != 0)
		drain_sigpipe();
	if (got_stop > 0 && l->signal_at == 0)
		l->signal_at = now_mono();
	ping_watchdog(l, now_mono());
	return fds[1].revents != 0;
}

/* Periodic tasks; they run on the loop's own wake-ups, at least once a second. */
static void
housekeeping(struct loop *l, double now)
{
	if (l->mode != LOOP_FOREVER && now >= l->next_progress) {
		progress(l);
		l->next_progress = now + PROGRESS_EVERY;
	}
	share_budget(l, now);
	ping_watchdog(l, now);
	if (now >= l->next_status) {
		report(l, now);
		l->next_status = now + STATUS_EVERY;
	}
}

/* A graceful stop: claim nothing more, let what is in flight finish within the grace, release the rest. */
static void
begin_stop(struct loop *l, double now)
{
	(void)notify_send("STOPPING=1");
	l->stopping = true;
	/* the grace counts from the signal, which may have come while a database call waited */
	l->stop_deadline = (got_stop > 0 && l->signal_at > 0 ? l->signal_at : now) + fmin(STOP_GRACE,
											   l->cfg->api.timeout);
	log_info("stopping: finishing %zu request%s in flight", fetch_busy(l->fetch),
		 fetch_busy(l->fetch) == 1 ? "" : "s");
	fetch_cancel_queued(l->fetch, release_cb, l);
}

/* Signals: begin a graceful stop on the first SIGTERM/SIGINT, reload on SIGHUP. Returns false to exit now. */
static bool
handle_signals(struct loop *l, double now)
{
	if (got_stop && !l->stopping) {
		l->interrupted = true;
		begin_stop(l, now);
	}
	if (l->timeout > 0 && !l->stopping && now >= l->timeout_at) {
		log_warning("--timeout of %gs expired: stopping", l->timeout);
		l->timed_out = true;
		begin_stop(l, now);
	}
	if (got_stop > 1 || (l->stopping && now >= l->stop_deadline)) {
		/* a second signal, or the grace is over: leases released here or expiring later lose nothing */
		fetch_cancel_all(l->fetch, release_cb, l);
		return false;
	}
	if (l->stopping && fetch_busy(l->fetch) == 0 && !writing(l) && (l->deferred == NULL || l->conn == NULL))
		return false;
	if (got_reload) {
		got_reload = 0;
		reload(l);
	}
	return true;
}

/* Wait for HTTP, a signal, a notification or the next timer, then take what arrived. */
static int
wait_and_collect(struct loop *l, double now)
{
	struct curl_waitfd fds[3];
	unsigned nfds = 0, dbfd = 0;
	struct fetch_result *r;
	double wake;
	char err[256];

	fds[nfds].fd = sigpipe_fds[0];
	fds[nfds].events = CURL_WAIT_POLLIN;
	fds[nfds++].revents = 0;
	if (l->conn != NULL && PQsocket(l->conn) >= 0) {
		dbfd = nfds;
		fds[nfds].fd = PQsocket(l->conn);
		fds[nfds].events = CURL_WAIT_POLLIN;
		fds[nfds++].revents = 0;
	}
	if (l->writer != NULL && writer_busy(l->writer)) {
		fds[nfds].fd = writer_fd(l->writer);
		fds[nfds].events = CURL_WAIT_POLLIN;
		fds[nfds++].revents = 0;
	}
	if ((got_stop > 0 && !l->stopping) || got_stop > 1)
		wake = now;	/* a signal heard (and its pipe drained) during a database call */
	else if (l->stopping)
		wake = l->stop_deadline;
	else if (l->conn == NULL)
		wake = l->db_retry_at;
	else if (l->auth_failed)
		wake = fmax(l->next_claim, l->auth_until);
	else
		wake = l->sweep != NULL ? fmin(l->next_claim, l->next_sweep) : l->next_claim;
	wake = fmin(wake, fmin(l->next_status, notify_watchdog_interval() > 0 ? l->next_watchdog : INFINITY));
	/* a batch gathering for the writer, or waiting for a writer that may stall */
	if (l->nbatch > 0 && l->writer != NULL)
		wake = fmin(wake, writer_busy(l->writer) ? l->writer_since + WRITER_PATIENCE
							 : l->batch_since + BATCH_GATHER);
	if (l->conn != NULL)
		wake = fmin(wake, budget_next(l->budget, now));
	wake = fmin(fmax(wake - now, 0), 1.0);
	if (fetch_wait(l->fetch, fds, nfds, (int)ceil(wake * 1000), err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (fds[0].revents != 0)
		drain_sigpipe();
	/* notifications may also have arrived with the replies to other statements */
	if (l->conn != NULL) {
		/* the socket is read when the wait saw it readable (or it had none to watch) */
		int n = db_drain_notifies(l->conn, dbfd == 0 || fds[dbfd].revents != 0);

		if (n > 0)
			l->next_claim = now_mono();
		else if (n < 0)
			(void)db_gone(l);
	}
	while ((r = fetch_next_result(l->fetch)) != NULL)
		take_result(l, r);
	/* what arrived together is written together: one transaction, one statement per table */
	collect_writer(l);
	(void)flush_batch(l, false);
	/* slots freed while more runs were due: claim again at once */
	if (!l->claimed_all && fetch_busy(l->fetch) <= refill_at(l->cfg))
		l->next_claim = fmin(l->next_claim, now_mono());
	return 0;
}

/* The main loop; see loop.h. */
int
loop_run(struct config **cfgp, const char *config_path, enum loop_mode mode)
{
	return loop_run_until(cfgp, config_path, mode, 0);
}

/* The main loop, giving up after timeout seconds; see loop.h. */
int
loop_run_until(struct config **cfgp, const char *config_path, enum loop_mode mode, double timeout)
{
	struct loop l = { 0 };

	l.cfg = *cfgp;
	l.config_path = config_path;
	l.mode = mode;
	l.timeout = mode != LOOP_FOREVER ? timeout : 0;
	l.timeout_at = now_mono() + l.timeout;
	metrics_init(&l.m);
	metrics_init(&l.summary_base);
	if (loop_init(&l) < 0) {
		l.exit_code = 2;
		goto out;
	}
	log_info("extend-syncd started as \"%s\" (%s, rate limit %.1f/s, %d in flight)", l.owner,
		 mode == LOOP_FOREVER ? "daemon" : mode == LOOP_ONCE ? "once" : "drain",
		 l.cfg->api.rate_limit, l.cfg->api.max_in_flight);
	/* the configuration is valid, the database answered, the schema is migrated */
	(void)notify_send("READY=1");
	l.status_at = now_mono();
	l.next_summary = l.status_at + SUMMARY_EVERY;
	l.next_progress = l.status_at + PROGRESS_EVERY;

	for (;;) {
		double now = now_mono();

		if (!handle_signals(&l, now))
			break;
		/* a call abandoned anywhere (a sweep, a report) leaves a connection to replace */
		if (l.conn != NULL && !db_usable(l.conn))
			(void)db_gone(&l);
		housekeeping(&l, now);
		if (l.conn == NULL && now >= l.db_retry_at && db_open(&l) == 0)
			flush_deferred(&l);
		else if (l.conn != NULL && l.wconn == NULL && l.writer != NULL && now >= l.wconn_retry_at)
			(void)wconn_open(&l);
		else if (l.conn != NULL && l.deferred != NULL && now >= l.next_deferred)
			flush_deferred(&l);
		if (l.sweep != NULL && l.conn != NULL && !l.stopping && now >= l.next_sweep &&
		    !(l.auth_failed && now < l.auth_until))
			l.next_sweep = sweep_poll(l.sweep, l.conn, l.fetch, now);
		if (l.conn != NULL && !l.stopping && now >= l.next_claim && !(l.auth_failed && now < l.auth_until)) {
			int n = claim_runs(&l);

			if (n < 0)
				l.next_claim = now + 1;
			else if (l.claimed_all || n == 0 || fetch_busy(l.fetch) > refill_at(l.cfg))
				l.next_claim = now + l.cfg->sync.idle_poll;
			if (l.mode != LOOP_FOREVER && nothing_left(&l))
				break;
		} else if (l.mode != LOOP_FOREVER && !l.stopping && l.claimed_all && nothing_left(&l)) {
			break;
		}
		if (wait_and_collect(&l, now) < 0) {
			l.exit_code = 2;
			break;
		}
	}
	(void)notify_send("STOPPING=1");
	if (l.writer != NULL) {
		/* past the grace, or a second signal: its call is abandoned, its runs fetched again later */
		writer_wait(l.writer);
		collect_writer(&l);
	}
	/* gathered for the writer when the loop had to end: written now (its calls are short then), or left to
	   their leases */
	if (l.conn != NULL && db_usable(l.conn))
		(void)flush_batch(&l, true);
	free_batch(&l);
	if (l.mode != LOOP_FOREVER)
		l.exit_code = drain_verdict(&l);
	l.next_finished_count = 0;	/* the last word counts everything */
	report(&l, now_mono());
	log_info("extend-syncd stopped: %llu snapshot%s written, %llu failed, %llu retr%s", l.m.synced,
		 l.m.synced == 1 ? "" : "s", l.m.failed, l.m.retries, l.m.retries == 1 ? "y" : "ies");
	if (l.sweep != NULL && l.mode == LOOP_DRAIN && sweep_failed(l.sweep) && l.exit_code == 0)
		l.exit_code = 2;
out:
	if (l.fetch != NULL)
		fetch_cancel_all(l.fetch, release_cb, &l);
	if (l.sweep != NULL)
		sweep_stop(l.sweep, l.conn);
	sweep_free(l.sweep);
	if (l.budget != NULL && l.conn != NULL) {
		double idle = l.fetch != NULL ? now_mono() - fetch_last_send(l.fetch) : INFINITY;
		char err[DB_ERR_SIZE];

		/* the others grow once this daemon's last second of requests is over */
		if (budget_leave(l.budget, l.conn, idle, err, sizeof(err)) < 0)
			log_warning("could not leave the API budget (the others grow when its lease ends): %s", err);
	}
	budget_free(l.budget);
	writer_stop(l.writer);
	if (l.wconn != NULL)
		PQfinish(l.wconn);
	free_deferred(&l);
	fetch_free(l.fetch);
	if (l.conn != NULL)
		PQfinish(l.conn);
	db_set_wait_hook(NULL, NULL);
	if (l.api_key != NULL) {
		explicit_bzero(l.api_key, strlen(l.api_key));
		free(l.api_key);
	}
	*cfgp = l.cfg;
	for (int i = 0; i < 2; i++) {
		if (sigpipe_fds[i] >= 0)
			close(sigpipe_fds[i]);
		sigpipe_fds[i] = -1;
	}
	return l.exit_code;
}
