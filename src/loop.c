/* The scheduler: claim due runs, fetch them, store what came back, and decide when each is due again. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "fetch.h"
#include "log.h"
#include "loop.h"
#include "normalize.h"
#include "queue.h"
#include "schedule.h"
#include "store.h"

/* How long a stopping daemon waits for requests in flight before it releases them. */
#define STOP_GRACE 10.0
/* Pause after the API refused the key, before trying again. */
#define AUTH_PAUSE 60.0

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_reload;
static int sigpipe_fds[2] = { -1, -1 };

struct loop {
	struct config *cfg;
	const char *config_path;
	enum loop_mode mode;
	char *api_key;
	PGconn *conn;
	struct fetcher *fetch;
	char owner[160];

	double next_claim;	/* monotonic time of the next queue scan */
	double paused_until;	/* no claims before this (bad API key) */
	double stop_deadline;	/* when stopping: release what is still in flight after this */
	bool stopping;
	bool claimed_all;	/* the last scan found fewer due runs than it asked for */
	bool db_broken;		/* logged once until the connection is back */
	int exit_code;

	char once_cutoff[40];	/* --once: only runs due before the start */
	long long synced, failed, retried;
};

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

static int
setup_signals(void)
{
	struct sigaction sa;

	if (pipe(sigpipe_fds) < 0)
		return -1;
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

/* Connect, prepare and LISTEN; on failure the loop retries later. */
static int
db_open(struct loop *l)
{
	char err[DB_ERR_SIZE];

	l->conn = db_connect(l->cfg->database.conninfo, l->cfg->database.schema, err, sizeof(err));
	if (l->conn == NULL)
		goto fail;
	if (queue_prepare(l->conn, err, sizeof(err)) < 0 || store_prepare(l->conn, err, sizeof(err)) < 0 ||
	    db_listen(l->conn, l->cfg->database.schema, err, sizeof(err)) < 0) {
		PQfinish(l->conn);
		l->conn = NULL;
		goto fail;
	}
	if (l->db_broken)
		log_info("database connection restored");
	l->db_broken = false;
	return 0;
fail:
	if (!l->db_broken)
		log_error("could not connect to the database: %s", err);
	l->db_broken = true;
	return -1;
}

/* After a failed statement: if the connection itself is gone, drop it so the loop reconnects. */
static void
db_check(struct loop *l)
{
	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_BAD) {
		log_error("lost the database connection; reconnecting");
		l->db_broken = true;
		PQfinish(l->conn);
		l->conn = NULL;
	}
}

static double
jitter(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/* Give a claimed run back to the queue, due now (shutdown, or a request that could not be made). */
static void
release_claim(struct loop *l, struct claim *c)
{
	char err[DB_ERR_SIZE];

	if (l->conn != NULL && queue_release(l->conn, l->owner, c->run_id, err, sizeof(err)) < 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not release lease: %s", err);
		db_check(l);
	}
	queue_claim_free(c);
}

static void
release_cb(const char *run_id, void *data, void *arg)
{
	(void)run_id;
	release_claim(arg, data);
}

/* Record a failed attempt, retrying later or giving up (failed), and log it. */
static void
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
	rc = l->conn == NULL ? -1 :
	     queue_record_failure(l->conn, c, l->owner, give_up, delay, error, http_status, err, sizeof(err));
	if (rc < 0) {
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not record failure \"%s\": %s", error,
			l->conn == NULL ? "no database connection" : err);
		db_check(l);
	} else if (rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost before the failure could be recorded: %s", error);
	} else if (give_up) {
		l->failed++;
		log_run(LOG_LEVEL_ERROR, c->run_id, "giving up after %d attempt%s: %s", attempts,
			attempts == 1 ? "" : "s", error);
	} else {
		l->retried++;
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not fetch (attempt %d of %d, next in %.1fs): %s",
			attempts, l->cfg->sync.max_attempts, delay, error);
	}
}

/* A readable reason for a non-200 answer, with the API's own message when it gave one. */
static void
describe_http_error(const struct fetch_result *r, char *out, size_t outlen)
{
	char msg[200];

	if (normalize_error_message(r->body.data, r->body.len, msg, sizeof(msg)) == 0)
		snprintf(out, outlen, "HTTP %ld: %s", r->http_status, msg);
	else
		snprintf(out, outlen, "HTTP %ld", r->http_status);
}

static void
handle_auth_failure(struct loop *l, struct claim *c, const struct fetch_result *r)
{
	char why[300];

	describe_http_error(r, why, sizeof(why));
	log_error("the Extend API refused the API key (%s): check api.token_file, the extend-api-key "
		  "credential or EXTEND_API_KEY, and api.workspace_id%s", why,
		  l->mode == LOOP_FOREVER ? "; pausing all fetching" : "");
	release_claim(l, c);
	if (l->mode != LOOP_FOREVER) {
		l->exit_code = 2;
		l->stopping = true;
		l->stop_deadline = now_mono();
	}
	l->paused_until = now_mono() + AUTH_PAUSE;
}

/* Store a fetched run and schedule its next fetch. */
static void
handle_run(struct loop *l, struct claim *c, struct run_rows *rr)
{
	const struct config *cfg = l->cfg;
	struct store_next next = { "pending", 0, 0 };
	char err[DB_ERR_SIZE];
	enum run_phase phase = schedule_phase(rr->status);
	int rc;

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
		break;
	}
	if (l->conn == NULL) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "not stored: no database connection (it will be fetched again)");
		return;
	}
	rc = store_write_run(l->conn, rr, c, l->owner, &next, err, sizeof(err));
	if (rc < 0) {
		char why[DB_ERR_SIZE + 32];

		log_run(LOG_LEVEL_ERROR, c->run_id, "could not store run: %s", err);
		db_check(l);
		snprintf(why, sizeof(why), "could not store: %s", err);
		record_failure(l, c, false, -1, 200, why);
		return;
	}
	if (rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost while fetching; another daemon has it, result dropped");
		return;
	}
	l->synced++;
	if (phase == PHASE_FINAL)
		log_run(LOG_LEVEL_INFO, c->run_id, "synced, status %s: done", rr->status);
	else
		log_run(LOG_LEVEL_DEBUG, c->run_id, "synced, status %s: next check in %.1fs", rr->status, next.delay);
}

/* One finished request: decide what it means for its run. */
static void
handle_result(struct loop *l, struct fetch_result *r)
{
	struct claim *c = r->data;
	struct run_rows *rr = NULL;
	char err[NORMALIZE_ERR_SIZE + 64];
	int rc;

	if (r->error[0] != '\0') {
		/* a body over the cap will not shrink by asking again */
		record_failure(l, c, r->too_big, r->retry_after, r->http_status, r->error);
	} else if (r->http_status == 401 || r->http_status == 402 || r->http_status == 403) {
		handle_auth_failure(l, c, r);
		c = NULL;
	} else if (r->http_status != 200) {
		bool permanent = !schedule_http_retryable(r->http_status);

		describe_http_error(r, err, sizeof(err));
		record_failure(l, c, permanent, r->retry_after, r->http_status, err);
	} else {
		char why[NORMALIZE_ERR_SIZE];

		rc = normalize_body(r->body.data, r->body.len, c->run_id, l->cfg->sync.store_file_contents,
				    &rr, why, sizeof(why));
		if (rc == -ENOMEM) {
			log_run(LOG_LEVEL_ERROR, c->run_id, "out of memory while reading the response");
			release_claim(l, c);
			c = NULL;
		} else if (rc < 0) {
			snprintf(err, sizeof(err), "invalid response: %s", why);
			record_failure(l, c, false, -1, r->http_status, err);
		} else {
			handle_run(l, c, rr);
		}
	}
	normalize_free(rr);
	if (c != NULL)
		queue_claim_free(c);
	fetch_result_free(r);
}

/* Claim due runs and hand them to the fetcher; returns how many were claimed, or -1. */
static int
claim_runs(struct loop *l)
{
	const struct config *cfg = l->cfg;
	int limit = cfg->sync.claim_batch - (int)fetch_busy(l->fetch);
	struct claim **c = NULL;
	char err[DB_ERR_SIZE];
	int n;

	if (limit <= 0) {
		/* full: the next finished request brings the scan forward */
		l->claimed_all = false;
		return 0;
	}
	n = queue_claim(l->conn, l->owner, cfg->sync.lease, limit,
			l->mode == LOOP_ONCE ? l->once_cutoff : NULL, &c, err, sizeof(err));
	if (n < 0) {
		log_error("could not claim runs: %s", err);
		db_check(l);
		return -1;
	}
	l->claimed_all = n < limit;
	for (int i = 0; i < n; i++) {
		if (!schedule_run_id_valid(c[i]->run_id)) {
			record_failure(l, c[i], true, -1, 0,
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

static void
reload(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct config *cfg = config_load(l->config_path, err, sizeof(err));
	char *key;

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
	log_set_level(cfg->log.level);
	config_free(l->cfg);
	l->cfg = cfg;
	explicit_bzero(l->api_key, strlen(l->api_key));
	free(l->api_key);
	l->api_key = key;
	l->paused_until = 0;
	log_info("configuration reloaded from \"%s\"", l->config_path);
}

/* When idle, rebuild the fetcher for a reloaded configuration (settings apply to new requests). */
static void
refresh_fetcher(struct loop *l, bool *pending)
{
	char err[256];
	struct fetcher *f;

	if (!*pending || fetch_busy(l->fetch) > 0)
		return;
	f = fetch_new(l->cfg, l->api_key, err, sizeof(err));
	if (f == NULL) {
		log_error("could not apply the new API settings: %s", err);
		return;
	}
	fetch_free(l->fetch);
	l->fetch = f;
	*pending = false;
}

/* Whether --drain or --once may stop now. */
static bool
nothing_left(struct loop *l)
{
	struct queue_outlook o;
	char err[DB_ERR_SIZE];

	if (fetch_busy(l->fetch) > 0 || !l->claimed_all || l->conn == NULL)
		return false;
	if (l->mode == LOOP_ONCE)
		return true;
	if (queue_outlook(l->conn, &o, err, sizeof(err)) < 0) {
		log_error("could not read the queue: %s", err);
		db_check(l);
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

static int
loop_init(struct loop *l)
{
	char err[CONFIG_ERR_SIZE];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned int)(ts.tv_nsec ^ ts.tv_sec ^ getpid()));
	make_owner(l);
	if (setup_signals() < 0) {
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
	if (db_open(l) < 0)
		return -1;
	if (l->mode == LOOP_ONCE &&
	    queue_db_now(l->conn, l->once_cutoff, sizeof(l->once_cutoff), err, sizeof(err)) < 0) {
		log_error("could not read the database clock: %s", err);
		return -1;
	}
	return 0;
}

/* The main loop; see loop.h. */
int
loop_run(struct config **cfgp, const char *config_path, enum loop_mode mode)
{
	struct loop l = { 0 };
	bool fetcher_stale = false;
	double db_retry_at = 0, db_backoff = 1;

	l.cfg = *cfgp;
	l.config_path = config_path;
	l.mode = mode;
	if (loop_init(&l) < 0) {
		l.exit_code = 2;
		goto out;
	}
	log_info("extend-syncd started as \"%s\" (%s, rate limit %.1f/s, %d in flight)", l.owner,
		 mode == LOOP_FOREVER ? "daemon" : mode == LOOP_ONCE ? "once" : "drain",
		 l.cfg->api.rate_limit, l.cfg->api.max_in_flight);

	for (;;) {
		struct curl_waitfd fds[2];
		unsigned nfds = 0;
		struct fetch_result *r;
		double now = now_mono(), wait;
		char err[256];

		if (got_stop && !l.stopping) {
			l.stopping = true;
			l.stop_deadline = now + fmin(STOP_GRACE, l.cfg->api.timeout);
			log_info("stopping: finishing %zu request%s in flight", fetch_busy(l.fetch),
				 fetch_busy(l.fetch) == 1 ? "" : "s");
			fetch_cancel_queued(l.fetch, release_cb, &l);
		}
		if (got_stop > 1 || (l.stopping && now >= l.stop_deadline)) {
			fetch_cancel_all(l.fetch, release_cb, &l);
			break;
		}
		if (l.stopping && fetch_busy(l.fetch) == 0)
			break;
		if (got_reload) {
			got_reload = 0;
			reload(&l);
			fetcher_stale = true;
		}
		refresh_fetcher(&l, &fetcher_stale);

		if (l.conn == NULL && now >= db_retry_at) {
			if (db_open(&l) < 0) {
				db_retry_at = now + db_backoff;
				db_backoff = fmin(db_backoff * 2, 30);
			} else {
				db_backoff = 1;
				l.next_claim = now;
			}
		}
		if (l.conn != NULL && !l.stopping && now >= l.next_claim && now >= l.paused_until) {
			int n = claim_runs(&l);

			if (n < 0)
				l.next_claim = now + 1;
			else if (l.claimed_all || n == 0)
				l.next_claim = now + l.cfg->sync.idle_poll;
			if ((l.mode != LOOP_FOREVER) && nothing_left(&l))
				break;
		} else if (l.mode != LOOP_FOREVER && !l.stopping && fetch_busy(l.fetch) == 0 &&
			   l.claimed_all && now < l.next_claim && nothing_left(&l)) {
			break;
		}

		/* wait for HTTP, a signal, a notification, or the next scan */
		fds[nfds].fd = sigpipe_fds[0];
		fds[nfds].events = CURL_WAIT_POLLIN;
		fds[nfds++].revents = 0;
		if (l.conn != NULL && PQsocket(l.conn) >= 0) {
			fds[nfds].fd = PQsocket(l.conn);
			fds[nfds].events = CURL_WAIT_POLLIN;
			fds[nfds++].revents = 0;
		}
		wait = l.stopping ? l.stop_deadline - now : fmax(l.next_claim, l.paused_until) - now;
		if (l.conn == NULL)
			wait = fmin(wait, db_retry_at - now);
		wait = fmin(fmax(wait, 0), 1.0);
		if (fetch_wait(l.fetch, fds, nfds, (int)ceil(wait * 1000), err, sizeof(err)) < 0) {
			log_error("%s", err);
			l.exit_code = 2;
			break;
		}
		if (fds[0].revents != 0)
			drain_sigpipe();
		if (nfds > 1 && fds[1].revents != 0) {
			int n = db_drain_notifies(l.conn);

			if (n > 0)
				l.next_claim = now_mono();
			else if (n < 0)
				db_check(&l);
		}
		while ((r = fetch_next_result(l.fetch)) != NULL)
			handle_result(&l, r);
		/* a slot freed while more runs were due: claim again at once */
		if (!l.claimed_all && fetch_busy(l.fetch) * 2 <= (size_t)l.cfg->sync.claim_batch)
			l.next_claim = fmin(l.next_claim, now_mono());
	}
	log_info("extend-syncd stopped: %lld run%s synced, %lld failed, %lld retr%s", l.synced,
		 l.synced == 1 ? "" : "s", l.failed, l.retried, l.retried == 1 ? "y" : "ies");
out:
	fetch_free(l.fetch);
	if (l.conn != NULL)
		PQfinish(l.conn);
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
