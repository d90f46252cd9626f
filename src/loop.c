/* The scheduler: claim due runs, fetch them, store what came back, and decide when each is due again. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "badreq.h"
#include "claims.h"
#include "clock.h"
#include "db.h"
#include "dbconn.h"
#include "discover.h"
#include "drainlog.h"
#include "fetch.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "normalize.h"
#include "notify.h"
#include "outcome.h"
#include "queue.h"
#include "results.h"
#include "retention.h"
#include "schedule.h"
#include "share.h"
#include "status.h"
#include "stop.h"
#include "store.h"
#include "sweep.h"
#include "timing.h"
#include "wait.h"

struct loop {
	struct config *cfg;
	const char *config_path;
	enum loop_mode mode;
	char *api_key;
	struct dbconn db;	/* the loop's connection */
	struct fetcher *fetch;
	struct share share;	/* this daemon's share of api.rate_limit */
	char owner[160];
	struct outcome_ctx oc;	/* the outcomes' side of the loop: &db, owner, &m, cfg (outcome.h) */
	struct sweeper *sweep;	/* NULL: no discovery source (or --once) */
	double next_sweep;	/* monotonic time to start the sweeps that are due */

	struct stop stop;	/* how it ends */
	struct {
		bool failed;	/* the API refused the key: nothing is claimed until until */
		double until, pause;
	} auth;
	struct badreq bad;	/* 400s held until runs agree; paused when they do (a wrong setting) */

	struct results *results;	/* fetched, on their way to the database */
	struct claims claims;	/* claiming due runs: when next, and those not sent while the database is away */

	char once_cutoff[40];	/* the database's time at the start: --once claims only runs due before it */
	struct metrics m;
	struct status status;	/* what it says of itself, and when */
	struct retention retention;	/* pruning run_status_history (sync.history_days) */
};

/* The loop's connection: its statements prepared, and LISTEN. */
static int
conn_setup(PGconn *conn, void *arg, char *err, size_t errlen)
{
	struct loop *l = arg;

	if (queue_prepare(conn, err, errlen) < 0 || store_prepare(conn, err, errlen) < 0 ||
	    discover_prepare(conn, err, errlen) < 0 || db_listen(conn, l->cfg->database.schema, err, errlen) < 0)
		return -1;
	return 0;
}

/* A request taken back from the fetcher by cancel(): a run given back, a sweep's page retried, the probe given up on. */
static void
cancelled(const char *run_id, void *data, void *arg)
{
	struct loop *l = arg;

	if (run_id == NULL && badreq_is_probe(data))
		badreq_sent(&l->bad, &l->oc, false, now_mono());
	else
		outcome_release_cb(run_id, data, &l->oc);
}

/* Give back the runs the fetcher has not sent yet (all: and take back those in flight too). */
static void
cancel(struct loop *l, bool all)
{
	if (all)
		fetch_cancel_all(l->fetch, cancelled, l);
	else
		fetch_cancel_queued(l->fetch, cancelled, l);
}

/* What claiming needs of the loop now (claims.h). */
static struct claims_ctx
claims_of(struct loop *l)
{
	return (struct claims_ctx){ l->oc, l->fetch, l->results,
				    l->mode == LOOP_ONCE ? l->once_cutoff : NULL, l->auth.failed,
				    &l->claims.failing };
}

/*
 * Connect, prepare and LISTEN, and read what the extracted views know if
 * that is still to do; on failure the loop tries again later, with backoff.
 */
static int
db_open(struct loop *l)
{
	if (dbconn_open(&l->db, l->cfg) < 0)
		return -1;
	l->claims.next = now_mono();
	claims_give_back(&l->claims, &l->oc);
	(void)results_connect(l->results, l->cfg);
	results_views_sync(l->results);
	return 0;
}

/*
 * 401, 402, 403: the key (or the account) is at fault, not the run.  Stop
 * claiming, give every run back untouched, say so once, and try again after
 * a pause that doubles while the fault lasts (SIGHUP tries at once).
 */
static void
handle_auth_failure(struct loop *l, struct claim *c, const struct fetch_result *r)
{
	char why[300], next[80];

	if (c != NULL)
		outcome_release(&l->oc, c);
	if (l->auth.failed && now_mono() < l->auth.until)
		return;		/* said already: one line per pause, not one per run */
	normalize_http_error(r->http_status, r->body.data, r->body.len, why, sizeof(why));
	l->auth.pause = l->auth.failed ? fmin(l->auth.pause * 2, AUTH_PAUSE_MAX) : AUTH_PAUSE_MIN;
	l->auth.failed = true;
	l->auth.until = now_mono() + l->auth.pause;
	cancel(l, false);
	snprintf(next, sizeof(next), "; fetching paused, next try in %.0fs (or on SIGHUP)", l->auth.pause);
	log_error("the Extend API refused the API key (%s): check api.token_file, the extend-api-key "
		  "credential or EXTEND_API_KEY, and api.workspace_id%s", why, l->mode == LOOP_FOREVER ? next : "");
	if (l->mode != LOOP_FOREVER) {
		/* --drain, --once: nothing to wait for */
		l->stop.exit_code = 2;
		l->stop.stopping = true;
		l->stop.deadline = now_mono();
	}
}

/*
 * 400 for BADREQ_RUNS runs in a row, with the same error, and for a list
 * of runs: the request is at fault (api.version, api.base_url), not the
 * runs.  Say so loudly (the pause began) or again (the list was refused
 * again), give back what waits to be sent; --drain and --once end, the
 * runs left pending.
 */
static void
bad_request_paused(struct loop *l, bool began)
{
	char next[80], base[1024];

	if (began)
		cancel(l, false);
	snprintf(next, sizeof(next), "; fetching paused, next try in %.0fs (or on SIGHUP)", l->bad.pause);
	log_error("the Extend API answered %s to %d runs in a row and to a list of runs: the request is wrong, not "
		  "the runs; check api.version (\"%s\") and api.base_url (\"%s\")%s", l->bad.error, BADREQ_RUNS,
		  l->cfg->api.version, config_url_for_log(l->cfg->api.base_url, base, sizeof(base)),
		  l->mode == LOOP_FOREVER ? next : "; the runs stay pending");
	if (l->mode != LOOP_FOREVER && began) {
		/* --drain, --once: a setting to fix, nothing to wait for */
		l->stop.exit_code = 2;
		l->stop.stopping = true;
		l->stop.deadline = now_mono();
	}
}

/* Ask the API whether it takes this daemon's requests at all: one list page of one run (badreq.h). */
static void
send_probe(struct loop *l)
{
	char path[200];
	bool sent = discover_list_path(path, sizeof(path), 1, NULL, NULL, NULL) == 0 &&
		    fetch_submit_list(l->fetch, path, BADREQ_PROBE) == 0;

	badreq_sent(&l->bad, &l->oc, sent, now_mono());
}

/* A run's 400: held until the answers after it say whose fault it is (badreq.h). */
static void
handle_bad_request(struct loop *l, struct fetch_result *r)
{
	if (badreq_take(&l->bad, &l->oc, r, now_mono()) != BADREQ_VERIFY)
		return;
	if (l->stop.stopping || l->db.conn == NULL) {
		badreq_sent(&l->bad, &l->oc, false, now_mono());	/* the runs go back untouched */
		return;
	}
	/* what waits to be sent would only be held too: back to the queue until the answer (--once: it
	   claims only what was due at its start, and sends them) */
	if (l->mode != LOOP_ONCE)
		cancel(l, false);
	send_probe(l);
}

/* An answer that accepted the key (accepted) ends a refused key's pause, said once. */
static void
key_answered(struct loop *l, bool accepted)
{
	if (l->auth.failed && accepted) {
		log_info("the Extend API accepts the API key again; fetching resumed");
		l->auth.failed = false;
	}
}

/* The answer to send_probe(): the request's fault (a pause), the runs' own, or nothing decided. */
static void
handle_probe(struct loop *l, struct fetch_result *r)
{
	long st = r->http_status;
	bool paused = l->bad.paused;

	if (l->stop.stopping || st == 401 || st == 402 || st == 403) {
		/* the key, not the request: the runs held go back untouched */
		(void)badreq_verdict(&l->bad, &l->oc, 0, now_mono());
		if (!l->stop.stopping)
			handle_auth_failure(l, NULL, r);
		fetch_result_free(r);
		return;
	}
	key_answered(l, st != 0);
	switch (badreq_verdict(&l->bad, &l->oc, st, now_mono())) {
	case BADREQ_PAUSED:
		bad_request_paused(l, true);
		break;
	case BADREQ_STILL_PAUSED:
		bad_request_paused(l, false);
		break;
	case BADREQ_TAKEN:
		if (paused)
			log_info("the Extend API takes the requests again (a list of runs); fetching resumed");
		break;
	case BADREQ_UNCLEAR:
		break;
	}
	fetch_result_free(r);
	l->claims.next = fmin(l->claims.next, now_mono());
}

/* A page of a sweep: the sweeper applies it and asks for the next; the loop minds the key and the database. */
static void
handle_list(struct loop *l, struct fetch_result *r)
{
	enum sweep_outcome o;

	if (badreq_is_probe(r->data)) {
		handle_probe(l, r);
		return;
	}
	if (l->stop.stopping || l->sweep == NULL) {
		sweep_cancelled(r->data);
		fetch_result_free(r);
		return;
	}
	key_answered(l, r->http_status != 0 && r->http_status != 401 && r->http_status != 402 &&
			r->http_status != 403);
	/* a page has the runs' headers and base: it answers for them too */
	if (r->http_status == 200 && badreq_accepted(&l->bad, &l->oc))
		log_info("the Extend API takes the requests again (a list page); fetching resumed");
	o = sweep_take(l->sweep, l->db.conn, l->fetch, r);
	l->m.malformed_summaries += sweep_count_malformed(l->sweep);
	if (o == SWEEP_AUTH)
		handle_auth_failure(l, NULL, r);
	else if (o == SWEEP_DB)
		(void)dbconn_gone(&l->db);
	fetch_result_free(r);
	/* runs it enqueued or made due are claimed now (an update sends no NOTIFY) */
	l->claims.next = fmin(l->claims.next, now_mono());
	l->next_sweep = fmin(l->next_sweep, now_mono());
}

/*
 * One finished request: decide what it means for its run; a fetched run
 * joins the batch to be written (results_add()).  Returns false (keeping r)
 * when the database is away, or a row locked, and r must wait for it.
 */
static bool
handle_result(void *arg, struct fetch_result *r, int tries)
{
	struct loop *l = arg;
	struct claim *c = r->data;
	struct run_rows *rr;
	int rc;

	if (r->kind == FETCH_LIST) {
		handle_list(l, r);
		return true;
	}
	if (l->db.conn == NULL)
		return false;
	if (r->http_status == 401 || r->http_status == 402 || r->http_status == 403) {
		handle_auth_failure(l, c, r);
		fetch_result_free(r);
		return true;
	}
	key_answered(l, schedule_key_accepted(r->http_status));
	if (r->http_status == 400 && r->error[0] == '\0') {
		handle_bad_request(l, r);
		return true;
	}
	/* the API took this request: the 400s held were their runs' own */
	if (schedule_request_taken(r->http_status) && badreq_accepted(&l->bad, &l->oc))
		log_info("the Extend API takes the requests again (HTTP %ld); fetching resumed", r->http_status);
	rc = outcome_answer(&l->oc, r, &rr);
	if (rc > 0) {
		results_add(l->results, r, rr, tries, outcome_next(l->cfg, c, rr));
		return true;
	}
	if (rc < 0)
		return false;
	queue_claim_free(c);
	fetch_result_free(r);
	return true;
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
			cancel(l, false);
	}
	if (!handle_result(l, r, 0))
		results_keep(l->results, r, 0);
}

/* SIGHUP: a new configuration and key, or the old ones kept with the reason logged. */
static void
reload(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct config *cfg;
	char *key;

	(void)notify_send("RELOADING=1");
	cfg = config_reload(l->config_path, &key, err, sizeof(err));
	/* whatever happens, the daemon goes on: ready again */
	(void)notify_send("READY=1");
	if (cfg == NULL || fetch_configure(l->fetch, cfg, key, err, sizeof(err)) < 0) {
		log_error("configuration not reloaded, keeping the old one: %s", err);
		config_free_api_key(key);
		config_free(cfg);
		return;
	}
	if (config_database_changed(cfg, l->cfg)) {
		/* the schema must be migrated and the connection made anew: that is a restart */
		log_warning("database.conninfo, database.schema and database.extracted_schema change only at restart; "
			    "keeping the old ones");
		config_keep_database(cfg, l->cfg);
	}
	if (strcmp(cfg->log.metrics_file, l->cfg->log.metrics_file) != 0) {
		log_warning("log.metrics_file changes only at restart (its lock is taken then); keeping the old one");
		config_keep_metrics_file(cfg, l->cfg);
	}
	log_set_level(cfg->log.level);
	if (l->sweep != NULL)
		sweep_configure(l->sweep, cfg);
	else if (l->mode == LOOP_FOREVER && discover_enabled(cfg))
		l->sweep = sweep_new(cfg, l->owner, SWEEP_DAEMON, NULL, 0, false);
	l->next_sweep = now_mono();
	config_free(l->cfg);
	l->cfg = cfg;
	l->oc.cfg = cfg;
	stop_configure(&l->stop, cfg->api.timeout);
	config_free_api_key(l->api_key);
	l->api_key = key;
	/* a new key, api.version or api.base_url may be the fixed one: try at once */
	l->auth.until = 0;
	l->bad.until = 0;
	l->claims.next = now_mono();
	log_info("configuration reloaded from \"%s\" (rate limit %.1f/s, %d in flight)", l->config_path,
		 cfg->api.rate_limit, cfg->api.max_in_flight);
}

/* Whether --drain or --once may stop now. */
static bool
nothing_left(struct loop *l)
{
	if (fetch_busy(l->fetch) > 0 || !l->claims.all || l->db.conn == NULL || results_kept(l->results) ||
	    results_writing(l->results) || l->bad.nheld > 0)
		return false;
	/* --drain sweeps every discovery source once before it may end */
	if (l->sweep != NULL && (!sweep_finished(l->sweep) || sweep_running(l->sweep)))
		return false;
	return l->mode == LOOP_ONCE || claims_idle(&l->claims, &l->db);
}

/*
 * The loop's timer (the status, the share and the batch have their own):
 * it is due again at the first of its deadlines.  Before the wait,
 * transfers start only as the memory for their results allows.
 */
static double
loop_timer(void *arg, double now)
{
	struct loop *l = arg;
	struct claims_ctx x = claims_of(l);
	int stops = wait_stops();
	double wake;

	if ((stops > 0 && !l->stop.stopping) || stops > 1)
		wake = now;	/* a signal heard (and its pipe drained) during a database call */
	else if (l->stop.stopping)
		wake = l->stop.deadline;
	else if (l->db.conn == NULL)
		wake = l->db.retry_at;
	else if (l->auth.failed || badreq_waiting(&l->bad))
		/* paused: due when the pause ends; a probe (or a request sent before) in flight: its answer wakes it */
		wake = fetch_busy(l->fetch) > 0 ? INFINITY :
		       fmax(l->claims.next, fmax(l->auth.failed ? l->auth.until : 0, badreq_next(&l->bad, l->cfg)));
	else
		wake = l->sweep != NULL ? fmin(l->claims.next, l->next_sweep) : l->claims.next;
	claims_pace(&l->claims, &x);
	return wake;
}


/* A NOTIFY came: runs were enqueued or made due. */
static void
notified(void *arg)
{
	struct loop *l = arg;

	l->claims.next = now_mono();
}

static int
loop_init(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned int)(ts.tv_nsec ^ ts.tv_sec ^ getpid()));
	queue_make_owner(l->owner, sizeof(l->owner));
	l->oc = (struct outcome_ctx){ &l->db, l->owner, &l->m, l->cfg };
	if (wait_setup() < 0) {
		log_error("could not set up signal handling: %s", strerror(errno));
		return -1;
	}
	if (share_init(&l->share, l->owner, &l->db) < 0) {
		log_error("out of memory");
		return -1;
	}
	dbconn_init(&l->db, DBCONN_LOOP, conn_setup, l);
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
	l->share.fetch = l->fetch;
	/* from here on, no database call blocks the loop (db.h) */
	wait_start_loop(l->fetch, stop_call_limit, &l->stop);
	db_set_wait_hook(wait_db, NULL);
	if (dbconn_listen(&l->db, notified, l) < 0 || status_setup(&l->status) < 0 ||
	    wait_add_timer(loop_timer, l, 0) < 0) {
		log_error("too many sources of events");
		return -1;
	}
	l->results = results_new(&l->oc, handle_result, l);
	if (l->results == NULL) {
		log_error("out of memory");
		return -1;
	}
	if (results_views_start(l->results, l->cfg->database.extracted_schema) < 0)
		return -1;
	/*
	 * The daemon's connection may be gone again since the start's (a
	 * server restarting): the loop connects again, as it would later.
	 */
	if (db_open(l) < 0 && l->mode != LOOP_FOREVER)
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
	    queue_db_now(l->db.conn, l->once_cutoff, sizeof(l->once_cutoff), err, sizeof(err)) < 0) {
		log_error("could not read the database clock: %s", err);
		return -1;
	}
	return 0;
}

/* Refresh the queue counts, systemd's STATUS=, the metrics file; log the summary line when due. */
static void
report(struct loop *l, double now)
{
	status_count(&l->status, &l->db, &l->m, &l->claims.failing, now);
	l->m.in_flight = (double)fetch_busy(l->fetch);
	l->m.pending_bytes = (double)results_held(l->results);
	l->m.key_refused = l->auth.failed;
	l->m.bad_request_paused = l->bad.paused;
	l->m.rate = fetch_current_rate(l->fetch);
	status_publish(&l->status, &l->m, l->cfg->log.metrics_file,
		       l->db.conn == NULL ? "database unreachable; " : l->auth.failed ? "API key refused; " :
		       l->bad.paused ? "API answers 400 (check api.version, api.base_url); " : "", now);
}

/* Periodic tasks; they run on the loop's own wake-ups, at least once a second. */
static void
housekeeping(struct loop *l, double now)
{
	if (l->mode != LOOP_FOREVER && now >= l->status.next_progress) {
		drainlog_progress(&l->db, l->once_cutoff, l->mode == LOOP_DRAIN, fetch_busy(l->fetch),
				  &l->claims.failing);
		l->status.next_progress = now + PROGRESS_EVERY;
	}
	if (share_due(&l->share, now)) {
		/* what it holds: its requests, and the pages of the sweeps running or soon due (share.h) */
		long holding = (long)fetch_busy(l->fetch);

		if (!l->stop.stopping)
			holding += sweep_demand(l->sweep, now, BUDGET_DEMAND_HOLD);
		share_count_demand(&l->share, holding, !l->stop.stopping && !results_kept(l->results),
				   l->cfg->sync.claim_batch, l->mode == LOOP_ONCE ? l->once_cutoff : NULL, now);
	}
	/* a share (back) after none: claim at once */
	if (share_renew(&l->share, l->cfg->api.rate_limit, now))
		l->claims.next = fmin(l->claims.next, now);
	if (l->db.conn != NULL && !l->stop.stopping && retention_due(&l->retention, l->cfg->sync.history_days, now))
		l->m.history_pruned += retention_prune(&l->retention, &l->db, l->cfg->sync.history_days, now);
	if (now >= l->status.next) {
		report(l, now);
		l->status.next = now + STATUS_EVERY;
	}
}

/* Signals: begin a graceful stop on the first SIGTERM/SIGINT, reload on SIGHUP. Returns false to exit now. */
static bool
handle_signals(struct loop *l, double now)
{
	int found = stop_check(&l->stop, now);

	if (found & STOP_BEGAN) {
		log_info("stopping: finishing %zu request%s in flight", fetch_busy(l->fetch),
			 fetch_busy(l->fetch) == 1 ? "" : "s");
		cancel(l, false);
	}
	if (found & STOP_NOW) {
		/* a second signal, or the grace is over: leases released here or expiring later lose nothing */
		cancel(l, true);
		return false;
	}
	if (l->stop.stopping && fetch_busy(l->fetch) == 0 && !results_writing(l->results) &&
	    (!results_kept(l->results) || l->db.conn == NULL))
		return false;
	if (wait_take_reload())
		reload(l);
	return true;
}

/* Wait for HTTP, a signal, a notification or the next timer, then take what arrived. */
static int
wait_and_collect(struct loop *l, double now)
{
	struct fetch_result *r;
	char err[256];

	if (wait_run(now, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	while ((r = fetch_next_result(l->fetch)) != NULL)
		take_result(l, r);
	/* what arrived together is written together: one transaction, one statement per table */
	results_collect(l->results);
	(void)results_flush(l->results, false, fetch_busy(l->fetch) > 0, l->stop.stopping);
	/* slots freed while more runs were due: claim again at once */
	if (!l->claims.all && fetch_busy(l->fetch) <= claims_refill_at(l->cfg))
		l->claims.next = fmin(l->claims.next, now_mono());
	return 0;
}

/* The main loop; see loop.h. */
int
loop_run(struct config **cfgp, const char *config_path, enum loop_mode mode)
{
	return loop_run_until(cfgp, config_path, mode, 0);
}

/* Claim due runs when it is time; whether a --drain or --once may end now. */
static bool
claim_due(struct loop *l, double now)
{
	struct claims_ctx x;
	int n;

	/* a refused key: one probe when the pause ends, and no other claim until its answer */
	if (l->db.conn == NULL || l->stop.stopping || now < l->claims.next ||
	    (l->auth.failed && (now < l->auth.until || fetch_busy(l->fetch) > 0)) ||
	    badreq_waiting(&l->bad))
		return l->mode != LOOP_FOREVER && !l->stop.stopping && l->claims.all && nothing_left(l);
	x = claims_of(l);
	n = claims_run(&l->claims, &x);
	if (n < 0)
		l->claims.next = now + 1;
	else if (l->claims.all || n == 0 || fetch_busy(l->fetch) > claims_refill_at(l->cfg))
		l->claims.next = now + l->cfg->sync.idle_poll;
	return l->mode != LOOP_FOREVER && nothing_left(l);
}

/* One pass of the loop: what is due, then the wait.  Returns false when the loop ends. */
static bool
pass(struct loop *l)
{
	double now = now_mono();

	if (!handle_signals(l, now))
		return false;
	/* a call abandoned anywhere (a sweep, a report) leaves a connection to replace */
	if (l->db.conn != NULL && !db_usable(l->db.conn))
		(void)dbconn_gone(&l->db);
	housekeeping(l, now);
	if (dbconn_due(&l->db, now)) {
		if (db_open(l) == 0)
			results_retry(l->results);
	} else if (l->db.conn != NULL) {
		results_poll(l->results, l->cfg, now);
	}
	if (l->sweep != NULL && l->db.conn != NULL && !l->stop.stopping && now >= l->next_sweep &&
	    !(l->auth.failed && now < l->auth.until) && !(l->bad.paused && now < l->bad.until))
		l->next_sweep = sweep_poll(l->sweep, l->db.conn, l->fetch, now);
	if (badreq_probe_due(&l->bad, now) && l->db.conn != NULL && !l->stop.stopping &&
	    !(l->auth.failed && now < l->auth.until))
		send_probe(l);
	if (claim_due(l, now))
		return false;
	/* 400s held with no answer left to compare them with: their runs' own */
	badreq_settle(&l->bad, &l->oc, fetch_busy(l->fetch), now);
	if (wait_and_collect(l, now) < 0) {
		l->stop.exit_code = 2;
		return false;
	}
	return true;
}

/* The loop ended: what gathered is written, a --drain or --once says how it went, the last status. */
static void
finish(struct loop *l)
{
	(void)notify_send("STOPPING=1");
	results_stop(l->results);
	if (l->mode != LOOP_FOREVER && l->stop.exit_code == 0)
		l->stop.exit_code = drainlog_verdict(l->db.conn, l->once_cutoff, &(struct drainlog_end){
			l->mode == LOOP_DRAIN, l->stop.timed_out, l->stop.interrupted });
	l->status.next_finished_count = 0;	/* the last word counts everything */
	report(l, now_mono());
	log_info("extend-syncd stopped: %llu snapshot%s written, %llu failed, %llu retr%s", l->m.synced,
		 l->m.synced == 1 ? "" : "s", l->m.failed, l->m.retries, l->m.retries == 1 ? "y" : "ies");
	if (l->sweep != NULL && l->mode == LOOP_DRAIN && sweep_failed(l->sweep) && l->stop.exit_code == 0)
		l->stop.exit_code = 2;
}

/* Give back what is still claimed, leave the budget, and free it all (also after a failed start). */
static void
cleanup(struct loop *l)
{
	if (l->fetch != NULL)
		cancel(l, true);
	badreq_release(&l->bad, &l->oc);
	if (l->sweep != NULL)
		sweep_stop(l->sweep, l->db.conn);
	sweep_free(l->sweep);
	share_end(&l->share, l->fetch != NULL ? now_mono() - fetch_last_send(l->fetch) : INFINITY);
	results_free(l->results);
	claims_give_back(&l->claims, &l->oc);
	claims_free(&l->claims);
	fetch_free(l->fetch);
	dbconn_close(&l->db);
	db_set_wait_hook(NULL, NULL);
	config_free_api_key(l->api_key);
	wait_end_loop();
}

/* The main loop, giving up after timeout seconds; see loop.h. */
int
loop_run_until(struct config **cfgp, const char *config_path, enum loop_mode mode, double timeout)
{
	struct loop l = { 0 };

	l.cfg = *cfgp;
	l.config_path = config_path;
	l.mode = mode;
	stop_init(&l.stop, mode != LOOP_FOREVER ? timeout : 0, now_mono());
	stop_configure(&l.stop, l.cfg->api.timeout);
	metrics_init(&l.m);
	if (loop_init(&l) < 0) {
		l.stop.exit_code = 2;
	} else {
		log_info("extend-syncd started as \"%s\" (%s, rate limit %.1f/s, %d in flight)", l.owner,
			 mode == LOOP_FOREVER ? "daemon" : mode == LOOP_ONCE ? "once" : "drain",
			 l.cfg->api.rate_limit, l.cfg->api.max_in_flight);
		/* the configuration is valid, the database answered, the schema is migrated */
		(void)notify_send("READY=1");
		status_init(&l.status, now_mono());
		while (pass(&l))
			;
		finish(&l);
	}
	cleanup(&l);
	*cfgp = l.cfg;
	return l.stop.exit_code;
}
