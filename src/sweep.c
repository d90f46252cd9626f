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

/* A page whose changes the database refused (a lock timeout, say) is read and applied again this often. */
#define PAGE_TRIES 3

/* After a refused key a one-time sweep gives up at once; a daemon's sweep waits this long. */
#define AUTH_RETRY 30.0

/* A sweep that deferred held rows is followed by the next one this soon (or discover.interval when sooner). */
#define DEFERRED_RETRY 5.0

/*
 * Before a page was timed, a page is taken to come back in this long; a
 * source counts for no more pages a second than SWEEP_PAGES_MAX.
 */
#define PAGE_SECONDS_FIRST 0.25
#define SWEEP_PAGES_MAX 20

/* A source that has never listed a run (a typo in discover.workflow_ids?) is named at most this often. */
#define SILENT_WARN_EVERY 60.0

/* Malformed summaries already logged, remembered by fingerprint: older ones may be logged again. */
#define MALFORMED_REMEMBERED 1024
/* New malformed summaries logged one by one from a page; the others of it in one line. */
#define MALFORMED_LOGGED_PER_PAGE 10

struct source {
	struct sweeper *sw;
	char name[160];		/* "all", "workflow:<id>", "batch:<id>" */
	char *workflow_id;	/* list filter, or NULL */
	char *batch_id;		/* list filter, or NULL */
	bool running;		/* a list request of it is queued or in flight */
	bool done_once;		/* one-time sweepers: swept (or gave up) */
	bool resweeping;	/* --drain: swept, and swept again while runs it listed move */
	int calm;		/* --drain: sweeps in a row that changed nothing (the pace backs off) */
	bool gave_up;
	bool gone;		/* dropped by a reload while running: freed when its request ends */
	bool leased;		/* this sweeper holds the source's lease */
	double next_at;		/* monotonic: try to start then */
	double due_at;		/* monotonic: when the database said it is due (or another daemon's lease ends) */
	int attempts;		/* consecutive failed sweeps */
	int64_t cutoff_us;
	bool has_high;
	int64_t high_us;
	bool ever_listed;	/* a sweep of it (this one, or one recorded before) has listed a run */
	double silent_warned;	/* monotonic: when "never listed a run" was last logged; 0: never */
	char **tokens;		/* page tokens seen in this sweep: one coming back means a loop */
	size_t ntokens;
	char *token;		/* the token of the page asked for now (NULL: the first) */
	int page_tries;		/* failed applies of that page */
	long long listed, enqueued, made_due, pages, malformed;
	long long unchanged;	/* --enqueue-workflow/-batch: runs done and unchanged, not made due */
	long long deferred;	/* queued runs of this sweep another session held: the mark stays below them */
	bool deferred_untimed;	/* one of them had no usable updatedAt: the mark does not move */
	int64_t deferred_min_us;
};

struct sweeper {
	const struct config *cfg;
	const char *owner;
	enum sweep_mode mode;
	struct source **src;
	size_t nsrc;
	bool reconfigure;	/* a reload changed the sources: rebuild when none runs */
	uint64_t logged[MALFORMED_REMEMBERED];	/* malformed summaries logged (discover_summary_key()) */
	size_t nlogged;		/* used entries of logged[]; then the oldest is replaced */
	size_t logged_next;
	unsigned long long malformed_unreported;	/* for sweep_count_malformed() */
	double page_seconds;	/* how long a list page takes, smoothed; 0 before the first */
};

static void
forget_tokens(struct source *src)
{
	for (size_t i = 0; i < src->ntokens; i++)
		free(src->tokens[i]);
	free(src->tokens);
	src->tokens = NULL;
	src->ntokens = 0;
	free(src->token);
	src->token = NULL;
	src->page_tries = 0;
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

/* The pages a second the sweeps want; see sweep.h. */
long
sweep_demand(const struct sweeper *s, double now, double horizon)
{
	double page = s != NULL && s->page_seconds > 0 ? s->page_seconds : PAGE_SECONDS_FIRST;
	long per_source = (long)ceil(1.0 / fmax(page, 1.0 / SWEEP_PAGES_MAX)), n = 0;

	for (size_t i = 0; s != NULL && i < s->nsrc; i++) {
		const struct source *src = s->src[i];

		/* its page in the fetcher is counted there */
		if (src->running)
			n += per_source - 1;
		else if (src->done_once || src->gone || src->next_at > now + horizon)
			continue;
		/* due soon by the database's word; while another daemon's lease runs, a page at the ready */
		else if (src->due_at <= now + horizon)
			n += per_source;
		else
			n++;
	}
	return n;
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
	char *copy = NULL;

	if (discover_list_path(path, sizeof(path), src->sw->cfg->discover.page_size, src->workflow_id,
			       src->batch_id, token) < 0)
		return -1;
	if (token != src->token) {
		if (token != NULL && (copy = strdup(token)) == NULL)
			return -1;
		free(src->token);
		src->token = copy;
		src->page_tries = 0;
	}
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
			src->due_at = now + wait;
			/* a one-time sweep waits only for the other sweeper's lease: look again soon */
			return now + fmax(0.2, fmin(wait, s->mode == SWEEP_DAEMON ? cfg->discover.interval : 1.0));
		}
		src->leased = true;
		src->due_at = now;
		/* a daemon keeps backing off across restarts; a one-time sweep gets its own tries */
		if (s->mode == SWEEP_DAEMON && st.failures > src->attempts)
			src->attempts = st.failures;
	}
	if (src->batch_id != NULL)
		has_since = false;	/* a batch is wanted whole */
	src->cutoff_us = discover_cutoff(st.has_high_water, st.high_water_us, cfg->discover.overlap, has_since,
					 since);
	src->has_high = false;
	src->ever_listed = st.has_high_water;
	/* a one-time sweep that is tried again reports what all its tries changed */
	src->listed = src->pages = src->malformed = src->deferred = 0;
	src->deferred_untimed = false;
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

/* True, the first time (of the last MALFORMED_REMEMBERED) that key is asked about. */
static bool
first_sight(struct sweeper *s, uint64_t key)
{
	for (size_t i = 0; i < s->nlogged; i++) {
		if (s->logged[i] == key)
			return false;
	}
	if (s->nlogged < MALFORMED_REMEMBERED) {
		s->logged[s->nlogged++] = key;
	} else {
		s->logged[s->logged_next] = key;
		s->logged_next = (s->logged_next + 1) % MALFORMED_REMEMBERED;
	}
	return true;
}

/*
 * Log the malformed summaries of page that were not logged before (a few
 * by name, the rest counted in one line), and describe one of them in
 * note for the source's last_malformed.
 */
static void
report_malformed(struct source *src, const struct list_page *page, char *note, size_t notelen)
{
	struct sweeper *s = src->sw;
	size_t logged = 0, more = 0;

	note[0] = '\0';
	for (size_t i = 0; i < page->nskipped; i++) {
		const struct skipped_summary *k = &page->skipped[i];

		if (k->id != NULL)
			snprintf(note, notelen, "skipped a summary with %s (\"%s\")", k->why, k->id);
		else
			snprintf(note, notelen, "skipped a summary with %s", k->why);
		if (!first_sight(s, k->key))
			continue;
		if (logged++ >= MALFORMED_LOGGED_PER_PAGE) {
			more++;
			continue;
		}
		log_warning("skipped a malformed list summary of source \"%s\": %s%s%s%s", src->name, k->why,
			    k->id != NULL ? " (\"" : "", k->id != NULL ? k->id : "", k->id != NULL ? "\")" : "");
	}
	for (size_t i = 0; i < page->nruns; i++) {
		const struct run_summary *r = &page->runs[i];

		if (r->malformed == NULL)
			continue;
		snprintf(note, notelen, "run \"%s\": %s", r->id, r->malformed);
		if (!first_sight(s, discover_summary_key(r->id, strlen(r->id))))
			continue;
		if (logged++ >= MALFORMED_LOGGED_PER_PAGE) {
			more++;
			continue;
		}
		log_warning("malformed list summary of run \"%s\" in source \"%s\": %s; the run is kept and its "
			    "fetch tells its state", r->id, src->name, r->malformed);
	}
	if (more > 0)
		log_warning("%zu more malformed list summaries in a page of source \"%s\"", more, src->name);
	src->malformed += (long long)page->nmalformed;
	s->malformed_unreported += page->nmalformed;
}

/* Malformed summaries read since the last call; see sweep.h. */
unsigned long long
sweep_count_malformed(struct sweeper *s)
{
	unsigned long long n;

	if (s == NULL)
		return 0;
	n = s->malformed_unreported;
	s->malformed_unreported = 0;
	return n;
}

/* What to check about a source that has never listed a run; see sweep.h. */
const char *
sweep_silent_hint(const char *source)
{
	if (strncmp(source, "workflow:", 9) == 0)
		return "check the ID in discover.workflow_ids, the key's workspace (api.workspace_id) and discover.since";
	if (strncmp(source, "batch:", 6) == 0)
		return "check the batch ID and the key's workspace (api.workspace_id)";
	return "the API key sees no run: check the key's workspace (api.workspace_id) and discover.since";
}

/*
 * --drain: whether src is to be swept again because runs it listed are
 * still in motion.  Their fetches wait for a sweep that shows them changed
 * (or discover.recheck_active), so the drain sweeps again at the pace of
 * the active poll: sync.active_poll_min, doubling up to
 * sync.active_poll_max while the sweeps change nothing.
 */
static bool
sweep_again(struct source *src, PGconn *conn, bool changed)
{
	const struct config *cfg = src->sw->cfg;
	char err[DB_ERR_SIZE];
	bool moving;
	double delay;

	if (discover_in_motion(conn, src->workflow_id, &moving, err, sizeof(err)) < 0) {
		/* sweeping once more costs a list page; not sweeping could leave runs to discover.recheck_active */
		log_warning("could not ask whether runs of source \"%s\" are in motion: %s", src->name, err);
		moving = true;
	}
	if (!moving)
		return false;
	src->calm = changed ? 0 : src->calm + 1;
	delay = schedule_active_delay(cfg->sync.active_poll_min, cfg->sync.active_poll_max, src->calm);
	src->next_at = now_mono() + delay;
	if (!src->resweeping)
		log_info("runs listed by source \"%s\" are in motion: it is swept again while they move "
			 "(every %.1fs to %.1fs)", src->name, cfg->sync.active_poll_min, cfg->sync.active_poll_max);
	src->resweeping = true;
	return true;
}

/* The whole sweep is over: say what it found, and when the next one is. */
static void
sweep_done(struct source *src, PGconn *conn)
{
	struct sweeper *s = src->sw;
	bool changed = src->enqueued + src->made_due > 0;
	bool again_before = src->resweeping;

	src->running = false;
	src->leased = false;
	src->attempts = 0;
	forget_tokens(src);
	if (s->mode == SWEEP_DAEMON)
		src->next_at = now_mono() + (src->deferred > 0 ? fmin(s->cfg->discover.interval, DEFERRED_RETRY) :
					     s->cfg->discover.interval);
	else if (s->mode != SWEEP_DRAIN || !sweep_again(src, conn, changed))
		src->done_once = true;
	/* a --drain's sweeps again that found nothing are as quiet as a daemon's */
	log_msg(changed || src->malformed > 0 || (s->mode != SWEEP_DAEMON && !again_before) ? LOG_LEVEL_INFO :
		LOG_LEVEL_DEBUG,
		"swept source \"%s\": listed %lld, enqueued %lld, made due %lld, malformed %lld, deferred %lld "
		"(%lld page%s)", src->name, src->listed, src->enqueued, src->made_due, src->malformed, src->deferred,
		src->pages, src->pages == 1 ? "" : "s");
	/* each sweep again says what it changed itself (a one-time sweep's failed tries count in its line) */
	if (src->resweeping)
		src->enqueued = src->made_due = 0;
	if (src->listed > 0)
		src->ever_listed = true;
	if (!src->ever_listed && (src->silent_warned == 0 || now_mono() - src->silent_warned >= SILENT_WARN_EVERY)) {
		src->silent_warned = now_mono();
		log_warning("source \"%s\" has never listed a run: %s", src->name, sweep_silent_hint(src->name));
	}
}

/* A finished list request; see sweep.h. */
enum sweep_outcome
sweep_take(struct sweeper *s, PGconn *conn, struct fetcher *f, const struct fetch_result *r)
{
	struct source *src = r->data;
	struct list_page *page = NULL;
	struct apply_counts counts;
	struct sweep_end end;
	struct malformed_note bad;
	char why[NORMALIZE_ERR_SIZE + DB_ERR_SIZE], note[512];
	char err[DB_ERR_SIZE];
	enum sweep_outcome out = SWEEP_OK;
	size_t cut;
	bool last;
	int rc;

	src->running = false;
	/* answered pages only: a quick 429 or 5xx says nothing of how fast pages come */
	if (r->http_status >= 200 && r->http_status < 300 && r->seconds >= 0)
		s->page_seconds = s->page_seconds > 0 ? 0.7 * s->page_seconds + 0.3 * r->seconds : r->seconds;
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
	/* a malformed summary never fails the page: it is logged once, counted, and the sweep goes on */
	report_malformed(src, page, note, sizeof(note));
	bad.count = (long long)page->nmalformed;
	bad.last = note;
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
		/* a summary without a usable time moves nothing */
		if (page->runs[i].updated_at == NULL)
			continue;
		if (!src->has_high || page->runs[i].updated_us > src->high_us)
			src->high_us = page->runs[i].updated_us;
		src->has_high = true;
	}
	end.has_new_high = src->has_high;
	end.new_high_us = src->high_us;
	/* the mark stays at or below every run a held row kept from its change (this page's: discover_apply()) */
	if (src->deferred_untimed)
		end.has_new_high = false;
	else if (src->deferred > 0 && src->deferred_min_us < end.new_high_us)
		end.new_high_us = src->deferred_min_us;
	end.deferred_interval = fmin(s->cfg->discover.interval, DEFERRED_RETRY);
	end.runs_listed = src->listed + (long long)cut;
	end.malformed = src->malformed;
	end.interval = src->deferred > 0 ? end.deferred_interval : s->cfg->discover.interval;
	if (conn == NULL) {
		sweep_fail(src, NULL, true, -1, "the database is unreachable");
		goto out;
	}
	rc = discover_apply(conn, persistent(s) ? src->name : NULL, s->owner, s->cfg->sync.lease, page, cut,
			    s->mode == SWEEP_ENQUEUE, &bad, last ? &end : NULL, &counts, err, sizeof(err));
	if (rc < 0 && !db_broken(conn) && src->page_tries + 1 < PAGE_TRIES) {
		/* a page, not the sweep: read it again (its token) and apply it then; what it counted is undone */
		src->page_tries++;
		log_warning("could not apply page %lld of source \"%s\" (try %d of %d, reading it again): %s",
			    src->pages, src->name, src->page_tries, PAGE_TRIES, err);
		src->pages--;
		src->malformed -= (long long)page->nmalformed;
		/* counted for the metric in this same call (report_malformed()): the page read again counts them */
		s->malformed_unreported -= s->malformed_unreported < page->nmalformed ? s->malformed_unreported :
					   page->nmalformed;
		if (!last) {
			free(src->tokens[--src->ntokens]);	/* its next token, which it will give again */
		}
		if (submit_page(src, f, src->token) < 0)
			sweep_fail(src, conn, true, -1, "out of memory");
		goto out;
	}
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
	if (counts.deferred > 0) {
		log_info("deferred %lld run%s of source \"%s\" whose queue row another session holds (\"%s\"%s): "
			 "the next sweep reads %s again", counts.deferred, counts.deferred == 1 ? "" : "s", src->name,
			 counts.first_deferred, counts.deferred > 1 ? " and others" : "",
			 counts.deferred == 1 ? "it" : "them");
		if (src->deferred == 0 || counts.deferred_min_us < src->deferred_min_us)
			src->deferred_min_us = counts.deferred_min_us;
		src->deferred += counts.deferred;
		src->deferred_untimed |= counts.deferred_untimed;
	}
	src->listed += (long long)cut;
	src->enqueued += s->mode == SWEEP_ENQUEUE ? counts.enqueued + counts.made_due : counts.enqueued;
	if (s->mode == SWEEP_ENQUEUE)
		src->unchanged += counts.total - counts.enqueued - counts.made_due - counts.deferred;
	src->made_due += counts.made_due;
	if (last) {
		sweep_done(src, conn);
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
	long long enqueued = 0, unchanged = 0;	/* counted on success only */
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

		/*
		 * Its demand: what the fetcher holds, and the pages it has yet to
		 * list.  No transfer moves during the renewal (no wait hook here),
		 * so a lower share set right after it is set before any request.
		 */
		if (budget_renew_due(b, now))
			budget_set_demand(b, (long)fetch_busy(f) + sweep_demand(s, now, 0), now);
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
	for (size_t i = 0; i < s->nsrc; i++) {
		enqueued += s->src[i]->enqueued;
		unchanged += s->src[i]->unchanged;
	}
	if (mode == SWEEP_ENQUEUE && unchanged > 0) {
		printf("enqueued %lld run%s; %lld done and unchanged since fetched, not fetched again\n", enqueued,
		       enqueued == 1 ? "" : "s", unchanged);
	} else if (mode == SWEEP_ENQUEUE) {
		printf("enqueued %lld run%s\n", enqueued, enqueued == 1 ? "" : "s");
	} else {
		for (size_t i = 0; i < s->nsrc; i++) {
			const struct source *src = s->src[i];

			char bad[48] = "";

			if (src->malformed > 0)
				snprintf(bad, sizeof(bad), ", malformed %lld", src->malformed);
			printf("source \"%s\": listed %lld, enqueued %lld, made due %lld%s%s%s%s\n", src->name,
			       src->listed, src->enqueued, src->made_due, bad, src->gave_up ? " (failed)" : "",
			       src->ever_listed || src->gave_up ? "" : "; it has never listed a run: ",
			       src->ever_listed || src->gave_up ? "" : sweep_silent_hint(src->name));
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
