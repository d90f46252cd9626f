/* Fetches workflow runs over HTTP: one curl multi handle, a concurrency cap and a request rate limit. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "fetch.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/*
 * Added to the one-second window: the server sees requests later than they
 * leave, and not all equally late (a new connection, a busy host).
 */
#define WINDOW_MARGIN 0.025

/* The request headers, shared by the transfers started with them: a reload makes new ones. */
struct headers {
	struct curl_slist *list;	/* holds the Authorization header: wiped when freed */
	int refs;
};

struct job {
	struct job *next;
	struct headers *headers;
	CURL *easy;
	struct fetcher *f;
	struct fetch_result *res;
	char *path;		/* a list request's path and query; NULL for a run */
	double sent_at;
	size_t slot;		/* its entry in fetcher.sent, when it has one */
	bool has_slot;
	bool held;		/* stopped before it left: goes back to the queue */
	char errbuf[CURL_ERROR_SIZE];
};

/* The longest wait a server's header can impose: anything longer is a mistake (or a unit we misread). */
#define MAX_SERVER_WAIT 3600.0

/* Requests per second the window can track: the highest api.rate_limit accepted. */
#define MAX_WINDOW 10000

/* After a 429 the rate is halved; each later answer gives back this share of the configured rate. */
#define RATE_RECOVERY 0.02
#define RATE_FLOOR 0.05

/*
 * Easy handles of finished transfers kept for the next ones: a new handle
 * costs its allocations (a few kilobytes of state, the receive buffer) and
 * their first touch, for every request.  curl_easy_reset() makes a kept
 * handle what a new one is, apart from the caches it keeps (connections
 * live in the multi handle anyway).
 */
#define IDLE_MAX 64

/* curl's receive buffer per transfer (its default is 16 KiB) */
#define RECV_BUFFER 131072L

struct fetcher {
	CURLM *multi;
	struct headers *headers;	/* for requests started from now on */
	char *base_url;
	long timeout_ms;
	size_t max_body;
	size_t max_in_flight;
	size_t room;			/* fewer in flight than that: the memory for their bodies (fetch_set_room()) */
	double rate;			/* requests per second, all together, as configured */
	double factor;			/* share of rate in use: lowered by 429s, recovering */
	double hold_until;		/* no request before this (the server asked to wait) */
	double throttled_at;		/* the last halving: 429s of one burst halve once */
	double share;			/* this daemon's share of rate (see budget.h), INFINITY: all of it */
	double share_until;		/* no request from this time on until the share is renewed */
	double share_margin;		/* a larger WINDOW_MARGIN for a shared budget */

	struct job *queued, *queued_tail;
	size_t nqueued;
	struct job *inflight;		/* a list, to cancel them at shutdown */
	size_t ninflight;
	struct job *unstarted;		/* could not be started: reported as results */
	CURL *idle[IDLE_MAX];		/* handles to reuse, reset */
	size_t nidle;

	/*
	 * Send times of the latest requests, a ring: the one floor(rate)
	 * places back must be a second old before another may go, so no
	 * one-second interval ever holds more than rate requests.  A time is
	 * that of the request really leaving (CURLOPT_PREREQFUNCTION), INFINITY
	 * until then: a request held up in connecting cannot bunch with later
	 * ones.  Sends are also spaced 1/rate apart so they do not come in
	 * bursts.
	 */
	double sent[MAX_WINDOW];
	size_t sent_pos;
	double last_sent;
};

/* Requests per second allowed now. */
static double
current_rate(const struct fetcher *f)
{
	double rate = fmin(f->rate, f->share);

	if (!(rate > 0))
		return 0;
	return fmin(rate, fmax(RATE_FLOOR, rate * f->factor));
}

/* The window's rule, apart so that it can be tested; see fetch.h. */
double
fetch_send_after(const double *sent, size_t n, size_t pos, double rate, double last_start, double hold_until)
{
	size_t k = rate >= 1 ? (size_t)floor(rate) : 1;
	double t = hold_until;

	if (k > n)
		k = n;
	/* the request k back must be a second old: no one-second window holds more than rate */
	t = fmax(t, sent[(pos + n - k) % n] + 1.0 + WINDOW_MARGIN);
	if (rate >= 1) {
		/* spread out: counted from starts, so that new connections are made side by side */
		t = fmax(t, last_start + 1.0 / rate);
	} else {
		/*
		 * Slower than one a second: the spacing is the limit itself, so it
		 * counts from when the last request really left (INFINITY while it
		 * is still connecting), not from when it was started.
		 */
		t = fmax(t, sent[(pos + n - 1) % n] + 1.0 / rate);
	}
	return t;
}

/* Earliest monotonic time the next request may be sent. */
static double
next_send_time(const struct fetcher *f)
{
	double rate = current_rate(f);
	double t;

	if (!(rate > 0))
		return INFINITY;
	t = fetch_send_after(f->sent, MAX_WINDOW, f->sent_pos, rate, f->last_sent, f->hold_until);
	if (f->share_margin > WINDOW_MARGIN) {
		/* a shared budget: the window is longer by the share's margin */
		size_t k = rate >= 1 ? (size_t)fmin(floor(rate), MAX_WINDOW) : 1;

		t = fmax(t, f->sent[(f->sent_pos + MAX_WINDOW - k) % MAX_WINDOW] + 1.0 + f->share_margin);
	}
	return t < f->share_until ? t : INFINITY;
}

static void
note_start(struct fetcher *f, struct job *j, double t)
{
	f->last_sent = t;
	j->slot = f->sent_pos;
	j->has_slot = true;
	f->sent[f->sent_pos] = INFINITY;
	f->sent_pos = (f->sent_pos + 1) % MAX_WINDOW;
}

/* The request of j left now (or never will): its window entry gets a time. */
static void
note_sent(struct job *j)
{
	if (j->has_slot) {
		j->f->sent[j->slot] = now_mono();
		j->has_slot = false;
	}
}

#if LIBCURL_VERSION_NUM >= 0x075000
/*
 * Whether the request of j may leave now.  It was let start under the share
 * of that moment, but leaves only when curl gets to it, which can be a
 * while later on a busy host: meanwhile the share may have ended (its
 * renewal failed) or shrunk (another daemon joined), and the others count
 * on that from then on.
 */
static bool
may_leave(const struct fetcher *f, const struct job *j, double now)
{
	double rate = current_rate(f);
	double window = 1.0 + fmax(WINDOW_MARGIN, f->share_margin);
	size_t k;

	if (now >= f->share_until || !(rate > 0))
		return false;
	/* as fetch_send_after(): below one a second, the one before must have left 1/rate ago */
	k = rate >= 1 ? (size_t)floor(rate) : 1;
	if (k >= MAX_WINDOW)
		return true;
	return f->sent[(j->slot + MAX_WINDOW - k) % MAX_WINDOW] + (rate >= 1 ? window : fmax(window, 1.0 / rate)) <= now;
}

static int
on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port, int conn_local_port)
{
	struct job *j = arg;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	if (j->has_slot && !may_leave(j->f, j, now_mono())) {
		j->held = true;
		return CURL_PREREQFUNC_ABORT;
	}
	note_sent(arg);
	return CURL_PREREQFUNC_OK;
}
#endif

static void
wipe_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p != NULL; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

static void
headers_put(struct headers *h)
{
	if (h != NULL && --h->refs == 0) {
		wipe_headers(h->list);
		free(h);
	}
}

/* Append "name: value" to the list; NULL (list freed) when out of memory. */
static struct curl_slist *
add_header(struct curl_slist *h, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = malloc(n);
	struct curl_slist *r;

	if (line == NULL) {
		wipe_headers(h);
		return NULL;
	}
	snprintf(line, n, "%s: %s", name, value);
	r = curl_slist_append(h, line);
	explicit_bzero(line, n);
	free(line);
	if (r == NULL)
		wipe_headers(h);
	return r;
}

/* The request headers for cfg and key; NULL when out of memory (or the key is absurdly long). */
static struct curl_slist *
make_headers(const struct config *cfg, const char *api_key)
{
	char bearer[4200];
	struct curl_slist *h;

	if (strlen(api_key) > sizeof(bearer) - 16)
		return NULL;
	snprintf(bearer, sizeof(bearer), "Bearer %s", api_key);
	h = add_header(NULL, "Authorization", bearer);
	explicit_bzero(bearer, sizeof(bearer));
	if (h != NULL)
		h = add_header(h, "x-extend-api-version", cfg->api.version);
	if (h != NULL && cfg->api.workspace_id[0] != '\0')
		h = add_header(h, "x-extend-workspace-id", cfg->api.workspace_id);
	if (h != NULL)
		h = add_header(h, "Accept", "application/json");
	return h;
}

/* The request headers for cfg and key; see fetch.h. */
struct curl_slist *
fetch_headers_new(const struct config *cfg, const char *api_key)
{
	return make_headers(cfg, api_key);
}

/* Free headers made by fetch_headers_new(), wiping the key; see fetch.h. */
void
fetch_headers_free(struct curl_slist *h)
{
	wipe_headers(h);
}

/* Timeouts, body cap, TLS verification, no redirects, http(s) only: every request's settings; see fetch.h. */
void
fetch_easy_defaults(CURL *e, long timeout_ms, long long max_body)
{
	curl_easy_setopt(e, CURLOPT_USERAGENT, "extend-syncd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 30000 ? timeout_ms : 30000L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
#endif
}

/* Apply cfg and key to f, for requests sent from now on; see fetch.h. */
int
fetch_configure(struct fetcher *f, const struct config *cfg, const char *api_key, char *err, size_t errlen)
{
	struct headers *h = calloc(1, sizeof(*h));
	char *url = strdup(cfg->api.base_url);
	size_t n;

	if (h != NULL)
		h->list = make_headers(cfg, api_key);
	if (h == NULL || h->list == NULL || url == NULL) {
		/* the list may be made when the URL's copy failed: it holds the key */
		if (h != NULL)
			wipe_headers(h->list);
		free(h);
		free(url);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->refs = 1;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	free(f->base_url);
	f->base_url = url;
	/* transfers in flight keep the old list until they end */
	headers_put(f->headers);
	f->headers = h;

	f->timeout_ms = (long)(cfg->api.timeout * 1000.0);
	f->max_body = (size_t)cfg->api.max_response_size;
	f->max_in_flight = (size_t)cfg->api.max_in_flight;
	f->rate = cfg->api.rate_limit;
	/* one connection per concurrent transfer to the one host, reused between them */
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->max_in_flight);
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->max_in_flight);
	return 0;
}

/* A fetcher for cfg's API settings; see fetch.h. */
struct fetcher *
fetch_new(const struct config *cfg, const char *api_key, char *err, size_t errlen)
{
	struct fetcher *f = calloc(1, sizeof(*f));

	if (f != NULL)
		f->multi = curl_multi_init();
	if (f == NULL || f->multi == NULL) {
		snprintf(err, errlen, "out of memory");
		fetch_free(f);
		return NULL;
	}
	f->factor = 1.0;
	f->last_sent = -1e9;
	f->throttled_at = -1e9;
	f->share = INFINITY;
	f->share_until = INFINITY;
	f->room = SIZE_MAX;
	for (size_t i = 0; i < MAX_WINDOW; i++)
		f->sent[i] = -1e9;
	if (fetch_configure(f, cfg, api_key, err, errlen) < 0) {
		fetch_free(f);
		return NULL;
	}
	return f;
}

/* A 429: slow every request down; see fetch.h. */
void
fetch_throttle(struct fetcher *f, double retry_after)
{
	double now = now_mono();

	if (now - f->throttled_at >= 1.0) {
		f->factor = fmax(RATE_FLOOR / f->rate, f->factor / 2);
		f->throttled_at = now;
	}
	f->hold_until = fmax(f->hold_until, now + fmax(retry_after, current_rate(f) > 0 ? 1.0 / current_rate(f) : 0));
}

/* This daemon's share of the budget; see fetch.h. */
void
fetch_set_share(struct fetcher *f, double rate, double margin, double until)
{
	f->share = rate;
	f->share_margin = margin;
	f->share_until = until;
}

/* At most room transfers in flight from now on; see fetch.h. */
void
fetch_set_room(struct fetcher *f, size_t room)
{
	f->room = room;
}

/* Transfers started and not taken yet; see fetch.h. */
size_t
fetch_in_flight(const struct fetcher *f)
{
	return f->ninflight;
}

/* When the latest request left; see fetch.h. */
double
fetch_last_send(const struct fetcher *f)
{
	double t = -INFINITY;

	for (size_t i = 0; i < MAX_WINDOW; i++) {
		if (isfinite(f->sent[i]))
			t = fmax(t, f->sent[i]);
	}
	return t;
}

/* The rate in use now, requests per second; see fetch.h. */
double
fetch_current_rate(const struct fetcher *f)
{
	return now_mono() < f->share_until ? current_rate(f) : 0;
}

/* Seconds the server still holds every request back; see fetch.h. */
double
fetch_hold_remaining(const struct fetcher *f)
{
	return fmax(0, f->hold_until - now_mono());
}

void
fetch_result_free(struct fetch_result *r)
{
	if (r == NULL)
		return;
	free(r->run_id);
	buf_free(&r->body);
	free(r);
}

/* A handle out of the multi, done with: kept for another transfer, or cleaned up. */
static void
easy_put(struct fetcher *f, CURL *e)
{
	if (e == NULL)
		return;
	if (f->nidle == IDLE_MAX) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_reset(e);
	f->idle[f->nidle++] = e;
}

/* A handle in its default state: a kept one, or a new one; NULL when out of memory. */
static CURL *
easy_get(struct fetcher *f)
{
	if (f->nidle > 0)
		return f->idle[--f->nidle];
	return curl_easy_init();
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	note_sent(j);
	easy_put(j->f, j->easy);
	headers_put(j->headers);
	fetch_result_free(j->res);
	free(j->path);
	free(j);
}

void
fetch_free(struct fetcher *f)
{
	if (f == NULL)
		return;
	fetch_cancel_all(f, NULL, NULL);
	while (f->nidle > 0)
		curl_easy_cleanup(f->idle[--f->nidle]);
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	headers_put(f->headers);
	free(f->base_url);
	free(f);
}

/* Queue a request for a run, or (run_id NULL) for path. */
static int
submit(struct fetcher *f, const char *run_id, const char *path, void *data)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	j->f = f;
	j->res = calloc(1, sizeof(*j->res));
	if (j->res == NULL) {
		free(j);
		return -ENOMEM;
	}
	j->res->kind = run_id != NULL ? FETCH_RUN : FETCH_LIST;
	if (run_id != NULL)
		j->res->run_id = strdup(run_id);
	else
		j->path = strdup(path);
	if (j->res->run_id == NULL && j->path == NULL) {
		job_free(j);
		return -ENOMEM;
	}
	j->res->data = data;
	j->res->retry_after = -1;
	buf_init(&j->res->body, f->max_body);
	if (f->queued_tail != NULL)
		f->queued_tail->next = j;
	else
		f->queued = j;
	f->queued_tail = j;
	f->nqueued++;
	return 0;
}

/* Queue a request for a run; see fetch.h. */
int
fetch_submit(struct fetcher *f, const char *run_id, void *data)
{
	return submit(f, run_id, NULL, data);
}

/* Queue a list request; see fetch.h. */
int
fetch_submit_list(struct fetcher *f, const char *path_query, void *data)
{
	return submit(f, NULL, path_query, data);
}

size_t
fetch_busy(const struct fetcher *f)
{
	size_t n = f->nqueued + f->ninflight;

	for (const struct job *j = f->unstarted; j != NULL; j = j->next)
		n++;
	return n;
}

/*
 * Before the body's first piece: room for all of it at once when the server
 * says how long it is, rather than doubling from a few hundred bytes (a copy
 * of what came so far each time).  Only a hint: a length past the cap is
 * left to the cap to refuse, a body longer than said (decompressed) grows as
 * before, and memory refused here is asked for again by the append.
 */
static void
reserve_body(struct job *j, size_t first)
{
	curl_off_t len = -1;

	if (curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) != CURLE_OK || len <= 0 ||
	    (curl_off_t)first > len || (uint64_t)len > j->res->body.max)
		return;
	(void)!buf_reserve(&j->res->body, (size_t)len);	/* refused: the append asks again */
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;
	size_t n = size * nmemb;
	int rc;

	if (j->res->body.cap == 0)
		reserve_body(j, n);
	rc = buf_append(&j->res->body, p, n);
	if (rc == -EFBIG)
		j->res->too_big = true;
	if (rc != 0)
		return 0;	/* aborts the transfer with CURLE_WRITE_ERROR */
	return n;
}

/* Seconds to wait from a Retry-After, retry-after-ms or X-RateLimit-Reset header, or -1. */
static double
parse_retry_header(const char *name, size_t nlen, const char *value)
{
	char *end;
	double v;

	if (nlen == 14 && strncasecmp(name, "retry-after-ms", nlen) == 0) {
		v = strtod(value, &end);
		return end != value && v >= 0 ? v / 1000.0 : -1;
	}
	if (nlen == 11 && strncasecmp(name, "retry-after", nlen) == 0) {
		v = strtod(value, &end);
		if (end != value && v >= 0)
			return v;
		{
			time_t t = curl_getdate(value, NULL);

			return t > 0 ? fmax(0, difftime(t, time(NULL))) : -1;
		}
	}
	if (nlen == 17 && strncasecmp(name, "x-ratelimit-reset", nlen) == 0) {
		v = strtod(value, &end);
		if (end == value || v < 0)
			return -1;
		/* an epoch time in milliseconds or seconds, or a number of seconds */
		if (v > 1e12)
			v /= 1000.0;
		return v > 1e9 ? fmax(0, v - (double)time(NULL)) : v;
	}
	return -1;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;
	size_t n = size * nmemb;
	char value[128];
	const char *colon = memchr(p, ':', n);
	size_t vlen;
	double s;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		j->res->retry_after = -1;	/* a new response begins */
	if (colon == NULL)
		return n;
	vlen = n - (size_t)(colon + 1 - p);
	if (vlen >= sizeof(value))
		return n;
	memcpy(value, colon + 1, vlen);
	value[vlen] = '\0';
	s = parse_retry_header(p, (size_t)(colon - p), value + strspn(value, " \t"));
	if (s >= 0)
		j->res->retry_after = fmin(fmax(j->res->retry_after, s), MAX_SERVER_WAIT);
	return n;
}

/* Build and start the transfer of j; returns 0 or -1 with the result's error set. */
static int
job_start(struct fetcher *f, struct job *j, double now)
{
	char url[8192];
	CURL *e = easy_get(f);

	if (e == NULL)
		goto fail;
	if (j->path != NULL)
		snprintf(url, sizeof(url), "%s%s", f->base_url, j->path);
	else
		snprintf(url, sizeof(url), "%s/workflow_runs/%s", f->base_url, j->res->run_id);
	curl_easy_setopt(e, CURLOPT_URL, url);
	j->headers = f->headers;
	j->headers->refs++;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers->list);
	fetch_easy_defaults(e, f->timeout_ms, f->max_body);
	/* a run's body in one or two reads from the socket, not one per 16 KiB (and a poll before each) */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
#if LIBCURL_VERSION_NUM >= 0x075000
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
#endif
	j->easy = e;
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
		goto fail;
	j->sent_at = now;
	note_start(f, j, now);
#if LIBCURL_VERSION_NUM < 0x075000
	note_sent(j);
#endif
	j->next = f->inflight;
	f->inflight = j;
	f->ninflight++;
	return 0;
fail:
	snprintf(j->res->error, sizeof(j->res->error), "could not start the request (out of memory)");
	return -1;
}

/* Move queued jobs into the multi while slots and the rate allow; jobs that cannot start finish at once. */
static void
start_ready(struct fetcher *f)
{
	while (f->queued != NULL && f->ninflight < f->max_in_flight && f->ninflight < f->room) {
		double now = now_mono();
		struct job *j;

		if (now < next_send_time(f) || now >= f->share_until)
			break;
		j = f->queued;
		f->queued = j->next;
		if (f->queued == NULL)
			f->queued_tail = NULL;
		f->nqueued--;
		j->next = NULL;
		if (job_start(f, j, now) < 0) {
			j->next = f->unstarted;
			f->unstarted = j;
		}
	}
}

/* Wait, and with start: start what may start before and after. */
static int
drive(struct fetcher *f, struct curl_waitfd *extra, unsigned nextra, int timeout_ms, bool start, char *err,
      size_t errlen)
{
	CURLMcode mc;
	int running;

	if (start) {
		start_ready(f);
		if (f->unstarted != NULL)
			timeout_ms = 0;
	}
	if (start && f->queued != NULL && f->ninflight < f->max_in_flight && f->ninflight < f->room) {
		double wait = next_send_time(f) - now_mono();

		/* an unsent request holds the window: curl's activity wakes us then */
		if (isfinite(wait) && wait * 1000.0 < timeout_ms)
			timeout_ms = wait > 0 ? (int)ceil(wait * 1000.0) : 0;
	}
	mc = curl_multi_poll(f->multi, extra, nextra, timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(f->multi, &running);
	if (mc != CURLM_OK) {
		snprintf(err, errlen, "curl: %s", curl_multi_strerror(mc));
		return -1;
	}
	if (start)
		start_ready(f);
	return 0;
}

/* Start what may start and wait; see fetch.h. */
int
fetch_wait(struct fetcher *f, struct curl_waitfd *extra, unsigned nextra, int timeout_ms, char *err, size_t errlen)
{
	return drive(f, extra, nextra, timeout_ms, true, err, errlen);
}

/* Drive the transfers in flight, start none; see fetch.h. */
int
fetch_drive(struct fetcher *f, struct curl_waitfd *extra, unsigned nextra, int timeout_ms, char *err, size_t errlen)
{
	return drive(f, extra, nextra, timeout_ms, false, err, errlen);
}

static void
unlink_inflight(struct fetcher *f, struct job *j)
{
	for (struct job **p = &f->inflight; *p != NULL; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			f->ninflight--;
			return;
		}
	}
}

/* A request held back before it left: it never counted; first in the queue again, as new. */
static void
requeue(struct fetcher *f, struct job *j)
{
	curl_multi_remove_handle(f->multi, j->easy);
	unlink_inflight(f, j);
	easy_put(f, j->easy);
	j->easy = NULL;
	headers_put(j->headers);
	j->headers = NULL;
	if (j->has_slot)
		f->sent[j->slot] = -1e9;
	j->has_slot = false;
	j->held = false;
	buf_reset(&j->res->body);
	j->res->retry_after = -1;
	j->res->http_status = 0;
	j->errbuf[0] = '\0';
	j->next = f->queued;
	f->queued = j;
	if (f->queued_tail == NULL)
		f->queued_tail = j;
	f->nqueued++;
}

/* One finished result, or NULL; see fetch.h. */
struct fetch_result *
fetch_next_result(struct fetcher *f)
{
	CURLMsg *msg;
	int left;

	if (f->unstarted != NULL) {
		struct job *j = f->unstarted;
		struct fetch_result *r = j->res;

		f->unstarted = j->next;
		j->res = NULL;
		job_free(j);
		return r;
	}
	for (;;) {
		struct fetch_result *r;
		struct job *j = NULL;
		CURLcode code;

		msg = curl_multi_info_read(f->multi, &left);
		if (msg == NULL)
			return NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* copy out of msg before the handle goes: msg dies with it */
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (j->held) {
			requeue(f, j);
			continue;
		}
		r = j->res;
		note_sent(j);
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
		r->seconds = now_mono() - j->sent_at;
		if (code == CURLE_FILESIZE_EXCEEDED)
			r->too_big = true;
		if (r->too_big) {
			snprintf(r->error, sizeof(r->error), "response body larger than api.max_response_size (%zu bytes)",
				 f->max_body);
		} else if (code != CURLE_OK) {
			snprintf(r->error, sizeof(r->error), "%s",
				 j->errbuf[0] != '\0' ? j->errbuf : curl_easy_strerror(code));
			/* a transfer cut short has no usable status */
			if (r->http_status == 200)
				r->http_status = 0;
		}
		if (r->http_status != 429 && r->http_status != 0)
			f->factor = fmin(1.0, f->factor + RATE_RECOVERY);
		curl_multi_remove_handle(f->multi, j->easy);
		unlink_inflight(f, j);
		j->res = NULL;
		job_free(j);
		return r;
	}
}

/* Take back queued requests; see fetch.h. */
void
fetch_cancel_queued(struct fetcher *f, void (*fn)(const char *run_id, void *data, void *arg), void *arg)
{
	while (f->queued != NULL) {
		struct job *j = f->queued;

		f->queued = j->next;
		if (fn != NULL)
			fn(j->res->run_id, j->res->data, arg);
		job_free(j);
	}
	f->queued_tail = NULL;
	f->nqueued = 0;
}

/* Abort everything; see fetch.h. */
void
fetch_cancel_all(struct fetcher *f, void (*fn)(const char *run_id, void *data, void *arg), void *arg)
{
	fetch_cancel_queued(f, fn, arg);
	while (f->unstarted != NULL) {
		struct job *j = f->unstarted;

		f->unstarted = j->next;
		if (fn != NULL)
			fn(j->res->run_id, j->res->data, arg);
		job_free(j);
	}
	while (f->inflight != NULL) {
		struct job *j = f->inflight;

		f->inflight = j->next;
		curl_multi_remove_handle(f->multi, j->easy);
		if (fn != NULL)
			fn(j->res->run_id, j->res->data, arg);
		job_free(j);
	}
	f->ninflight = 0;
}
