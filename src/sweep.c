/* Sweeps: the periodic task that lists each discovery source page by page through the fetcher. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "db.h"
#include "discover.h"
#include "log.h"
#include "normalize.h"
#include "queue.h"
#include "schedule.h"
#include "sweep.h"

/* After a refused key a one-time sweep gives up at once; a daemon's sweep waits this long. */
#define AUTH_RETRY 30.0

struct source {
	struct sweeper *sw;
	char name[160];		/* "all", "workflow:<id>", "batch:<id>" */
	char *workflow_id;	/* list filter, or NULL */
	char *batch_id;		/* list filter, or NULL */
	bool running;		/* a list request of it is queued or in flight */
	bool done_once;		/* one-time sweepers: swept (or gave up) */
	bool gave_up;
	bool gone;		/* dropped by a reload while running: freed when its request ends */
	bool leased;		/* this sweeper holds the source's lease */
	double next_at;		/* monotonic: try to start then */
	int attempts;		/* consecutive failed sweeps */
	int64_t cutoff_us;
	bool has_high;
	int64_t high_us;
	char **tokens;		/* page tokens seen in this sweep: one coming back means a loop */
	size_t ntokens;
	long long listed, enqueued, made_due, pages;
};

struct sweeper {
	const struct config *cfg;
	const char *owner;
	enum sweep_mode mode;
	struct source **src;
	size_t nsrc;
	bool reconfigure;	/* a reload changed the sources: rebuild when none runs */
};

static void
forget_tokens(struct source *src)
{
	for (size_t i = 0; i < src->ntokens; i++)
		free(src->tokens[i]);
	free(src->tokens);
	src->tokens = NULL;
	src->ntokens = 0;
}

static void
source_free(struct source *src)
{
	if (src == NULL)
		return;
	forget_tokens(src);
	free(src->workflow_id);
	free(src->batch_id);
	free(src);
}

static struct source *
source_new(struct sweeper *s, const char *kind, const char *id)
{
	struct source *src = calloc(1, sizeof(*src));

	if (src == NULL)
		return NULL;
	src->sw = s;
	if (id == NULL) {
		snprintf(src->name, sizeof(src->name), "%s", kind);
	} else {
		snprintf(src->name, sizeof(src->name), "%s:%s", kind, id);
		if (strcmp(kind, "batch") == 0)
			src->batch_id = strdup(id);
		else
			src->workflow_id = strdup(id);
		if (src->batch_id == NULL && src->workflow_id == NULL) {
			free(src);
			return NULL;
		}
	}
	return src;
}

static int
add_source(struct sweeper *s, const char *kind, const char *id)
{
	struct source **a = realloc(s->src, (s->nsrc + 1) * sizeof(*a));

	if (a == NULL)
		return -1;
	s->src = a;
	s->src[s->nsrc] = source_new(s, kind, id);
	if (s->src[s->nsrc] == NULL)
		return -1;
	s->nsrc++;
	return 0;
}

/* The sources of cfg's discover group. */
static int
build_sources(struct sweeper *s)
{
	if (s->cfg->discover.all_runs && add_source(s, "all", NULL) < 0)
		return -1;
	for (size_t i = 0; s->cfg->discover.workflow_ids[i] != NULL; i++) {
		if (add_source(s, "workflow", s->cfg->discover.workflow_ids[i]) < 0)
			return -1;
	}
	return 0;
}

/* A sweeper; see sweep.h. */
struct sweeper *
sweep_new(const struct config *cfg, const char *owner, enum sweep_mode mode, char *const *ids, int nids,
	  bool batches)
{
	struct sweeper *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->owner = owner;
	s->mode = mode;
	if (mode == SWEEP_ENQUEUE) {
		for (int i = 0; i < nids; i++) {
			if (add_source(s, batches ? "batch" : "workflow", ids[i]) < 0)
				goto fail;
		}
	} else if (build_sources(s) < 0) {
		goto fail;
	}
	return s;
fail:
	sweep_free(s);
	return NULL;
}

void
sweep_free(struct sweeper *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nsrc; i++) {
		/* a request still queued in a fetcher points here: it is the caller's to cancel first */
		source_free(s->src[i]);
	}
	free(s->src);
	free(s);
}

/* Rebuild the sources from the configuration, keeping the schedule of those that stay. */
static void
rebuild(struct sweeper *s)
{
	struct source **old = s->src;
	size_t nold = s->nsrc;

	s->src = NULL;
	s->nsrc = 0;
	if (build_sources(s) < 0) {
		log_error("out of memory while applying the discover settings; keeping the old sources");
		for (size_t i = 0; i < s->nsrc; i++)
			source_free(s->src[i]);
		free(s->src);
		s->src = old;
		s->nsrc = nold;
		return;
	}
	for (size_t i = 0; i < s->nsrc; i++) {
		for (size_t j = 0; j < nold; j++) {
			if (old[j] != NULL && strcmp(old[j]->name, s->src[i]->name) == 0) {
				s->src[i]->next_at = old[j]->next_at;
				s->src[i]->attempts = old[j]->attempts;
			}
		}
	}
	for (size_t j = 0; j < nold; j++)
		source_free(old[j]);
	free(old);
	s->reconfigure = false;
}

/* A reload; see sweep.h. */
void
sweep_configure(struct sweeper *s, const struct config *cfg)
{
	s->cfg = cfg;
	if (s->mode != SWEEP_DAEMON)
		return;
	s->reconfigure = true;
	if (!sweep_running(s))
		rebuild(s);
}

bool
sweep_running(const struct sweeper *s)
{
	for (size_t i = 0; s != NULL && i < s->nsrc; i++) {
		if (s->src[i]->running)
			return true;
	}
	return false;
}

bool
sweep_finished(const struct sweeper *s)
{
	for (size_t i = 0; i < s->nsrc; i++) {
		if (!s->src[i]->done_once)
			return false;
	}
	return true;
}

bool
sweep_failed(const struct sweeper *s)
{
	for (size_t i = 0; i < s->nsrc; i++) {
		if (s->src[i]->gave_up)
			return true;
	}
	return false;
}

static bool
persistent(const struct sweeper *s)
{
	return s->mode != SWEEP_ENQUEUE;
}

static double
jitter(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/*
 * The sweep failed: log it once, record it on the source (high_water
 * untouched), and try again after a delay that grows with each failure.
 * One-time sweepers give up after sync.max_attempts, or at once when
 * asking again cannot help.
 */
static void
sweep_fail(struct source *src, PGconn *conn, bool retryable, double retry_after, const char *why)
{
	const struct config *cfg = src->sw->cfg;
	double delay;
	char err[DB_ERR_SIZE];
	bool one_time = src->sw->mode != SWEEP_DAEMON;

	src->running = false;
	src->leased = false;
	forget_tokens(src);
	src->attempts++;
	delay = schedule_retry_delay(cfg->sync.retry_min, cfg->sync.retry_max, src->attempts, jitter());
	if (retry_after > delay)
		delay = retry_after;
	if (one_time && (!retryable || src->attempts >= cfg->sync.max_attempts)) {
		src->gave_up = true;
		src->done_once = true;
		log_error("could not sweep source \"%s\" (attempt %d, giving up): %s", src->name, src->attempts, why);
	} else {
		log_warning("could not sweep source \"%s\" (attempt %d, next in %.1fs): %s", src->name,
			    src->attempts, delay, why);
	}
	src->next_at = now_mono() + delay;
	if (persistent(src->sw) && conn != NULL &&
	    discover_fail(conn, src->name, src->sw->owner, why, delay, err, sizeof(err)) < 0)
		log_warning("could not record the failed sweep of source \"%s\": %s", src->name, err);
}

/* Submit the request for the page after token (NULL: the first). */
static int
submit_page(struct source *src, struct fetcher *f, const char *token)
{
	char path[6000];

	if (discover_list_path(path, sizeof(path), src->sw->cfg->discover.page_size, src->workflow_id,
			       src->batch_id, token) < 0)
		return -1;
	if (fetch_submit_list(f, path, src) < 0)
		return -1;
	src->running = true;
	return 0;
}

/* Start the sweep of src when its lease can be had; returns the next time to try. */
static double
start(struct source *src, PGconn *conn, struct fetcher *f, double now)
{
	struct sweeper *s = src->sw;
	const struct config *cfg = s->cfg;
	struct source_state st = { 0 };
	char err[DB_ERR_SIZE];
	int64_t since = 0;
	bool has_since = cfg->discover.since[0] != '\0' && discover_parse_time(cfg->discover.since, &since) == 0;

	if (persistent(s)) {
		double wait;
		/* a one-time sweep is wanted now, whatever the schedule; only another sweeper holds it back */
		int rc = discover_acquire(conn, src->name, s->owner, cfg->sync.lease, s->mode != SWEEP_DAEMON, &st,
					  &wait, err, sizeof(err));

		if (rc < 0) {
			log_warning("could not take the lease of source \"%s\": %s", src->name, err);
			return now + fmin(cfg->discover.interval, 5.0);
		}
		if (rc == 0) {
			log_debug("source \"%s\" is not due or is swept by another daemon; next look in %.1fs",
				  src->name, wait);
			/* a one-time sweep waits only for the other sweeper's lease: look again soon */
			return now + fmax(0.2, fmin(wait, s->mode == SWEEP_DAEMON ? cfg->discover.interval : 1.0));
		}
		src->leased = true;
		/* a daemon keeps backing off across restarts; a one-time sweep gets its own tries */
		if (s->mode == SWEEP_DAEMON && st.failures > src->attempts)
			src->attempts = st.failures;
	}
	if (src->batch_id != NULL)
		has_since = false;	/* a batch is wanted whole */
	src->cutoff_us = discover_cutoff(st.has_high_water, st.high_water_us, cfg->discover.overlap, has_since,
					 since);
	src->has_high = false;
	/* a one-time sweep that is tried again reports what all its tries changed */
	src->listed = src->pages = 0;
	if (s->mode == SWEEP_DAEMON)
		src->enqueued = src->made_due = 0;
	forget_tokens(src);
	if (submit_page(src, f, NULL) < 0) {
		sweep_fail(src, conn, true, -1, "out of memory");
		return src->next_at;
	}
	log_debug("sweeping source \"%s\"", src->name);
	return INFINITY;
}

/* Start due sweeps; see sweep.h. */
double
sweep_poll(struct sweeper *s, PGconn *conn, struct fetcher *f, double now)
{
	double next = INFINITY;

	if (s->reconfigure && !sweep_running(s))
		rebuild(s);
	for (size_t i = 0; i < s->nsrc; i++) {
		struct source *src = s->src[i];

		if (src->running || src->done_once)
			continue;
		if (now >= src->next_at)
			src->next_at = start(src, conn, f, now);
		next = fmin(next, src->next_at);
	}
	return next;
}

/* Remember token; true when it was seen before in this sweep (the listing loops). */
static int
token_seen(struct source *src, const char *token, bool *seen)
{
	char **a;

	*seen = false;
	for (size_t i = 0; i < src->ntokens; i++) {
		if (strcmp(src->tokens[i], token) == 0) {
			*seen = true;
			return 0;
		}
	}
	a = realloc(src->tokens, (src->ntokens + 1) * sizeof(*a));
	if (a == NULL)
		return -1;
	src->tokens = a;
	a[src->ntokens] = strdup(token);
	if (a[src->ntokens] == NULL)
		return -1;
	src->ntokens++;
	return 0;
}

/* The whole sweep is over: say what it found, and when the next one is. */
static void
sweep_done(struct source *src)
{
	struct sweeper *s = src->sw;

	src->running = false;
	src->leased = false;
	src->attempts = 0;
	forget_tokens(src);
	if (s->mode == SWEEP_DAEMON)
		src->next_at = now_mono() + s->cfg->discover.interval;
	else
		src->done_once = true;
	log_msg(src->enqueued + src->made_due > 0 || s->mode != SWEEP_DAEMON ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
		"swept source \"%s\": listed %lld, enqueued %lld, made due %lld (%lld page%s)", src->name,
		src->listed, src->enqueued, src->made_due, src->pages, src->pages == 1 ? "" : "s");
}

/* A finished list request; see sweep.h. */
enum sweep_outcome
sweep_take(struct sweeper *s, PGconn *conn, struct fetcher *f, const struct fetch_result *r)
{
	struct source *src = r->data;
	struct list_page *page = NULL;
	struct apply_counts counts;
	struct sweep_end end;
	char why[NORMALIZE_ERR_SIZE + DB_ERR_SIZE];
	char err[DB_ERR_SIZE];
	enum sweep_outcome out = SWEEP_OK;
	size_t cut;
	bool last;
	int rc;

	src->running = false;
	if (src->gone) {
		source_free(src);
		return SWEEP_OK;
	}
	if (r->http_status == 401 || r->http_status == 402 || r->http_status == 403) {
		normalize_http_error(r->http_status, r->body.data, r->body.len, why, sizeof(why));
		sweep_fail(src, conn, false, AUTH_RETRY, why);
		return SWEEP_AUTH;
	}
	if (r->error[0] != '\0') {
		sweep_fail(src, conn, !r->too_big, r->retry_after, r->error);
		return SWEEP_OK;
	}
	if (r->http_status != 200) {
		char http[sizeof(why) - 16];

		normalize_http_error(r->http_status, r->body.data, r->body.len, http, sizeof(http));
		snprintf(why, sizeof(why), "list request: %s", http);
		sweep_fail(src, conn, schedule_http_retryable(r->http_status), r->retry_after, why);
		return SWEEP_OK;
	}
	rc = discover_parse_page(r->body.data, r->body.len, &page, err, sizeof(err));
	if (rc < 0) {
		snprintf(why, sizeof(why), "invalid list page: %s", rc == -ENOMEM ? "out of memory" : err);
		sweep_fail(src, conn, true, -1, why);
		return SWEEP_OK;
	}
	src->pages++;
	cut = discover_page_cut(page, src->cutoff_us);
	last = cut < page->nruns || page->next_token == NULL;
	if (!last) {
		bool seen;

		if (token_seen(src, page->next_token, &seen) < 0) {
			sweep_fail(src, conn, true, -1, "out of memory");
			goto out;
		}
		if (seen) {
			sweep_fail(src, conn, true, -1, "the listing loops: a nextPageToken came back a second time");
			goto out;
		}
	}
	for (size_t i = 0; i < cut; i++) {
		if (!src->has_high || page->runs[i].updated_us > src->high_us)
			src->high_us = page->runs[i].updated_us;
		src->has_high = true;
	}
	end.has_new_high = src->has_high;
	end.new_high_us = src->high_us;
	end.runs_listed = src->listed + (long long)cut;
	end.interval = s->cfg->discover.interval;
	if (conn == NULL) {
		sweep_fail(src, NULL, true, -1, "the database is unreachable");
		goto out;
	}
	rc = discover_apply(conn, persistent(s) ? src->name : NULL, s->owner, s->cfg->sync.lease, page, cut,
			    s->mode == SWEEP_ENQUEUE, last ? &end : NULL, &counts, err, sizeof(err));
	if (rc < 0) {
		snprintf(why, sizeof(why), "could not apply a list page: %s", err);
		sweep_fail(src, conn, true, -1, why);
		out = SWEEP_DB;
		goto out;
	}
	if (rc == 0) {
		/* slower than the lease: another daemon sweeps the source now; it is its sweep */
		log_warning("lost the lease of source \"%s\" while sweeping it; another daemon sweeps it", src->name);
		src->running = false;
		src->leased = false;
		forget_tokens(src);
		src->next_at = now_mono() + s->cfg->discover.interval;
		if (s->mode != SWEEP_DAEMON) {
			src->done_once = true;
			src->gave_up = true;
		}
		goto out;
	}
	src->listed += (long long)cut;
	src->enqueued += s->mode == SWEEP_ENQUEUE ? counts.total : counts.enqueued;
	src->made_due += counts.made_due;
	if (last) {
		sweep_done(src);
	} else if (submit_page(src, f, page->next_token) < 0) {
		sweep_fail(src, conn, true, -1, "out of memory");
	}
out:
	discover_page_free(page);
	return out;
}

/* A list request taken back; see sweep.h. */
void
sweep_cancelled(void *data)
{
	struct source *src = data;

	src->running = false;
	forget_tokens(src);
	if (src->gone) {
		source_free(src);
		return;
	}
	/* its lease is given back by sweep_stop(), or ends by itself */
	src->next_at = now_mono() + 1.0;
}

/* Give back the leases of sweeps still running; see sweep.h. */
void
sweep_stop(struct sweeper *s, PGconn *conn)
{
	char err[DB_ERR_SIZE];

	for (size_t i = 0; i < s->nsrc; i++) {
		struct source *src = s->src[i];

		if (!src->leased)
			continue;
		src->leased = false;
		if (conn != NULL &&
		    discover_release(conn, src->name, s->owner, err, sizeof(err)) < 0)
			log_warning("could not give back the lease of source \"%s\": %s", src->name, err);
	}
}

/* --discover, --enqueue-workflow, --enqueue-batch; see sweep.h. */
int
sweep_oneshot(const struct config *cfg, enum sweep_mode mode, char *const *ids, int nids, bool batches,
	      PGconn *conn)
{
	char err[CONFIG_ERR_SIZE], owner[160], host[64] = "localhost";
	struct fetcher *f = NULL;
	struct sweeper *s = NULL;
	struct budget *b = NULL;
	char *key = NULL;
	long long enqueued = 0;	/* counted on success only */
	int rc = 2;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	srandom((unsigned int)(time(NULL) ^ getpid()));
	snprintf(owner, sizeof(owner), "%s:%ld:%08x", host, (long)getpid(), (unsigned int)random());
	if (discover_prepare(conn, err, sizeof(err)) < 0) {
		log_error("could not prepare statements: %s", err);
		goto out;
	}
	key = config_load_api_key(cfg, err, sizeof(err));
	if (key == NULL) {
		log_error("%s", err);
		goto out;
	}
	f = fetch_new(cfg, key, err, sizeof(err));
	if (f == NULL) {
		log_error("could not set up HTTP: %s", err);
		goto out;
	}
	s = sweep_new(cfg, owner, mode, ids, nids, batches);
	/* its list requests count against the budget the daemons on this database share */
	b = budget_new(owner);
	if (s == NULL || b == NULL) {
		log_error("out of memory");
		goto out;
	}
	while (!sweep_finished(s)) {
		double now = now_mono(), next = sweep_poll(s, conn, f, now);
		struct fetch_result *r;
		bool refused = false;

		if (budget_renew(b, conn, cfg->api.rate_limit, now, err, sizeof(err)) < 0) {
			log_error("could not take a share of the API budget: %s", err);
			goto out;
		}
		fetch_set_share(f, budget_share(b, now), budget_window_margin(b), b->valid_until);
		next = fmin(next, budget_next(b, now));

		if (fetch_wait(f, NULL, 0, (int)ceil(fmin(fmax(next - now, 0), 1.0) * 1000), err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
		while ((r = fetch_next_result(f)) != NULL) {
			enum sweep_outcome o;

			if (r->http_status == 429)
				fetch_throttle(f, r->retry_after);
			o = sweep_take(s, conn, f, r);
			fetch_result_free(r);
			if (o == SWEEP_AUTH)
				refused = true;
			if (o == SWEEP_DB && db_broken(conn)) {
				log_error("lost the database connection");
				goto out;
			}
		}
		if (refused) {
			log_error("the Extend API refused the API key: check api.token_file, the extend-api-key "
				  "credential or EXTEND_API_KEY, and api.workspace_id");
			goto out;
		}
	}
	for (size_t i = 0; i < s->nsrc; i++)
		enqueued += s->src[i]->enqueued;
	if (mode == SWEEP_ENQUEUE) {
		printf("enqueued %lld run%s\n", enqueued, enqueued == 1 ? "" : "s");
	} else {
		for (size_t i = 0; i < s->nsrc; i++) {
			const struct source *src = s->src[i];

			printf("source \"%s\": listed %lld, enqueued %lld, made due %lld%s\n", src->name, src->listed,
			       src->enqueued, src->made_due, src->gave_up ? " (failed)" : "");
		}
	}
	rc = sweep_failed(s) ? 2 : 0;
out:
	if (f != NULL)
		fetch_cancel_all(f, NULL, NULL);
	if (s != NULL)
		sweep_stop(s, conn);
	if (b != NULL && f != NULL && PQstatus(conn) == CONNECTION_OK &&
	    budget_leave(b, conn, now_mono() - fetch_last_send(f), err, sizeof(err)) < 0)
		log_warning("could not leave the API budget (the others grow when its lease ends): %s", err);
	budget_free(b);
	sweep_free(s);
	fetch_free(f);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	/* the sources' leases and the budget given back first: nothing waits for it */
	queue_analyze_after(conn, enqueued);
	return rc;
}
